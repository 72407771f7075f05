"""DARTS networks (Liu et al., ICLR 2019, Sec. 3; SE-NAS Sec. 3.5, Fig. 4): the single-path search supernet
and the networks built from a genotype for CIFAR and ImageNet.

Skeleton: a stem, ``layers`` cells, global average pooling and a linear classifier. Cell k reads the
outputs of cells k-2 and k-1 (both the stem's output for the first cell), preprocesses them to ``C``
channels (a factorized reduction when cell k-2 ran at twice the resolution, else ReLU-1x1 conv-BN),
computes its four nodes and concatenates them. Cells ``layers // 3`` and ``2 * layers // 3`` are
reduction cells (stride 2 on the edges leaving their inputs, channels doubled); the others are normal.

* CIFAR stem: 3x3 convolution to 3C channels + BatchNorm (search: 8 cells, C = 16; DARTS' CIFAR
  evaluation: 20 cells, C = 36). Auxiliary head after cell ``2 * layers // 3`` on 8x8 features.
* ImageNet stem (mobile setting, P-DARTS: 14 cells, C = 48): two stride-2 3x3 convolutions to C / 2 and
  C channels, then a third stride-2 convolution; the first cell sees a reduced cell k-2. Auxiliary
  head on the 7x7 features after cell ``2 * layers // 3``.

A genotype network returns ``(logits, auxiliary logits or None)`` like DARTS' networks; the supernet
returns logits. The supernet holds every operation of every edge; ``forward(x, arch)`` runs the path of a
DARTS-space architecture (two kept inputs per node, :mod:`benchmark.spaces.darts`), resolving each edge
module through :meth:`DartsSupernet.edge_op`, which SE-NAS's expanded supernet overrides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.models.darts_ops import FactorizedReduce, ReLUConvBN, darts_op, drop_path
from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.darts import (
    CELL_KINDS,
    EDGE_INDEX,
    EDGE_SLOT,
    EDGES,
    NODES,
    SLOTS,
    cell_path,
    check_arch,
    darts_space,
)
from benchmark.spaces.darts_genotypes import Entry, Genotype, check_genotype, genotype_from_arch

STEM_MULTIPLIER = 3  # CIFAR stem width = 3C


def reduction_layers(layers: int) -> tuple[int, int]:
    """Indices of the two reduction cells: ``layers // 3`` and ``2 * layers // 3``."""
    return layers // 3, 2 * layers // 3


def cell_preprocess(C_pp: int, C_p: int, C: int, reduction_prev: bool, affine: bool, track: bool) -> nn.ModuleList:
    """A cell's two input adapters to ``C`` channels: cell k-2's output (factorized reduction when cell
    k-1 reduced) and cell k-1's output (ReLU-1x1 conv-BN)."""
    pre0 = (FactorizedReduce(C_pp, C, affine, track) if reduction_prev
            else ReLUConvBN(C_pp, C, 1, 1, 0, affine, track))
    return nn.ModuleList([pre0, ReLUConvBN(C_p, C, 1, 1, 0, affine, track)])


class GenotypeCell(nn.Module):
    """One fixed cell of a genotype: ``ops[k]`` computes entry k on ``states[inputs[k]]``."""

    def __init__(self, entries: Sequence[Entry], concat: Sequence[int], C_pp: int, C_p: int, C: int,
                 reduction: bool, reduction_prev: bool, affine: bool = True, track: bool = True):
        super().__init__()
        self.reduction = reduction
        self.preprocess = cell_preprocess(C_pp, C_p, C, reduction_prev, affine, track)
        self.inputs = tuple(i for _, i in entries)
        self.concat = tuple(concat)
        self.multiplier = len(self.concat)
        self.ops = nn.ModuleList(darts_op(op, C, 2 if reduction and i < 2 else 1, affine, track)
                                 for op, i in entries)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess[0](s0), self.preprocess[1](s1)]
        for k in range(0, len(self.ops), 2):
            node = None
            for op, i in ((self.ops[k], self.inputs[k]), (self.ops[k + 1], self.inputs[k + 1])):
                h = op(states[i])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                node = h if node is None else node + h
            states.append(node)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier: ReLU, 5x5 average pooling, 1x1 conv to 128 + BN + ReLU, 2x2 conv to
    768 (+ BN on CIFAR; DARTS' ImageNet head has none) + ReLU, linear. Needs 8..10 px features on CIFAR
    (pooling stride 3) and 7..8 px on ImageNet (stride 2), which it pools to 1x1."""

    def __init__(self, C: int, num_classes: int, imagenet: bool):
        super().__init__()
        self.pool_stride = 2 if imagenet else 3
        layers: list[nn.Module] = [
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=self.pool_stride, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False)]
        if not imagenet:
            layers.append(nn.BatchNorm2d(768))
        layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def output_side(self, side: int) -> int:
        """Side of the features after pooling and the 2x2 convolution, for ``side`` px inputs."""
        pooled = (side - 5) // self.pool_stride + 1 if side >= 5 else 0
        return max(pooled - 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsSkeleton(nn.Module):
    """Stem, ``layers`` cells made by ``make_cell(index, C_pp, C_p, C, reduction, reduction_prev)`` (each
    with a ``multiplier``: the number of nodes it concatenates), pooling and classifier."""

    def __init__(self, make_cell: Callable[..., nn.Module], C: int, layers: int, num_classes: int,
                 imagenet: bool, auxiliary: bool = False):
        super().__init__()
        if C < 2 or layers < 3 or num_classes < 1:
            raise NasBenchError(f"a DARTS network with C={C}, layers={layers}, num_classes={num_classes} cannot "
                                "be built", "use C >= 2 and layers >= 3 (two reductions at 1/3 and 2/3)")
        self.C, self.layers, self.num_classes, self.imagenet = C, layers, num_classes, imagenet
        self.reductions = reduction_layers(layers)
        self.aux_index = self.reductions[1]
        if imagenet:
            self.stem = nn.Sequential(
                nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2),
                nn.ReLU(inplace=False), nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(C))
            self.stem1 = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
                                       nn.BatchNorm2d(C))
            C_pp = C_p = C
            reduction_prev = True
        else:
            C_stem = STEM_MULTIPLIER * C
            self.stem = nn.Sequential(nn.Conv2d(3, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
            self.stem1 = None
            C_pp = C_p = C_stem
            reduction_prev = False
        cells: list[nn.Module] = []
        C_curr = C
        C_aux = C_p
        for i in range(layers):
            reduction = i in self.reductions
            if reduction:
                C_curr *= 2
            cell = make_cell(i, C_pp, C_p, C_curr, reduction, reduction_prev)
            cells.append(cell)
            reduction_prev = reduction
            C_pp, C_p = C_p, cell.multiplier * C_curr
            if i == self.aux_index:
                C_aux = C_p
        self.cells = nn.ModuleList(cells)
        self.auxiliary_head = AuxiliaryHead(C_aux, num_classes, imagenet) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two inputs of the first cell."""
        s0 = self.stem(x)
        return (s0, self.stem1(s0)) if self.stem1 is not None else (s0, s0)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(x).flatten(1))

    def shared_modules(self) -> list[nn.Module]:
        """Modules outside the cells: stem(s) and classifier (the auxiliary head is not shared)."""
        return [m for m in (self.stem, self.stem1, self.classifier) if m is not None]

    def check_image_size(self, side: int) -> None:
        """A one-line error when ``side`` px images cannot pass: a factorized reduction needs an even side,
        and the auxiliary head needs 8..10 px (CIFAR) or 7..8 px (ImageNet) features."""
        stride = 32 if self.imagenet else 4
        fix = f"use an image size that is a multiple of {stride}" + (
            " giving 7 or 8 px before the head (224 or 256)" if self.imagenet and self.auxiliary_head else "")

        def halve(s: int, where: str) -> int:
            if s % 2:
                raise NasBenchError(f"{side}px images reach {where} at an odd size ({s}px), which a factorized "
                                    "reduction cannot halve", fix)
            return s // 2

        s = side
        if self.imagenet:  # two stride-2 3x3 convolutions (ceil halving), then the first cell's reduction
            s = halve(math.ceil(math.ceil(s / 2) / 2), "the first cell")
        for i in range(self.layers):
            if i in self.reductions:
                s = halve(s, f"reduction cell {i}")
            if i == self.aux_index and self.auxiliary_head is not None and self.auxiliary_head.output_side(s) != 1:
                raise NasBenchError(f"{side}px images give {s}px features at the auxiliary head, which needs "
                                    f"{'7..8' if self.imagenet else '8..10'}px", fix)


class GenotypeNetwork(DartsSkeleton):
    """The network of a genotype (DARTS' ``NetworkCIFAR`` / ``NetworkImageNet``); ``drop_path_prob`` is
    set by the trainer per epoch. ``affine`` / ``track`` set the cells' BatchNorm (DARTS retrains with both)."""

    def __init__(self, genotype: Genotype, C: int, layers: int, num_classes: int, imagenet: bool = False,
                 auxiliary: bool = False, affine: bool = True, track: bool = True):
        check_genotype(genotype)
        self.genotype = genotype

        def make_cell(i: int, C_pp: int, C_p: int, C_cell: int, reduction: bool, reduction_prev: bool):
            entries, concat = genotype.cell("reduce" if reduction else "normal")
            return GenotypeCell(entries, concat, C_pp, C_p, C_cell, reduction, reduction_prev, affine, track)

        super().__init__(make_cell, C, layers, num_classes, imagenet, auxiliary)
        self.drop_path_prob = 0.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and, while training with an auxiliary head, the auxiliary logits (else ``None``), as
        DARTS' networks return them."""
        s0, s1 = self.stems(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.head(s1), aux


def darts_cifar_network(genotype: Genotype, C: int = 36, layers: int = 20, num_classes: int = 10,
                        auxiliary: bool = False, affine: bool = True, track: bool = True) -> GenotypeNetwork:
    """DARTS' CIFAR evaluation network of ``genotype`` (defaults: DARTS' 20 cells, C = 36)."""
    return GenotypeNetwork(genotype, C, layers, num_classes, False, auxiliary, affine, track)


def darts_imagenet_network(genotype: Genotype, C: int = 48, layers: int = 14, num_classes: int = 1000,
                           auxiliary: bool = True) -> GenotypeNetwork:
    """The ImageNet mobile-setting network of ``genotype`` (P-DARTS / DARTS: 14 cells, C = 48)."""
    return GenotypeNetwork(genotype, C, layers, num_classes, True, auxiliary)


class SearchCell(nn.Module):
    """A supernet cell: preprocessing and every operation of every edge, ``edges[e][op]``."""

    def __init__(self, ops: Sequence[Sequence[str]], C_pp: int, C_p: int, C: int, reduction: bool,
                 reduction_prev: bool, affine: bool, track: bool):
        super().__init__()
        self.reduction = reduction
        self.multiplier = len(NODES)
        self.preprocess = cell_preprocess(C_pp, C_p, C, reduction_prev, affine, track)
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: darts_op(op, C, 2 if reduction and i < 2 else 1, affine, track) for op in ops[e]})
            for e, (_, i) in enumerate(EDGES))


class DartsSupernet(DartsSkeleton):
    """The single-path DARTS supernet on CIFAR (SE-NAS Sec. 4.3: 8 cells, C = 16).

    Every operation of every edge of every cell owns its weights; a path uses the two kept edges of each
    node. Cell BatchNorm is non-affine by default as in DARTS' search network (``bn_affine``), tracking
    statistics or not (``bn_track``); the stem keeps affine, tracked BatchNorm.
    """

    def __init__(self, num_classes: int = 10, C: int = 16, layers: int = 8, bn_affine: bool = False,
                 bn_track: bool = True, space: SearchSpace | None = None):
        space = darts_space() if space is None else space
        if tuple(space.slots) != SLOTS:
            raise NasBenchError(f"space {space.name!r} is not the DARTS space",
                                "build the supernet from benchmark.spaces.darts.darts_space()")
        self.choices = tuple(tuple(c) for c in space.choices)
        ops = {kind: [self.choices[EDGE_SLOT[kind, e]] for e in range(len(EDGES))] for kind in CELL_KINDS}

        def make_cell(i: int, C_pp: int, C_p: int, C_cell: int, reduction: bool, reduction_prev: bool):
            return SearchCell(ops["reduce" if reduction else "normal"], C_pp, C_p, C_cell, reduction, reduction_prev,
                              bn_affine, bn_track)

        super().__init__(make_cell, C, layers, num_classes, imagenet=False)
        self.bn_affine, self.bn_track = bn_affine, bn_track

    def check_arch(self, arch: Arch) -> Arch:
        return check_arch(arch)

    def kind(self, cell_index: int) -> str:
        return "reduce" if cell_index in self.reductions else "normal"

    def edge_op(self, cell_index: int, edge: int, op: str, arch: Arch) -> nn.Module:
        """The module computing ``op`` on ``edge`` (0..13) of cell ``cell_index`` when the path is ``arch``.
        Here one set of weights per operation; subclasses may hand out copies keyed by (part of) ``arch``."""
        return self.cells[cell_index].edges[edge][op]

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        arch = check_arch(arch)
        paths = {kind: cell_path(arch, kind) for kind in CELL_KINDS}
        s0, s1 = self.stems(x)
        for k, cell in enumerate(self.cells):
            path = paths[self.kind(k)]
            states = [cell.preprocess[0](s0), cell.preprocess[1](s1)]
            for n, j in enumerate(NODES):
                node = None
                for op, i in path[2 * n:2 * n + 2]:
                    h = self.edge_op(k, EDGE_INDEX[j, i], op, arch)(states[i])
                    node = h if node is None else node + h
                states.append(node)
            s0, s1 = s1, torch.cat(states[2:], dim=1)
        return self.head(s1)

    def to_standalone(self, arch: Arch) -> GenotypeNetwork:
        """The CIFAR network of ``arch``'s genotype holding copies of this path's weights and BatchNorm
        statistics, with the supernet's BatchNorm settings, device, dtype and mode."""
        arch = check_arch(arch)
        genotype = genotype_from_arch(arch)
        net = darts_cifar_network(genotype, self.C, self.layers, self.num_classes, affine=self.bn_affine,
                                  track=self.bn_track)
        ref = self.classifier.weight
        net.to(device=ref.device, dtype=ref.dtype)
        for dst, src in zip(net.shared_modules(), self.shared_modules()):
            dst.load_state_dict(src.state_dict())
        for k, (dst, src) in enumerate(zip(net.cells, self.cells)):
            dst.preprocess.load_state_dict(src.preprocess.state_dict())
            entries = genotype.cell(self.kind(k))[0]
            for n, (op, i) in enumerate(entries):
                j = NODES[n // 2]
                dst.ops[n].load_state_dict(self.edge_op(k, EDGE_INDEX[j, i], op, arch).state_dict())
        return net.train(self.training)
