"""Single-path supernet training (SPOS, Eq. 1; FairNAS Algorithm 1): one group of sampled paths per batch and
one SGD step per batch, with a cosine schedule. Plain functions in the torchvision-references style; no host
synchronisation inside the loop.

:func:`group_step` is the one training step every supernet driver shares (NB201 here, the ImageNet searches
through :func:`benchmark.imagenet.train.train_epoch`): a group of one path is SPOS's step, a FairNAS group of
m paths is strict fairness's step (summed gradients, one update).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from benchmark.fastpath import FastPath
from benchmark.presets import Preset
from benchmark.samplers import Sampler
from benchmark.spaces.base import Arch

PathLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor]]
"""``path_loss(model, x, y, path) -> (loss, logits)``: one path's forward pass and loss on the batch."""


def cosine_lr(step: int, total_steps: int, lr: float, lr_min: float) -> float:
    """Cosine annealing from ``lr`` to ``lr_min`` over ``total_steps`` (per-step, resumable)."""
    t = min(step, total_steps) / max(total_steps, 1)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * t))


def make_optimizer(model: nn.Module, preset: Preset, fast: FastPath | None = None) -> torch.optim.Optimizer:
    """SGD with (nesterov) momentum and weight decay; parameters off the sampled path get no gradient,
    so they are neither moved nor decayed in that step. ``fast.optimizer`` picks the step's
    implementation (default: foreach)."""
    step = "foreach" if fast is None else fast.optimizer
    optimizer = torch.optim.SGD(model.parameters(), lr=preset.lr, momentum=preset.momentum,
                                nesterov=preset.nesterov, weight_decay=preset.weight_decay,
                                foreach=step == "foreach", fused=True if step == "fused" else None)
    if step == "fused" and preset.momentum > 0:
        optimizer.register_step_pre_hook(_zero_momentum_for_new_paths)
    return optimizer


def rebuild_optimizer(old: torch.optim.Optimizer, model: nn.Module, preset: Preset,
                      origins: list[tuple[nn.Parameter, nn.Parameter]], fast: FastPath | None = None,
                      ) -> torch.optim.Optimizer:
    """A new :func:`make_optimizer` over a supernet that SE-NAS expanding grew (Sec. 3.4), with
    :func:`inherit_state`."""
    return inherit_state(old, make_optimizer(model, preset, fast), origins)


def inherit_state(old: torch.optim.Optimizer, new: torch.optim.Optimizer,
                  origins: list[tuple[nn.Parameter, nn.Parameter]]) -> torch.optim.Optimizer:
    """``new`` (a fresh optimizer over an expanded supernet, SE-NAS Sec. 3.4) with ``old``'s state: parameters
    that existed keep theirs; each weight copy inherits the state of the parameter it was copied from
    (``origins``: (copy, source) pairs)."""
    source = {id(copy): src for copy, src in origins}
    for param in new.param_groups[0]["params"]:
        state = old.state.get(param) or old.state.get(source.get(id(param)))
        if state:
            new.state[param] = {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}
    return new


def _zero_momentum_for_new_paths(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
    """Give a zero momentum buffer to each parameter stepped for the first time.

    The fused SGD kernel takes all buffers or none, but a single-path supernet reaches new parameters at
    every step. With zero dampening a zero buffer gives the same first step as PyTorch's ``buf = grad``.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and optimizer.state[p].get("momentum_buffer") is None:
                optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def draw_group(sampler: Sampler | Callable[[], Arch]) -> list[Arch]:
    """The paths of the next batch: ``sampler.group()``, or one path from a plain callable."""
    group = getattr(sampler, "group", None)
    return group() if group is not None else [sampler()]


def group_step(model: nn.Module, paths: Sequence[Any], x: torch.Tensor, y: torch.Tensor,
               optimizer: torch.optim.Optimizer, path_loss: PathLoss, grad_clip: float = 0.0,
               clip_foreach: bool | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One optimizer step on one batch for a group of paths (FairNAS Algorithm 1, lines 6-13).

    The gradients are cleared, every path runs forward and backward on the same batch ``(x, y)`` so that its
    gradient is added to the others' (summed, not averaged: "accumulate gradients"), the norm of the
    accumulated gradient is clipped once (``grad_clip > 0``), and the parameters are updated once at the
    optimizer's current learning rate. A group of one path is SPOS's step (Eq. 1). Returns each path's
    detached ``(loss, logits)``.
    """
    optimizer.zero_grad(set_to_none=True)
    out = []
    for path in paths:
        loss, logits = path_loss(model, x, y, path)
        loss.backward()
        out.append((loss.detach(), logits.detach()))
    if grad_clip > 0:
        grads = [p for p in model.parameters() if p.grad is not None]
        nn.utils.clip_grad_norm_(grads, grad_clip, foreach=clip_foreach)
    optimizer.step()
    return out


def train_one_epoch(model: nn.Module, sampler: Sampler | Callable[[], Arch],
                    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                    optimizer: torch.optim.Optimizer, preset: Preset, first_step: int, total_steps: int,
                    on_step: Callable[[int], None] | None = None, fast: FastPath | None = None,
                    ) -> dict[str, float]:
    """Train one epoch; ``first_step`` is the global step the epoch starts at (for the schedule).

    Each batch trains the sampler's group of paths (:func:`draw_group`: one path for ``uniform``, a strict-fair
    group for ``fair``) with one :func:`group_step` at that step's single cosine learning rate, so an epoch
    takes one optimizer step per batch whatever the sampler; ``on_step(i)`` follows the step of batch i.
    ``fast`` (default: no speed-ups, today's exact results) sets autocast and the input memory format; the
    model and optimizer are prepared by the caller (:meth:`FastPath.prepare_model`, :func:`make_optimizer`).
    Returns the epoch's mean loss and training accuracy over every trained path (one host sync, at the end).
    """
    fast = FastPath() if fast is None else fast
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    loss_sum = torch.zeros(())
    hits = torch.zeros((), dtype=torch.long)
    seen = 0
    step = first_step

    def path_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, arch: Arch
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        with fast.autocast(x.device.type):
            logits = model(fast.prepare_input(x), arch)
            return loss_fn(logits, y), logits

    with fast.backend_flags():
        for i, (x, y) in enumerate(batches):
            if i == 0:
                loss_sum, hits = loss_sum.to(x.device), hits.to(x.device)
            lr = cosine_lr(step, total_steps, preset.lr, preset.lr_min)
            for group in optimizer.param_groups:
                group["lr"] = lr
            paths = draw_group(sampler)
            for loss, logits in group_step(model, paths, x, y, optimizer, path_loss, preset.grad_clip,
                                           clip_foreach=fast.optimizer != "loop"):
                loss_sum += loss * len(y)
                hits += (logits.argmax(1) == y).sum()
                seen += len(y)
            step += 1
            if on_step is not None:
                on_step(i)
    return {"loss": float(loss_sum) / max(seen, 1), "train_acc": 100.0 * float(hits) / max(seen, 1),
            "steps": step - first_step}
