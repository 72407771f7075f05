"""ImageNet16-120 as NB201 builds it (Dong & Yang, ICLR 2020, Sec. 2.2).

Source: the 16x16 down-sampled ImageNet of Chrabaszcz et al. (2017), pickled dicts with ``data``
(N, 768) uint8 (3 x 16 x 16 planar RGB) and 1-based ``labels`` 1..1000. Like xautodl's
``ImageNet16(..., use_num_of_class_only=120)``, only labels 1..120 are kept, shifted to 0..119.
NB201's own split has 151,700 training and 6,000 ``val_data`` images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.data.cifar import RawDataset, read_batch
from benchmark.paths import require_file

IMAGENET16_MEAN = tuple(v / 255 for v in (122.68, 116.66, 104.01))
IMAGENET16_STD = tuple(v / 255 for v in (63.22, 61.26, 65.09))
NUM_CLASSES = 120


def how_to_get(folder: Path) -> str:
    """Where to get the ImageNet16 pickles and where to put them (no public direct download)."""
    return (
        "there is no public direct download: get the 16x16 Downsampled ImageNet (Imagenet16_train and "
        "Imagenet16_val from image-net.org, account needed) or the NB201 authors' data folder linked from "
        f"the NAS-Bench-201 README, and copy train_data_batch_1..10 and val_data to {folder}/"
    )


def _keep_first_classes(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    keep = (y >= 1) & (y <= NUM_CLASSES)
    return torch.from_numpy(x[keep]), torch.from_numpy(y[keep] - 1)


def load_imagenet16_120(root: Path) -> RawDataset:
    """ImageNet16-120 from ``root/ImageNet16``: every ``train_data_batch_k`` present (at least the first)
    and ``val_data`` (NB201's test pool)."""
    folder = Path(root) / "ImageNet16"
    fix = how_to_get(folder)
    train = [folder / f"train_data_batch_{k}" for k in range(1, 11)]
    require_file(train[0], "ImageNet16 train_data_batch_1", fix)
    parts = [read_batch(p, "labels", 16, (1, 1000), fix) for p in train if p.is_file()]
    train_x, train_y = _keep_first_classes(
        np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])
    )
    test_x, test_y = _keep_first_classes(*read_batch(folder / "val_data", "labels", 16, (1, 1000), fix))
    return RawDataset(
        "imagenet16-120", train_x, train_y, test_x, test_y, NUM_CLASSES, IMAGENET16_MEAN, IMAGENET16_STD
    )
