"""Datasets as tensors: official files -> seeded train/val/test splits (NB201 or SE-NAS scheme)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from benchmark.data.cifar import RawDataset, load_cifar10, load_cifar100
from benchmark.data.imagenet16 import load_imagenet16_120
from benchmark.data.splits import DataSplits, make_splits, subsample
from benchmark.registry import Registry

DATASETS: Registry[Callable[[Path], RawDataset]] = Registry("dataset")
DATASETS.register("cifar10")(load_cifar10)
DATASETS.register("cifar100")(load_cifar100)
DATASETS.register("imagenet16-120")(load_imagenet16_120)


def load_dataset(
    name: str,
    root: Path,
    scheme: str = "nb201",
    seed: int = 0,
    n_val: int = 5000,
    max_train: int | None = None,
    max_val: int | None = None,
) -> DataSplits:
    """Load dataset ``name`` from ``root`` and split it by ``scheme`` ('nb201' or 'senas', see
    :mod:`benchmark.data.splits`; NB201's split files are used when they are in ``root/nb201/``);
    ``max_train``/``max_val`` keep a seeded subset. Tensors stay on CPU (use ``DataSplits.to(device)``)."""
    raw = DATASETS.get(name)(Path(root))
    return subsample(make_splits(raw, scheme, seed, n_val, split_dir=Path(root) / "nb201"), seed, max_train,
                     max_val)


__all__ = ["DATASETS", "DataSplits", "RawDataset", "load_dataset"]
