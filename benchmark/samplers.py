"""Path samplers for single-path supernet training, seeded and resumable.

* ``uniform`` -- SPOS (Guo et al., 2020): every alive operation of a slot equally likely, each step.
* ``fair``    -- FairNAS strict fairness (Chu et al., 2021): within each group of L steps
  (L = the largest number of alive operations of any slot) every alive operation of every slot is
  used exactly once in the slots that have L operations, and at least once elsewhere.
"""

from __future__ import annotations

import random
from typing import Any

from benchmark.registry import Registry
from benchmark.spaces.base import Arch, SearchSpace

SAMPLERS: Registry = Registry("sampler")


class Sampler:
    """Draws one architecture per training step from the alive space; its state can be checkpointed."""

    def __init__(self, space: SearchSpace, seed: int):
        self.space = space
        self.rng = random.Random(seed)

    def __call__(self) -> Arch:
        raise NotImplementedError

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


@SAMPLERS.register("fair")
class FairSampler(Sampler):
    """FairNAS strict-fair sampling: a group of L architectures covers every alive op of each slot.

    Each slot draws an independent random permutation of its alive operations; slots with fewer than
    L operations fill the rest of the group with uniform draws, so each architecture stays uniform.
    """

    def __init__(self, space: SearchSpace, seed: int):
        super().__init__(space, seed)
        self._queue: list[Arch] = []

    def next_group(self) -> list[Arch]:
        """A fresh group of L architectures (L = largest alive slot)."""
        alive = self.space.alive
        width = max(len(ops) for ops in alive)
        columns = []
        for ops in alive:
            col = list(ops) + [self.rng.choice(ops) for _ in range(width - len(ops))]
            self.rng.shuffle(col)
            columns.append(col)
        return [tuple(col[i] for col in columns) for i in range(width)]

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
