"""Search spaces, registered by name (``nasbench space info NAME``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from benchmark.registry import Registry
from benchmark.spaces.base import Arch, SearchSpace


@dataclass(frozen=True)
class SpaceEntry:
    """A registered space: how to build it, and (where defined) its FLOPs range in M multiply-adds."""

    build: Callable[[], SearchSpace]
    description: str
    flops_range_m: Callable[[], tuple[float, float]] | None = None


SPACES: Registry[SpaceEntry] = Registry("search space")


def _nb201_flops_range() -> tuple[float, float]:
    from benchmark.models.complexity import nb201_params_flops

    lo = nb201_params_flops(("none",) * 6, "cifar10")[1]
    hi = nb201_params_flops(("nor_conv_3x3",) * 6, "cifar10")[1]
    return lo, hi


def _register_builtin() -> None:
    from benchmark.spaces.nb201 import nb201_space

    SPACES.register("nb201")(SpaceEntry(
        nb201_space, "NAS-Bench-201 cell: 6 edges x 5 operations (CIFAR-10 FLOPs shown)", _nb201_flops_range))


_register_builtin()

from benchmark.spaces import mobilenet as _mobilenet  # noqa: E402,F401  (registers 'mobilenet')
from benchmark.spaces import darts as _darts  # noqa: E402,F401  (registers 'darts')
from benchmark.spaces import mobilenet_bsnas as _mobilenet_bsnas  # noqa: E402,F401  (registers 'mobilenet-bsnas')

__all__ = ["SPACES", "Arch", "SearchSpace", "SpaceEntry"]
