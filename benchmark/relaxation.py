"""DARTS continuous relaxation of a shrinking NB201 space, trained first-order (Liu et al., ICLR 2019).

Architecture parameters alpha hold one vector per edge over the edge's candidate operations, shared by
all cells (NB201's DARTS baseline). Only the *alive* operations take part: edge e mixes its alive
operations with weights ``softmax(alpha[e, alive_e])`` (Eq. 2 restricted to the current space), so a
removed operation gets no weight and is not run. Training alternates (Sec. 2.3, Algorithm 1, with
xi = 0, the first-order approximation):

* a weight step on a training batch: SGD with the preset's lr, momentum, weight decay, gradient clip
  and per-step cosine schedule over the whole run (``preset.total_epochs``), alpha fixed;
* an alpha step on a validation batch: Adam, lr 3e-4, betas (0.5, 0.999), weight decay 1e-3 (DARTS and
  NB201 defaults), at the current weights.

The relaxation has its own network and weights, separate from the one-shot supernet. It keeps a
reference to the run's space: shrinking that space in place shrinks every later softmax.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sized

import pandas as pd
import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.models.nb201_relaxed import NB201MixedNetwork
from benchmark.presets import Preset
from benchmark.registry import Registry
from benchmark.spaces.base import SearchSpace
from benchmark.training import cosine_lr, make_optimizer

Batch = tuple[torch.Tensor, torch.Tensor]
BatchSource = Callable[[int], Iterable[Batch]]
"""Batches of one epoch, given the (1-based) epoch number, e.g. a seeded :class:`TensorBatches`."""

ALPHA_INIT_STD = 1e-3  # alpha ~ 1e-3 * N(0, 1), DARTS and NB201
ARCH_LR = 3e-4
ARCH_BETAS = (0.5, 0.999)
ARCH_WEIGHT_DECAY = 1e-3

RELAXATIONS: Registry = Registry("relaxation")
"""DARTS relaxations by search-space name (the spaces the ``magnitude`` criterion can score)."""


def missing_relaxation(space_name: str) -> NasBenchError:
    """The one-line error for ``magnitude`` on a space that has no relaxation."""
    known = RELAXATIONS.names()
    return NasBenchError(f"criterion 'magnitude' needs a DARTS relaxation of the space, and space "
                         f"{space_name!r} has none (relaxations exist for: {', '.join(known)})",
                         "pick one of those spaces (--space) or another criterion")


def require_relaxation(space_name: str) -> None:
    """Refuse ``magnitude`` on a space without a relaxation (call before training)."""
    if space_name not in RELAXATIONS:
        raise missing_relaxation(space_name)


def alive_softmax(alpha: torch.Tensor, space: SearchSpace) -> list[dict[str, torch.Tensor]]:
    """Mixing weights per edge: softmax of ``alpha[e]`` over the alive operations of edge e only.

    ``alpha[e, i]`` belongs to ``space.choices[e][i]``; removed operations are absent from the result.
    """
    out = []
    for e, ops in enumerate(space.alive):
        logits = torch.stack([alpha[e, space.choices[e].index(op)] for op in ops])  # views: no host copy
        out.append(dict(zip(ops, torch.softmax(logits, dim=0).unbind())))
    return out


@RELAXATIONS.register("nb201")
class DartsRelaxation:
    """DARTS on the alive NB201 cell space: a mixed network, its alpha, and both optimizers.

    ``epoch`` counts the epochs trained so far; :meth:`train_epochs` continues from it, so calling it
    once per SE-NAS stage trains the same network and alpha on an ever smaller space.
    """

    def __init__(self, space: SearchSpace, num_classes: int, C: int, N: int, preset: Preset,
                 device: torch.device | str, seed: int):
        self.space = space
        self.preset = preset
        with torch.random.fork_rng(devices=[]):  # seeded init that leaves the run's global RNG alone
            torch.manual_seed(seed)
            self.network = self.build_network(num_classes, C, N, preset)
            alpha = ALPHA_INIT_STD * torch.randn(len(space.slots), max(len(c) for c in space.choices))
        self.network.to(device)
        self.alpha = nn.Parameter(alpha.to(device))
        self.w_optimizer = make_optimizer(self.network, preset)
        self.a_optimizer = torch.optim.Adam([self.alpha], lr=ARCH_LR, betas=ARCH_BETAS,
                                            weight_decay=ARCH_WEIGHT_DECAY)
        self.epoch = 0

    def build_network(self, num_classes: int, C: int, N: int, preset: Preset) -> nn.Module:
        """The mixed network over ``self.space`` (a subclass builds its own space's; seeded by the caller)."""
        return NB201MixedNetwork(num_classes, C, N, bn_affine=False, bn_track=preset.bn_track, space=self.space)

    def train_epochs(self, epochs: int, train_batches: BatchSource,
                     val_batches: BatchSource) -> list[dict[str, float]]:
        """Train ``epochs`` more epochs of first-order DARTS; one row of statistics per epoch.

        Epoch t pairs the i-th batch of ``train_batches(t)`` with the i-th batch of ``val_batches(t)``,
        cycling through the validation batches when there are fewer of them. ``train_batches(t)`` must
        have a length (the schedule's steps per epoch).
        """
        return [self._train_epoch(train_batches(self.epoch + 1), val_batches(self.epoch + 1))
                for _ in range(epochs)]

    def _train_epoch(self, train: Iterable[Batch], val: Iterable[Batch]) -> dict[str, float]:
        p = self.preset
        if not isinstance(train, Sized):
            raise TypeError("train_batches(epoch) needs a length: the steps per epoch of the cosine schedule")
        val = list(val)
        if not val:
            raise NasBenchError("DARTS needs validation batches for its alpha steps, and none were given",
                                "give a non-empty validation split")
        steps = len(train)
        first_step, total_steps = self.epoch * steps, p.total_epochs * steps
        loss_fn = nn.CrossEntropyLoss()
        self.network.train()
        sums: torch.Tensor | None = None
        seen = 0
        for i, (x, y) in enumerate(train):
            for group in self.w_optimizer.param_groups:
                group["lr"] = cosine_lr(first_step + i, total_steps, p.lr, p.lr_min)
            # weight step on a training batch, alpha fixed
            self.w_optimizer.zero_grad(set_to_none=True)
            logits = self.network(x, alive_softmax(self.alpha.detach(), self.space))
            loss = loss_fn(logits, y)
            loss.backward()
            if p.grad_clip > 0:
                used = [q for q in self.network.parameters() if q.grad is not None]
                nn.utils.clip_grad_norm_(used, p.grad_clip, foreach=True)
            self.w_optimizer.step()
            # alpha step on a validation batch at the new weights (first order: no unrolled step)
            xv, yv = val[i % len(val)]
            val_loss = loss_fn(self.network(xv, alive_softmax(self.alpha, self.space)), yv)
            (self.alpha.grad,) = torch.autograd.grad(val_loss, [self.alpha])
            self.a_optimizer.step()
            hits = (logits.detach().argmax(1) == y).sum().to(loss.dtype)
            step = torch.stack([loss.detach() * len(y), hits, val_loss.detach()])
            sums = step if sums is None else sums + step
            seen += len(y)
        self.epoch += 1
        totals = [0.0, 0.0, 0.0] if sums is None else sums.tolist()
        return {"epoch": self.epoch, "loss": totals[0] / max(seen, 1),
                "train_acc": 100.0 * totals[1] / max(seen, 1), "val_loss": totals[2] / max(steps, 1)}

    def weights(self, space: SearchSpace | None = None) -> pd.DataFrame:
        """One row per alive pair of ``space`` (default: the relaxation's own), slot-major in canonical
        order: ``slot``, ``op``, the raw ``alpha`` and ``weight`` = softmax over the edge's alive ops."""
        space = self.space if space is None else space
        if tuple(space.slots) != tuple(self.space.slots) or tuple(space.choices) != tuple(self.space.choices):
            raise NasBenchError(f"space {space.name!r} is not the space this DARTS relaxation was built for",
                                f"score the relaxation's own space ({self.space.name!r})")
        alpha = self.alpha.detach().cpu()
        rows = []
        with torch.no_grad():
            for e, w in enumerate(alive_softmax(alpha, space)):
                for op, weight in w.items():
                    rows.append({"slot": e, "op": op, "alpha": float(alpha[e, space.choices[e].index(op)]),
                                 "weight": float(weight)})
        return pd.DataFrame(rows, columns=["slot", "op", "alpha", "weight"])

    def state_dict(self) -> dict[str, Any]:
        """Network, alpha, both optimizers and the epoch counter (everything a resume needs)."""
        return {"network": self.network.state_dict(), "alpha": self.alpha.detach().clone(),
                "w_optimizer": self.w_optimizer.state_dict(), "a_optimizer": self.a_optimizer.state_dict(),
                "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
        with torch.no_grad():
            self.alpha.copy_(state["alpha"])
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.a_optimizer.load_state_dict(state["a_optimizer"])
        self.epoch = int(state["epoch"])
