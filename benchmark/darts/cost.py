"""Parameters and FLOPs of DARTS genotype networks (``nasbench arch info GENOTYPE --space darts``).

FLOPs are multiply-accumulates of one forward pass in evaluation mode (no auxiliary head), counted with
``torch.utils.flop_counter`` on the ``meta`` device (shapes only, no arithmetic), under the conventions of
:mod:`benchmark.models.complexity`: convolutions and the classifier count, BatchNorm, ReLU, pooling and
additions do not (so pooling-heavy cells count a little lower than tools that include them; DARTS V2
gives 530M here against the 574M DARTS reports). Parameters exclude the auxiliary head, which is
dropped after training (DARTS' ``count_parameters_in_MB`` convention).

Settings: ImageNet mobile setting of P-DARTS / DARTS (14 cells, C = 48, 224 x 224, 1000 classes, under
600M multiply-accumulates); CIFAR-10 evaluation of DARTS (20 cells, C = 36, 32 x 32, 10 classes).
:class:`CostTable` prices a genotype of the space by summing per-part costs, for FLOPs constraints over
many architectures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.models.complexity import count_flops
from benchmark.models.darts_network import STEM_MULTIPLIER, GenotypeNetwork
from benchmark.models.darts_ops import darts_op
from benchmark.spaces.base import Arch
from benchmark.spaces.darts import CELL_KINDS
from benchmark.spaces.darts_genotypes import Genotype, genotype_from_arch, resolve_genotype


@dataclass(frozen=True)
class NetworkSetting:
    """Width, depth, classes and input side of a genotype network."""

    C: int
    layers: int
    num_classes: int
    image_size: int
    imagenet: bool

    def describe(self) -> str:
        where = "ImageNet" if self.imagenet else "CIFAR"
        return (f"{where}: {self.layers} cells, C={self.C}, {self.image_size}x{self.image_size}, "
                f"{self.num_classes} classes")


IMAGENET_MOBILE = NetworkSetting(C=48, layers=14, num_classes=1000, image_size=224, imagenet=True)
CIFAR10_EVAL = NetworkSetting(C=36, layers=20, num_classes=10, image_size=32, imagenet=False)
MOBILE_BUDGET_M = 600.0  # the mobile setting: under 600M multiply-accumulates


def build_network(genotype: Genotype, setting: NetworkSetting, auxiliary: bool = False,
                  device: torch.device | str | None = None) -> GenotypeNetwork:
    """The genotype's network in ``setting`` (checked for the input side)."""
    with torch.device(device or "cpu"):
        net = GenotypeNetwork(genotype, setting.C, setting.layers, setting.num_classes, setting.imagenet, auxiliary)
    net.check_image_size(setting.image_size)
    return net


@lru_cache(maxsize=64)
def network_cost(genotype: Genotype, setting: NetworkSetting) -> tuple[float, float]:
    """(parameters in M without the auxiliary head, FLOPs in M) of the genotype's network in ``setting``,
    the FLOPs counted over the whole network (cached: a count takes a second or two on a CPU)."""
    net = build_network(genotype, setting, device="meta")
    params = sum(p.numel() for p in net.parameters())
    return params / 1e6, count_flops(net, (1, 3, setting.image_size, setting.image_size)) / 1e6


def check_flops_budget(flops_m: float, budget_m: float | None, what: str) -> None:
    """A one-line error when ``flops_m`` exceeds ``budget_m`` (``None``: no budget)."""
    if budget_m is not None and flops_m > budget_m:
        raise NasBenchError(f"{what} has {flops_m:.1f}M multiply-accumulates, over the {budget_m:g}M budget",
                            "choose a smaller genotype or width, or raise the FLOPs budget")


def darts_arch_info(genotype: str, imagenet: bool) -> dict[str, Any]:
    """Parameters and FLOPs of the network built from ``genotype`` (a built-in name such as ``DARTS_V2``
    or a ``Genotype(...)`` string): ImageNet mobile setting when ``imagenet``, else DARTS' CIFAR-10 one."""
    name, g = resolve_genotype(genotype)
    setting = IMAGENET_MOBILE if imagenet else CIFAR10_EVAL
    params_m, flops_m = network_cost(g, setting)
    return {"name": name, "genotype": str(g), "setting": setting.describe(), "params_m": params_m,
            "flops_m": flops_m}


@cache
def _op_cost(op: str, C: int, stride: int, side: int) -> tuple[int, int]:
    """(parameters, FLOPs) of one operation on a ``C x side x side`` input."""
    with torch.device("meta"):
        module = darts_op(op, C, stride)
    return sum(p.numel() for p in module.parameters()), count_flops(module, (1, C, side, side))


def _parts_cost(modules_and_shapes: list[tuple[nn.Module, tuple[int, ...]]]) -> tuple[int, int]:
    params = sum(p.numel() for m, _ in modules_and_shapes for p in m.parameters())
    return params, sum(count_flops(m, shape) for m, shape in modules_and_shapes)


# a parameter-free cell of the space: building its network builds only the parts every genotype shares
_SHARED_ONLY = Genotype(normal=(("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4, normal_concat=(2, 3, 4, 5),
                        reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4, reduce_concat=(2, 3, 4, 5))


class CostTable:
    """Parameters and FLOPs (M) of the ``setting`` network of any genotype of the DARTS space, as sums of
    parts counted once: the parts every such genotype shares (stems, each cell's input preprocessing, the
    classifier) plus each kept edge's operation at its position. Exact under the counter's conventions,
    since every counted operation lies in one of those parts (tests compare it with :func:`network_cost`);
    fast enough to price thousands of candidates, e.g. as a :class:`FlopsConstraint`'s ``flops_fn``."""

    def __init__(self, setting: NetworkSetting = IMAGENET_MOBILE):
        self.setting = setting
        net = build_network(_SHARED_ONLY, setting, device="meta")
        side = setting.image_size
        parts: list[tuple[nn.Module, tuple[int, ...]]] = [(net.stem, (1, 3, side, side))]
        if setting.imagenet:  # stem: two stride-2 convolutions, stem1: one more
            side = math.ceil(math.ceil(side / 2) / 2)
            parts.append((net.stem1, (1, setting.C, side, side)))
            (C_pp, side_pp), (C_p, side_p) = (setting.C, side), (setting.C, math.ceil(side / 2))
        else:
            (C_pp, side_pp) = (C_p, side_p) = (STEM_MULTIPLIER * setting.C, side)
        self.cells: list[tuple[str, int, int]] = []  # (kind, C, side of the operations' input) per cell
        for cell in net.cells:
            parts += [(cell.preprocess[0], (1, C_pp, side_pp, side_pp)), (cell.preprocess[1], (1, C_p, side_p, side_p))]
            C = cell.preprocess[1][1].out_channels
            self.cells.append(("reduce" if cell.reduction else "normal", C, side_p))
            (C_pp, side_pp), (C_p, side_p) = (C_p, side_p), (4 * C, side_p // 2 if cell.reduction else side_p)
        parts.append((net.classifier, (1, C_p)))
        self.base = _parts_cost(parts)

    def _ops(self, genotype: Genotype) -> tuple[int, int]:
        for kind in CELL_KINDS:
            if len(genotype.cell(kind)[1]) != 4:
                raise NasBenchError("a cost table prices genotypes of the DARTS space (4 nodes concatenated)",
                                    "count other genotypes with network_cost")
        params, flops = self.base
        for kind, C, side in self.cells:
            for op, i in genotype.cell(kind)[0]:
                if kind == "reduce":  # stride 2 from the cell inputs; intermediate nodes are already halved
                    p, f = _op_cost(op, C, 2, side) if i < 2 else _op_cost(op, C, 1, side // 2)
                else:
                    p, f = _op_cost(op, C, 1, side)
                params, flops = params + p, flops + f
        return params, flops

    def params_m(self, genotype: Genotype) -> float:
        return self._ops(genotype)[0] / 1e6

    def flops_m(self, genotype: Genotype) -> float:
        return self._ops(genotype)[1] / 1e6

    def __call__(self, arch: Arch) -> float:
        """FLOPs (M) of a DARTS-space architecture's network."""
        return self.flops_m(genotype_from_arch(arch))
