"""Supernet accuracy of an architecture on the validation split, under an explicit BatchNorm policy.

BatchNorm decides weight-sharing results on NB201, so the policy is a named option recorded in every
result (see ``docs/batchnorm.md``):

* ``recalibrate`` -- reset the statistics and re-estimate them on a fixed set of training batches for
  each architecture before evaluating it (as official SPOS does);
* ``batch``       -- normalise every validation batch with its own statistics (NB201's untracked baseline);
* ``tracked``     -- use the running statistics tracked during supernet training.

Eq. 4 (SE-NAS, evaluation stability) averages K snapshots of the weights of the last epoch:
:class:`WeightAverager` wraps ``torch.optim.swa_utils.AveragedModel``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from benchmark.spaces.base import Arch

Batch = tuple[torch.Tensor, torch.Tensor]
BN_POLICIES = ("recalibrate", "batch", "tracked")


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def bn_policy(model: nn.Module, policy: str, forward: Callable[[torch.Tensor], torch.Tensor],
              recal_batches: Sequence[Batch] = ()) -> Iterator[None]:
    """Put ``model``'s BatchNorm layers in the evaluation state of ``policy``; restore them afterwards.

    Nothing the policy touches survives the context: tracked statistics and train/eval mode are restored,
    so evaluating never changes the supernet that training continues from.
    """
    bns = _batchnorms(model)
    was_training = model.training
    saved = [(m.momentum, m.track_running_stats, m.running_mean, m.running_var, m.num_batches_tracked)
             for m in bns]
    try:
        if policy == "recalibrate":
            dev = next((p.device for p in model.parameters()), torch.device("cpu"))
            for m in bns:
                m.track_running_stats = True
                m.running_mean = torch.zeros(m.num_features, device=dev)
                m.running_var = torch.ones(m.num_features, device=dev)
                m.num_batches_tracked = torch.zeros((), dtype=torch.long, device=dev)
                m.momentum = None  # cumulative average over the recalibration batches
            model.train()
            with torch.no_grad():
                for x, _ in recal_batches:
                    forward(x)
            model.eval()
        elif policy == "batch":
            for m in bns:
                m.momentum = 0.0  # batch statistics, tracked ones left untouched
            model.train()
        elif policy == "tracked":
            model.eval()
        else:
            raise ValueError(f"unknown BatchNorm policy {policy!r}")
        yield
    finally:
        for m, (mom, track, mean, var, nbt) in zip(bns, saved):
            m.momentum, m.track_running_stats = mom, track
            m.running_mean, m.running_var, m.num_batches_tracked = mean, var, nbt
        model.train(was_training)


@torch.no_grad()
def _correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=1) == y).sum()


def evaluate_arch(model: nn.Module, arch: Arch, val_batches: Sequence[Batch], policy: str,
                  recal_batches: Sequence[Batch] = ()) -> float:
    """Top-1 accuracy (percent) of ``arch`` with the supernet's weights (Eq. 2's ACC_val)."""
    forward = lambda x: model(x, arch)  # noqa: E731
    total = 0
    with bn_policy(model, policy, forward, recal_batches), torch.no_grad():
        hits = []
        for x, y in val_batches:
            hits.append(_correct(forward(x), y))
            total += len(y)
        correct = int(torch.stack(hits).sum()) if hits else 0
    return 100.0 * correct / max(total, 1)


def evaluate_archs(model: nn.Module, archs: Iterable[Arch], val_batches: Sequence[Batch], policy: str,
                   recal_batches: Sequence[Batch] = (), progress: Callable[[int], None] | None = None,
                   ) -> np.ndarray:
    """Supernet accuracy of many architectures, in order (one host sync per architecture)."""
    out = []
    for arch in archs:
        out.append(evaluate_arch(model, arch, val_batches, policy, recal_batches))
        if progress is not None:
            progress(1)
    return np.asarray(out, dtype=np.float64)


class WeightAverager:
    """Eq. 4: the mean of K weight snapshots taken at evenly spaced steps of the last epoch."""

    def __init__(self, model: nn.Module, k: int, steps_per_epoch: int):
        if k < 1:
            raise ValueError("K must be >= 1")
        self.k = k
        # snapshot steps (0-based within the epoch), ending at the last step
        self.steps = {steps_per_epoch - 1 - round(i * steps_per_epoch / k) for i in range(k)}
        self.averaged = AveragedModel(model, use_buffers=False)

    def maybe_update(self, model: nn.Module, step_in_epoch: int) -> None:
        if step_in_epoch in self.steps:
            self.averaged.update_parameters(model)

    @property
    def module(self) -> nn.Module:
        return self.averaged.module

    def copy_buffers_from(self, model: nn.Module) -> None:
        """Buffers (BatchNorm statistics) are not averaged: take the live model's."""
        for b_avg, b in zip(self.averaged.module.buffers(), model.buffers()):
            b_avg.copy_(b)
