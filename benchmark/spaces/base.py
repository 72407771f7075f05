"""A search space as ordered choice slots, each with a set of *alive* operations (SE-NAS Sec. 3.3).

Shrinking removes operations from slots; every space (NB201, MobileNet, DARTS) reuses this.
An architecture is a tuple of operation names, one per slot, in slot order.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from benchmark.errors import NasBenchError

Arch = tuple[str, ...]


@dataclass
class SearchSpace:
    """Ordered choice slots; ``alive[i]`` lists the operations still allowed in slot ``i`` (canonical order)."""

    name: str
    slots: tuple[str, ...]
    choices: tuple[tuple[str, ...], ...]
    alive: list[tuple[str, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.slots) != len(self.choices):
            raise ValueError("one tuple of choices per slot")
        if not self.alive:
            self.alive = [tuple(c) for c in self.choices]

    # -- size and membership -------------------------------------------------------------
    @property
    def num_slots(self) -> int:
        return len(self.slots)

    def size(self) -> int:
        """Number of architectures in the current (alive) space."""
        return math.prod(len(a) for a in self.alive)

    def contains(self, arch: Arch) -> bool:
        return len(arch) == self.num_slots and all(op in a for op, a in zip(arch, self.alive))

    def alive_pairs(self) -> list[tuple[int, str]]:
        """Every alive (slot, operation) pair, slot-major, in canonical operation order."""
        return [(i, op) for i, ops in enumerate(self.alive) for op in ops]

    # -- sampling and enumeration --------------------------------------------------------
    def sample(self, rng: random.Random) -> Arch:
        """One architecture drawn uniformly from the alive space."""
        return tuple(rng.choice(ops) for ops in self.alive)

    def sample_containing(self, slot: int, op: str, rng: random.Random) -> Arch:
        """Uniform over alive architectures with ``op`` in ``slot`` (the sample set of Eq. 5)."""
        arch = list(self.sample(rng))
        arch[slot] = op
        return tuple(arch)

    def enumerate(self) -> Iterator[Arch]:
        """All alive architectures, slot 0 varying slowest."""
        return (tuple(a) for a in itertools.product(*self.alive))

    # -- shrinking -------------------------------------------------------------------------
    def remove(self, slot: int, op: str) -> None:
        """Drop ``op`` from ``slot``; the last alive operation of a slot is never removed (Sec. 3.3)."""
        ops = self.alive[slot]
        if op not in ops:
            raise NasBenchError(f"operation {op!r} is not alive in slot {self.slots[slot]}")
        if len(ops) == 1:
            raise NasBenchError(
                f"cannot remove {op!r}: it is the last alive operation of slot {self.slots[slot]}",
                "remove fewer operations per stage",
            )
        self.alive[slot] = tuple(o for o in ops if o != op)

    def restrict(self, alive: Sequence[Sequence[str]]) -> None:
        """Set the alive operations of every slot (kept in canonical order)."""
        if len(alive) != self.num_slots:
            raise NasBenchError(f"{len(alive)} slots given, the space has {self.num_slots}")
        new = []
        for i, ops in enumerate(alive):
            bad = [o for o in ops if o not in self.choices[i]]
            if bad or not ops:
                raise NasBenchError(f"slot {self.slots[i]}: invalid alive set {list(ops)}")
            new.append(tuple(o for o in self.choices[i] if o in ops))
        self.alive = new

    def removable(self) -> int:
        """How many operations can still be removed while keeping one per slot."""
        return sum(len(a) - 1 for a in self.alive)
