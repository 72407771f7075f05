"""CIFAR-10 and CIFAR-100 from the official python-pickle files (Krizhevsky, 2009).

Image counts are taken from the arrays, never assumed: a partial copy (fewer training batches, a short
test batch) loads as it is. Normalisation constants are the ones NB201 trains with
(``xautodl/datasets/get_dataset_with_transform.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.errors import NasBenchError
from benchmark.paths import require_file
from benchmark.plain_pickle import NotPlainData, load_plain

CIFAR10_MEAN = tuple(v / 255 for v in (125.3, 123.0, 113.9))
CIFAR10_STD = tuple(v / 255 for v in (63.0, 62.1, 66.7))
CIFAR100_MEAN = tuple(v / 255 for v in (129.3, 124.1, 112.4))
CIFAR100_STD = tuple(v / 255 for v in (68.2, 65.4, 70.4))


@dataclass(frozen=True)
class RawDataset:
    """An official train/test pair: uint8 images N x 3 x H x W, int64 labels 0..num_classes-1."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def read_batch(
    path: Path, label_key: str, side: int, labels_in: tuple[int, int], fix: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickled batch dict (``data`` (N, 3*side*side) uint8 planar RGB, labels) as NCHW + labels.

    A missing, truncated or malformed file, or a label outside ``labels_in`` (inclusive), raises
    NasBenchError naming the file and ``fix``.
    """
    require_file(path, path.name, fix)
    try:
        with open(path, "rb") as f:
            entry = load_plain(f, encoding="latin1")
        data, labels = entry["data"], np.asarray(entry[label_key], dtype=np.int64)
    except NotPlainData as e:
        raise NasBenchError(f"{path} is not a data batch: {e}", fix) from None
    except Exception as e:  # any unpickling failure means the file is damaged
        raise NasBenchError(f"{path} is truncated or corrupt ({type(e).__name__}: {e})", fix) from None
    width = 3 * side * side
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == width and labels.shape == (len(data),)):
        raise NasBenchError(
            f"{path} does not hold (N, {width}) uint8 data with N labels "
            f"(got data {getattr(data, 'shape', None)}, {labels.size} labels)",
            fix,
        )
    lo, hi = labels_in
    if len(labels) and (labels.min() < lo or labels.max() > hi):
        raise NasBenchError(f"{path} has labels outside {lo}..{hi}", fix)
    return data.reshape(-1, 3, side, side), labels


def _load_pair(
    name: str, train_files: list[Path], test_file: Path, label_key: str, num_classes: int,
    mean: tuple[float, ...], std: tuple[float, ...], fix: str,
) -> RawDataset:
    labels_in = (0, num_classes - 1)
    train = [read_batch(p, label_key, 32, labels_in, fix) for p in train_files]
    test_x, test_y = read_batch(test_file, label_key, 32, labels_in, fix)
    return RawDataset(
        name,
        torch.from_numpy(np.concatenate([x for x, _ in train])),
        torch.from_numpy(np.concatenate([y for _, y in train])),
        torch.from_numpy(test_x.copy()),
        torch.from_numpy(test_y),
        num_classes, mean, std,
    )


def load_cifar10(root: Path) -> RawDataset:
    """CIFAR-10 from ``root/cifar10``: every ``data_batch_k`` present (at least ``data_batch_1``) and
    ``test_batch``."""
    folder = Path(root) / "cifar10"
    fix = f"run `nasbench data download cifar10` or copy cifar-10-batches-py/* to {folder}/"
    train = [folder / f"data_batch_{k}" for k in range(1, 6)]
    require_file(train[0], "CIFAR-10 data_batch_1", fix)
    train = [p for p in train if p.is_file()]
    return _load_pair("cifar10", train, folder / "test_batch", "labels", 10,
                      CIFAR10_MEAN, CIFAR10_STD, fix)


def load_cifar100(root: Path) -> RawDataset:
    """CIFAR-100 (fine labels) from ``root/cifar100/{train,test}``."""
    folder = Path(root) / "cifar100"
    fix = f"run `nasbench data download cifar100` or copy cifar-100-python/* to {folder}/"
    return _load_pair("cifar100", [folder / "train"], folder / "test", "fine_labels", 100,
                      CIFAR100_MEAN, CIFAR100_STD, fix)
