"""Search spaces, registered by name (``nasbench space info NAME``).

Each space lives in its own module with its formats and its FLOPs count: ``nb201`` (the NB201 string
format, the official index order), ``mobilenet`` (with its per-layer FLOPs table, ``mobilenet_flops``),
``darts`` (with DARTS genotypes, ``darts_genotypes``) and ``mobilenet_bsnas``. This module registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch import nn

from benchmark.registry import Registry
from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.darts import darts_space
from benchmark.spaces.mobilenet import MobileNetSkeleton, mobilenet_space
from benchmark.spaces.mobilenet_bsnas import SpringConfig, flops_range, spring_space
from benchmark.spaces.mobilenet_flops import FlopsTable
from benchmark.spaces.nb201 import NB201_DATASETS, conv_edges, format_arch, nb201_space
from benchmark.spaces.oneshot import OneShotSupport
from benchmark.spaces.oneshot import SpaceGroundTruth as OneShotGroundTruth


@dataclass(frozen=True)
class SpaceEntry:
    """A registered space: how to build it, (where defined) its FLOPs range in M multiply-adds, and (where
    the one-shot pipeline runs on it) what that pipeline needs (:class:`OneShotSupport`)."""

    build: Callable[[], SearchSpace]
    description: str
    flops_range_m: Callable[[], tuple[float, float]] | None = None
    oneshot: OneShotSupport | None = None


SPACES: Registry[SpaceEntry] = Registry("search space")


def _nb201_flops_range() -> tuple[float, float]:
    from benchmark.models.complexity import nb201_params_flops  # counted on the built network

    lo = nb201_params_flops(("none",) * 6, "cifar10")[1]
    hi = nb201_params_flops(("nor_conv_3x3",) * 6, "cifar10")[1]
    return lo, hi


def _nb201_supernet(space: SearchSpace, num_classes: int, p: Any, expandable: bool) -> nn.Module:
    from benchmark.models.nb201_expanded import ExpandableNB201Supernet
    from benchmark.models.nb201_supernet import NB201Supernet

    cls = ExpandableNB201Supernet if expandable else NB201Supernet
    return cls(num_classes=num_classes, C=p.C, N=p.N, bn_affine=False, bn_track=p.bn_track)


def _nb201_groundtruth(root: Path, path: str | None) -> OneShotGroundTruth:
    from benchmark.groundtruth import default_groundtruth, load_groundtruth

    return load_groundtruth(Path(path)) if path else default_groundtruth(root)


def _mobilenet_flops_range() -> tuple[float, float]:
    return FlopsTable(MobileNetSkeleton()).range_m(mobilenet_space())


def _mobilenet_bsnas_flops_range() -> tuple[float, float]:
    lo, hi = flops_range(SpringConfig())
    return lo / 1e6, hi / 1e6


SPACES.register("nb201")(SpaceEntry(
    nb201_space, "NAS-Bench-201 cell: 6 edges x 5 operations (CIFAR-10 FLOPs shown)", _nb201_flops_range,
    OneShotSupport(NB201_DATASETS, _nb201_supernet, _nb201_groundtruth, format_arch, conv_edges)))
SPACES.register("mobilenet")(SpaceEntry(
    mobilenet_space, "MobileNet-like (ProxylessNAS) space of SE-NAS Table 2: 21 layers, 6 inverted "
    "bottlenecks + identity (none in a stage's first block); ImageNet 224 FLOPs shown", _mobilenet_flops_range))
SPACES.register("darts")(SpaceEntry(
    darts_space,
    "DARTS cells (normal + reduction): 14 edges x 8 operations = 8^14 per cell kind as the paper counts; "
    "slots keep two inputs per node (per node an input-pair slot, per edge a 7-operation slot)",
))
SPACES.register("mobilenet-bsnas")(SpaceEntry(
    spring_space,
    "BS-NAS channel-searchable MobileNetV2 (Table 1): 19 blocks x (kernel 3/5/7, expansion 3/6, cluster "
    "width), 3^6 x 6^19 architectures (224 px, 1000 classes FLOPs shown)",
    _mobilenet_bsnas_flops_range))

__all__ = ["SPACES", "Arch", "OneShotSupport", "SearchSpace", "SpaceEntry"]
