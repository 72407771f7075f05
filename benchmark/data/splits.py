"""Train / validation / test splits: the NB201 scheme (NB201's own split files when they are at hand,
else seeded) and the SE-NAS scheme (seeded)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from benchmark.data.cifar import RawDataset
from benchmark.errors import NasBenchError

SCHEMES = ("nb201", "senas")
# NB201's split files (configs/nas-benchmark/ of AutoDL-Projects): file, first part, second part
OFFICIAL_SPLITS = {"cifar10": ("cifar-split.txt", "train", "valid"),
                   "cifar100": ("cifar100-test-split.txt", "xvalid", "xtest"),
                   "imagenet16-120": ("imagenet-16-120-test-split.txt", "xvalid", "xtest")}


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
    source: str = "seeded"  # how the split was drawn: 'seeded' or the official split file used

    def to(self, device: torch.device | str) -> DataSplits:
        """The same splits with every tensor moved to ``device``."""
        moved = {k: getattr(self, k).to(device) for k in
                 ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        return replace(self, **moved)


def read_official_split(path: Path, first: str, second: str, n: int, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The two index lists of an NB201 split file (JSON ``{"train": ["int", [0, 5, ...]], ...}``, as
    AutoDL-Projects' ``load_config`` reads it), checked to be disjoint and to cover ``0..n-1``, the
    ``n`` images of ``what`` at hand."""
    fix = (f"use NB201's own {path.name} (AutoDL-Projects configs/nas-benchmark/) with the full dataset, "
           f"or remove it to fall back to the seeded split")
    try:
        content = json.loads(path.read_text())
        parts = [torch.tensor([int(i) for i in content[key][1]], dtype=torch.long) for key in (first, second)]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise NasBenchError(f"{path} is not an NB201 split file with '{first}' and '{second}' ({e})", fix) from None
    joined = torch.cat(parts)
    if len(joined) != n or not torch.equal(joined.sort().values, torch.arange(n)):
        raise NasBenchError(f"{path} splits {len(joined)} indices up to {int(joined.max()) if len(joined) else -1}, "
                            f"but {what} here has {n} images to split", fix)
    return parts[0], parts[1]


def split_nb201(raw: RawDataset, seed: int, split_dir: Path | None = None) -> DataSplits:
    """NB201 (Dong & Yang, 2020, Sec. 2.2) splits.

    cifar10 ("cifar10-valid"): the training set is halved into train and valid (25K/25K on the full set);
    the test set stays the test set. cifar100 and imagenet16-120 ("x-valid"/"x-test"): the whole training
    set trains and the test set is halved into valid and test. The halves are NB201's own when its split
    file (``OFFICIAL_SPLITS``) is in ``split_dir``, else drawn by a seeded permutation (same sizes, other
    images); ``DataSplits.source`` says which.
    """
    on_train = raw.name == "cifar10"
    n = len(raw.train_y) if on_train else len(raw.test_y)
    official = None if split_dir is None else Path(split_dir) / OFFICIAL_SPLITS[raw.name][0]
    if official is not None and official.is_file():
        part = "training set" if on_train else "test set"
        a, b = read_official_split(official, *OFFICIAL_SPLITS[raw.name][1:], n, f"the {raw.name} {part}")
        source = str(official)
    else:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        a, b, source = idx[:n // 2], idx[n // 2:], "seeded"
    if on_train:
        parts = (raw.train_x[a], raw.train_y[a], raw.train_x[b], raw.train_y[b], raw.test_x, raw.test_y)
    else:
        parts = (raw.train_x, raw.train_y, raw.test_x[a], raw.test_y[a], raw.test_x[b], raw.test_y[b])
    return DataSplits(raw.name, raw.num_classes, *parts, raw.mean, raw.std, "nb201", source)


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


def make_splits(raw: RawDataset, scheme: str, seed: int, n_val: int = 5000,
                split_dir: Path | None = None) -> DataSplits:
    """Dispatch to :func:`split_nb201` (official split files looked up in ``split_dir``) or
    :func:`split_senas`."""
    if scheme == "nb201":
        return split_nb201(raw, seed, split_dir)
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
