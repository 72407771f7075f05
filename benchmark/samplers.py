"""Path samplers for single-path supernet training, seeded and resumable.

A sampler hands :func:`benchmark.training.train_one_epoch` one *group* of paths per training batch
(:meth:`Sampler.group`); every path of a group runs forward and backward on that same batch, the gradients are
summed and the parameters updated once (:func:`benchmark.training.group_step`).

* ``uniform`` -- SPOS (Guo et al., 2020, Eq. 1 and Sec. 3.2): a group of one architecture, every alive operation
  of a slot equally likely; one optimizer step per path.
* ``fair``    -- FairNAS strict fairness (Chu et al., ICCV 2021, Algorithm 1 and Eq. 3): a group of m
  architectures (m = operations per slot) in which every slot uses each of its operations exactly once; the m
  single-path models are trained on the same batch, their gradients accumulated (summed, not averaged) and the
  parameters updated once, with one learning rate. When slots hold different numbers of alive operations (a
  shrunk space, BS-NAS step-shrinking) the group has L architectures, L = the largest count; a slot with
  fewer operations uses each of them once and fills its remaining L - n positions with uniform draws of its
  operations (then the slot's column is shuffled), so each operation is used once or more per group and every
  architecture stays uniform over the alive space.
"""

from __future__ import annotations

import random
from typing import Any

from benchmark.registry import Registry
from benchmark.spaces.base import Arch, SearchSpace

SAMPLERS: Registry = Registry("sampler")


class Sampler:
    """Draws the paths of each training batch from the alive space; its state can be checkpointed."""

    def __init__(self, space: SearchSpace, seed: int):
        self.space = space
        self.rng = random.Random(seed)

    def __call__(self) -> Arch:
        raise NotImplementedError

    def group(self) -> list[Arch]:
        """The paths trained on one batch with one optimizer step (default: one path, SPOS)."""
        return [self()]

    def space_changed(self) -> None:
        """The alive operations changed (a shrink): forget anything drawn from the old space."""

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.setstate(state["rng"])


@SAMPLERS.register("uniform")
class UniformSampler(Sampler):
    """SPOS uniform single-path sampling over the alive operations."""

    def __call__(self) -> Arch:
        return self.space.sample(self.rng)


def strict_fair_group(alive: list[tuple[str, ...]] | list[list[str]], rng: random.Random) -> list[Arch]:
    """FairNAS strict fairness (Algorithm 1): L architectures, L = the largest number of alive operations of a
    slot. Each slot's column holds each of its operations once, topped up with ``L - n`` uniform draws of its
    operations when it has n < L, then shuffled (an independent permutation per slot)."""
    width = max(len(ops) for ops in alive)
    columns = []
    for ops in alive:
        col = list(ops) + [rng.choice(ops) for _ in range(width - len(ops))]
        rng.shuffle(col)
        columns.append(col)
    return [tuple(col[i] for col in columns) for i in range(width)]


@SAMPLERS.register("fair")
class FairSampler(Sampler):
    """FairNAS strict-fair sampling: one group of L architectures per batch covers every alive op of each slot
    (:func:`strict_fair_group`); :func:`benchmark.training.group_step` trains them on one batch, summed
    gradients, one update (FairNAS Algorithm 1).

    Called one architecture at a time (``sampler()``, e.g. evaluation code), it hands out the paths of
    successive groups in order.
    """

    def __init__(self, space: SearchSpace, seed: int):
        super().__init__(space, seed)
        self._queue: list[Arch] = []

    def next_group(self) -> list[Arch]:
        """A fresh group of L architectures (L = largest alive slot)."""
        return strict_fair_group(self.space.alive, self.rng)

    def group(self) -> list[Arch]:
        """The next whole group (the rest of a group begun by ``sampler()`` calls first)."""
        if self._queue:
            group, self._queue = self._queue, []
            return group
        return self.next_group()

    def space_changed(self) -> None:
        self._queue = []

    def __call__(self) -> Arch:
        if not self._queue:
            self._queue = self.next_group()
        return self._queue.pop(0)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.getstate(), "queue": list(self._queue)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.setstate(state["rng"])
        self._queue = [tuple(a) for a in state["queue"]]
