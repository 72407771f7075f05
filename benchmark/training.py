"""Single-path supernet training (SPOS, Eq. 1): one sampled architecture per step, SGD with a cosine
schedule. Plain functions in the torchvision-references style; no host synchronisation inside the loop.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import nn

from benchmark.presets import Preset
from benchmark.samplers import Sampler


def cosine_lr(step: int, total_steps: int, lr: float, lr_min: float) -> float:
    """Cosine annealing from ``lr`` to ``lr_min`` over ``total_steps`` (per-step, resumable)."""
    t = min(step, total_steps) / max(total_steps, 1)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * t))


def make_optimizer(model: nn.Module, preset: Preset) -> torch.optim.Optimizer:
    """SGD with (nesterov) momentum and weight decay; parameters off the sampled path get no gradient,
    so they are neither moved nor decayed in that step."""
    return torch.optim.SGD(model.parameters(), lr=preset.lr, momentum=preset.momentum,
                           nesterov=preset.nesterov, weight_decay=preset.weight_decay, foreach=True)


def train_one_epoch(model: nn.Module, sampler: Sampler, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                    optimizer: torch.optim.Optimizer, preset: Preset, first_step: int, total_steps: int,
                    on_step: Callable[[int], None] | None = None) -> dict[str, float]:
    """Train one epoch; ``first_step`` is the global step the epoch starts at (for the schedule).

    Returns the epoch's mean loss and training accuracy (one host sync, at the end).
    """
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    loss_sum = torch.zeros(())
    hits = torch.zeros((), dtype=torch.long)
    seen = 0
    step = first_step
    for i, (x, y) in enumerate(batches):
        if i == 0:
            loss_sum, hits = loss_sum.to(x.device), hits.to(x.device)
        lr = cosine_lr(step, total_steps, preset.lr, preset.lr_min)
        for group in optimizer.param_groups:
            group["lr"] = lr
        arch = sampler()
        optimizer.zero_grad(set_to_none=True)
        logits = model(x, arch)
        loss = loss_fn(logits, y)
        loss.backward()
        if preset.grad_clip > 0:
            nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], preset.grad_clip,
                                     foreach=True)
        optimizer.step()
        loss_sum += loss.detach() * len(y)
        hits += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        step += 1
        if on_step is not None:
            on_step(i)
    return {"loss": float(loss_sum) / max(seen, 1), "train_acc": 100.0 * float(hits) / max(seen, 1),
            "steps": step - first_step}
