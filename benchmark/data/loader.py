"""Mini-batches straight from device-resident tensors, reproducible per epoch (no DataLoader workers)."""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch

from benchmark.data.augment import channel_stats, crop_flip, default_padding, draw_crop_flip, normalize
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
        self.padding = default_padding(self.x.shape[2])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order, draws = self._epoch_draws()
        for i in range(len(self)):
            lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, len(self.y))
            if order is None:
                xb, yb = self.x[lo:hi], self.y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = self.x[idx], self.y[idx]
            if draws is not None:
                xb = crop_flip(xb, draws[:, lo:hi], self.padding)
            yield normalize(xb, self.mean, self.std), yb

    def _epoch_draws(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The epoch's shuffled order and crop/flip draws (3 x images), made on the CPU generator in the
        order of a per-batch loop (the order, then each batch's draws) and moved to the data's device in
        one copy: no host-to-device transfer inside the epoch."""
        g = epoch_generator(self.seed, self.epoch)
        n = len(self.y)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.zeros(0, dtype=torch.long)
        draws = torch.zeros(3, 0, dtype=torch.long)
        if self.augment and len(self):
            sizes = [min(self.batch_size, n - i * self.batch_size) for i in range(len(self))]
            draws = torch.cat([draw_crop_flip(b, self.padding, g) for b in sizes], dim=1)
        both = torch.cat([order, draws.flatten()]).to(self.x.device, non_blocking=True)
        return (both[:n] if self.shuffle else None,
                both[len(order):].view(3, -1) if self.augment else None)
