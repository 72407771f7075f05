"""Mini-batches straight from device-resident tensors, reproducible per epoch (no DataLoader workers)."""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch

from benchmark.data.augment import augment as augment_batch
from benchmark.data.augment import channel_stats, normalize
from benchmark.errors import NasBenchError


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator fixed by ``(seed, epoch)`` alone, so epoch ``e`` can be replayed after a resume."""
    state = np.random.SeedSequence((seed, epoch)).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class TensorBatches:
    """Iterate over ``(x, y)`` batches of uint8 images ``x`` and labels ``y`` for one epoch.

    Each epoch's order (when ``shuffle``) and augmentation draws come from ``epoch_generator(seed,
    epoch)``; call :meth:`set_epoch` before iterating. Batches are float32, normalised with
    ``mean``/``std`` and, when ``augment``, randomly cropped and flipped (:mod:`benchmark.data.augment`).
    ``device`` moves the tensors there once; by default they stay where they are.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        augment: bool = False,
        seed: int = 0,
        device: torch.device | str | None = None,
    ):
        if len(x) != len(y):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        if batch_size < 1:
            raise NasBenchError(f"batch_size={batch_size} is not positive", "use a batch size of 1 or more")
        self.x = x if device is None else x.to(device)
        self.y = y if device is None else y.to(device)
        self.mean, self.std = channel_stats(mean, std, self.x.device)  # once, not per batch
        self.batch_size, self.shuffle, self.drop_last, self.augment = batch_size, shuffle, drop_last, augment
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = epoch_generator(self.seed, self.epoch)
        n = len(self.y)
        order = torch.randperm(n, generator=g).to(self.x.device) if self.shuffle else None
        for i in range(len(self)):
            lo = i * self.batch_size
            if order is None:
                xb, yb = self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]
            else:
                idx = order[lo:lo + self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
            if self.augment:
                yield augment_batch(xb, self.mean, self.std, g), yb
            else:
                yield normalize(xb, self.mean, self.std), yb
