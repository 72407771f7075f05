"""Train / validation / test splits: the NB201 scheme and the SE-NAS scheme, both seeded."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from benchmark.data.cifar import RawDataset
from benchmark.errors import NasBenchError

SCHEMES = ("nb201", "senas")


@dataclass(frozen=True)
class DataSplits:
    """Images are uint8 N x 3 x H x W, labels int64; ``mean``/``std`` are per channel, in [0, 1] units."""

    name: str
    num_classes: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scheme: str

    def to(self, device: torch.device | str) -> DataSplits:
        """The same splits with every tensor moved to ``device``."""
        moved = {k: getattr(self, k).to(device) for k in
                 ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        return replace(self, **moved)


def split_nb201(raw: RawDataset, seed: int) -> DataSplits:
    """NB201 (Dong & Yang, 2020, Sec. 2.2) splits.

    cifar10 ("cifar10-valid"): the training set is halved into train and valid (25K/25K on the full set)
    by a seeded permutation; the test set stays the test set. NB201 used a fixed split file
    (``cifar-split.txt``) that is not shipped here, so the halves are the same size but not the same
    images. cifar100 and imagenet16-120 ("x-valid"/"x-test"): the whole training set trains and the test
    set is split into valid and test halves by a seeded permutation (NB201's ``*-test-split.txt``
    likewise not shipped).
    """
    g = torch.Generator().manual_seed(seed)
    if raw.name == "cifar10":
        idx = torch.randperm(len(raw.train_y), generator=g)
        half = len(idx) // 2
        tr, va = idx[:half], idx[half:]
        parts = (raw.train_x[tr], raw.train_y[tr], raw.train_x[va], raw.train_y[va], raw.test_x, raw.test_y)
    else:
        idx = torch.randperm(len(raw.test_y), generator=g)
        half = len(idx) // 2
        va, te = idx[:half], idx[half:]
        parts = (raw.train_x, raw.train_y, raw.test_x[va], raw.test_y[va], raw.test_x[te], raw.test_y[te])
    return DataSplits(raw.name, raw.num_classes, *parts, raw.mean, raw.std, "nb201")


def split_senas(raw: RawDataset, seed: int, n_val: int = 5000) -> DataSplits:
    """SE-NAS (Sec. 4.1, "CIFAR"): ``n_val`` training images, chosen at random (seeded), form the
    validation set and the rest train; the official test set is the test set."""
    n = len(raw.train_y)
    if not 0 < n_val < n:
        raise NasBenchError(
            f"n_val={n_val} must be between 1 and {n - 1}: {raw.name} has {n} training images here",
            f"pass a validation size below {n}",
        )
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    va, tr = idx[:n_val], idx[n_val:]
    return DataSplits(
        raw.name, raw.num_classes, raw.train_x[tr], raw.train_y[tr], raw.train_x[va], raw.train_y[va],
        raw.test_x, raw.test_y, raw.mean, raw.std, "senas",
    )


def make_splits(raw: RawDataset, scheme: str, seed: int, n_val: int = 5000) -> DataSplits:
    """Dispatch to :func:`split_nb201` or :func:`split_senas`."""
    if scheme == "nb201":
        return split_nb201(raw, seed)
    if scheme == "senas":
        return split_senas(raw, seed, n_val)
    raise NasBenchError(f"unknown split scheme {scheme!r}", f"choose one of: {', '.join(SCHEMES)}")


def subsample(splits: DataSplits, seed: int, max_train: int | None, max_val: int | None) -> DataSplits:
    """Keep a seeded random subset of at most ``max_train`` training and ``max_val`` validation images
    (tiny presets); ``None`` keeps all."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for part, cap in (("train", max_train), ("val", max_val)):
        if cap is None:
            continue
        if cap < 1:
            raise NasBenchError(f"max_{part}={cap} must be at least 1", f"pass a positive max_{part} or none")
        x, y = getattr(splits, f"{part}_x"), getattr(splits, f"{part}_y")
        keep = torch.randperm(len(y), generator=g)[:cap]
        out[f"{part}_x"], out[f"{part}_y"] = x[keep], y[keep]
    return replace(splits, **out)
