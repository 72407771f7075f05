"""Standard CIFAR augmentation on batched tensors, as NB201 trains: random crop with zero padding
(32 with padding 4; 16 with padding 2 for ImageNet16) and random horizontal flip, then normalisation.

Random draws come from a ``torch.Generator`` (any device) and are moved to the data's device, so the
same generator state gives the same batch on CPU and GPU. Drawing (:func:`draw_crop_flip`) is apart from
cropping (:func:`crop_flip`), so a loader can draw a whole epoch at once and copy it to the GPU in one
transfer. No Python loop over images: the batch is padded once and all crops are one ``gather`` with
per-image flat pixel indices.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def draw_crop_flip(n: int, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop offsets and flips of ``n`` images, as one 3 x n int64 tensor ``(dy, dx, flip)`` on the
    generator's device: ``dy, dx`` in ``0..2*padding``, ``flip`` 1 with probability 1/2."""
    dev = generator.device
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev)
    flip = torch.rand(n, generator=generator, device=dev) < 0.5
    return torch.stack([dy, dx, flip.long()])


def crop_flip(x: torch.Tensor, draws: torch.Tensor, padding: int) -> torch.Tensor:
    """The ``H x W`` crops of the zero-padded images at offsets ``draws[0], draws[1]``, flipped where
    ``draws[2]`` is 1 (``draws`` from :func:`draw_crop_flip`, on ``x``'s device)."""
    b, c, h, w = x.shape
    p = padding
    dy, dx, flip = draws[0], draws[1], draws[2].bool()
    rows = dy[:, None] + torch.arange(h, device=x.device)  # B x H
    cols = dx[:, None] + torch.arange(w, device=x.device)  # B x W
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    pw = w + 2 * p
    flat = (rows[:, :, None] * pw + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    padded = F.pad(x, (p, p, p, p)).reshape(b, c, -1)
    return padded.gather(2, flat).reshape(b, c, h, w)


def default_padding(side: int) -> int:
    """NB201's crop padding: 4 for 32 px, 2 for 16 px."""
    return side // 8


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int | None = None) -> torch.Tensor:
    """Random ``H x W`` crop of the zero-padded images and a horizontal flip with probability 1/2.

    ``x`` is B x C x H x W (any dtype); ``padding`` defaults to :func:`default_padding`.
    """
    p = default_padding(x.shape[2]) if padding is None else padding
    return crop_flip(x, draw_crop_flip(len(x), p, generator).to(x.device), p)


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
