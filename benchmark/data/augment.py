"""Standard CIFAR augmentation on batched tensors, as NB201 trains: random crop with zero padding
(32 with padding 4; 16 with padding 2 for ImageNet16) and random horizontal flip, then normalisation.

Random draws come from a ``torch.Generator`` (any device) and are moved to the data's device, so the
same generator state gives the same batch on CPU and GPU. No Python loop over images: the batch is
padded once and all crops are one ``gather`` with per-image flat pixel indices.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int | None = None) -> torch.Tensor:
    """Random ``H x W`` crop of the zero-padded images and a horizontal flip with probability 1/2.

    ``x`` is B x C x H x W (any dtype); ``padding`` defaults to ``H // 8`` (4 for 32, 2 for 16).
    """
    b, c, h, w = x.shape
    p = h // 8 if padding is None else padding
    dev = generator.device
    dy = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=dev).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=dev).to(x.device)
    flip = (torch.rand(b, generator=generator, device=dev) < 0.5).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # B x H
    cols = dx[:, None] + torch.arange(w, device=x.device)  # B x W
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    pw = w + 2 * p
    flat = (rows[:, :, None] * pw + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    padded = F.pad(x, (p, p, p, p)).reshape(b, c, -1)
    return padded.gather(2, flat).reshape(b, c, h, w)


def channel_stats(mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor,
                  device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean``/``std`` as C x 1 x 1 float32 tensors on ``device`` (build once per loader: on a GPU each
    build is a host-to-device copy that waits for the device)."""
    def as_tensor(v: Sequence[float] | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(v, dtype=torch.float32, device=device)
        return t if t.dim() == 3 else t[:, None, None]

    return as_tensor(mean), as_tensor(std)


def normalize(x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor,
              ) -> torch.Tensor:
    """uint8 images -> float32 ``(x / 255 - mean) / std`` per channel."""
    m, s = channel_stats(mean, std, x.device)
    return (x.float().div_(255) - m) / s


def augment(
    x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor,
    generator: torch.Generator,
    padding: int | None = None,
) -> torch.Tensor:
    """Crop + flip (:func:`random_crop_flip`) then :func:`normalize`; uint8 in, float32 out."""
    return normalize(random_crop_flip(x, generator, padding), mean, std)
