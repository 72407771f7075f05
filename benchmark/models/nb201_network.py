"""The NAS-Bench-201 macro skeleton and the standalone network of one architecture (NB201 Sec. 2.1).

Skeleton: a 3x3 convolution stem (C channels) + BatchNorm; three stages of N cells with C, 2C and 4C
channels, joined by residual reduction blocks; BatchNorm + ReLU; global average pooling; a linear
classifier. With C=16, N=5 the parameter count equals NB201's (73,306 + 243,040 n3 + 28,000 n1 for
10 classes, where n3 / n1 count the 3x3 / 1x1 convolution edges).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.models.nb201_ops import ReLUConvBN, ResNetBasicblock, cell_forward, nb201_op
from benchmark.spaces.base import Arch
from benchmark.spaces.nb201 import format_arch, parse_arch


def as_arch(arch: str | Arch) -> Arch:
    """An NB201 architecture as six operation names, from an official string or an operation tuple."""
    if isinstance(arch, str):
        return parse_arch(arch)
    arch = tuple(arch)
    format_arch(arch)  # validates length and operation names
    return arch


class NB201Skeleton(nn.Module):
    """Stem, ``3N`` cells with two residual reduction blocks among them, and the classifier head.

    ``self.cells`` holds cells and reduction blocks in forward order (``3N + 2`` modules);
    ``self.cell_positions[k]`` is the position of the k-th searchable cell in it.
    """

    def __init__(self, make_cell: Callable[[int], nn.Module], num_classes: int, C: int, N: int):
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1:
            raise NasBenchError(f"invalid NB201 skeleton C={C}, N={N}, num_classes={num_classes}",
                                "use positive values (NB201: C=16, N=5)")
        self.C, self.N, self.num_classes = C, N, num_classes
        self.stem = nn.Sequential(nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        positions: list[int] = []
        C_prev = C
        for stage, C_stage in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                layers.append(ResNetBasicblock(C_prev, C_stage))
            for _ in range(N):
                positions.append(len(layers))
                layers.append(make_cell(C_stage))
            C_prev = C_stage
        self.cells = nn.ModuleList(layers)
        self.cell_positions: tuple[int, ...] = tuple(positions)
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def compile_regions(self) -> list[nn.Module]:
        """The modules :class:`~benchmark.fastpath.FastPath` compiles one by one (``compile_ops``): the
        reduction blocks and every ReLU-Conv-BN operation outside them."""
        blocks = [m for m in self.modules() if isinstance(m, ResNetBasicblock)]
        inside = {id(m) for b in blocks for m in b.modules()}
        return blocks + [m for m in self.modules() if isinstance(m, ReLUConvBN) and id(m) not in inside]

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """BatchNorm + ReLU, global average pooling and the linear classifier: logits."""
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))

    def shared_modules(self) -> list[nn.Module]:
        """The modules outside the searchable cells: stem, reduction blocks, lastact and classifier."""
        cells = set(self.cell_positions)
        blocks = [m for p, m in enumerate(self.cells) if p not in cells]
        return [self.stem, *blocks, self.lastact, self.classifier]


class NB201Cell(nn.Module):
    """One fixed cell: the six edges' operations of ``arch`` on ``C`` channels."""

    def __init__(self, arch: Arch, C: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.arch = arch
        self.edges = nn.ModuleList(nb201_op(op, C, affine, track_running_stats) for op in arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cell_forward(x, [None if op == "none" else m for op, m in zip(self.arch, self.edges)])


class NB201Network(NB201Skeleton):
    """The standalone NB201 network of one architecture (NB201's ``TinyNetwork``); returns logits.

    ``affine`` / ``track_running_stats`` set the cells' BatchNorm (NB201 trains with both True);
    the stem, reduction blocks and lastact always use affine, tracked BatchNorm.
    """

    def __init__(self, arch: str | Arch, num_classes: int = 10, C: int = 16, N: int = 5,
                 affine: bool = True, track_running_stats: bool = True):
        ops = as_arch(arch)
        super().__init__(lambda C_cell: NB201Cell(ops, C_cell, affine, track_running_stats),
                         num_classes, C, N)
        self.arch: Arch = ops

    @property
    def arch_str(self) -> str:
        return format_arch(self.arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x)
        return self.head(x)
