"""Search constraints as data (the Archai habit): a constraint has a name, a window and a test.

SE-NAS searches under FLOPs budgets (Sec. 4.3, Table 4: 250M, 321M, 470M, 592M multiply-adds);
samplers, the evolutionary search and the final selection all take such objects instead of an ``if``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch


@dataclass(frozen=True)
class FlopsConstraint:
    """``lo_m <= flops_fn(arch) <= hi_m``, FLOPs in millions of multiply-accumulates."""

    lo_m: float
    hi_m: float
    flops_fn: Callable[[Arch], float]

    def __post_init__(self) -> None:
        if not self.lo_m <= self.hi_m:
            raise NasBenchError(f"empty FLOPs window [{self.lo_m}, {self.hi_m}] M", "give lo <= hi")

    @property
    def name(self) -> str:
        return f"flops in [{self.lo_m:g}, {self.hi_m:g}] M"

    @property
    def window(self) -> tuple[float, float]:
        return self.lo_m, self.hi_m

    def __call__(self, arch: Arch) -> bool:
        return self.lo_m <= self.flops_fn(arch) <= self.hi_m
