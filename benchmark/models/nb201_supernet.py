"""The NB201 weight-sharing supernet for single-path training (SPOS Eq. 1; NB201 Sec. 5 baselines).

Every candidate operation of every edge of every cell owns its weights; ``forward(x, arch)`` runs one
architecture, so only that path's operations execute. As in NB201's weight-sharing baselines, the
cells' BatchNorm is non-affine by default (``bn_affine=False``) and tracks running statistics or not
(``bn_track``); the stem, the reduction blocks and lastact keep affine, tracked BatchNorm.

Each edge's operation module is resolved through :meth:`NB201Supernet.edge_op`, the single place a
subclass overrides to hand out other weights, e.g. SE-NAS's expanded copies keyed by a partial
architecture (SE-NAS Sec. 3.2).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.models.nb201_network import NB201Network, NB201Skeleton, as_arch
from benchmark.models.nb201_ops import cell_forward, nb201_op
from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.nb201 import EDGE_NAMES, nb201_space


class NB201SearchCell(nn.Module):
    """A cell holding every candidate operation: ``edges[edge_name][op_name]``."""

    def __init__(self, choices: Sequence[Sequence[str]], C: int, affine: bool, track_running_stats: bool):
        super().__init__()
        self.edges = nn.ModuleDict({
            edge: nn.ModuleDict({op: nb201_op(op, C, affine, track_running_stats) for op in ops})
            for edge, ops in zip(EDGE_NAMES, choices)
        })


class NB201Supernet(NB201Skeleton):
    """Single-path supernet over the NB201 cell space (or ``space``, a subset of its operations)."""

    def __init__(self, num_classes: int = 10, C: int = 16, N: int = 5, bn_affine: bool = False,
                 bn_track: bool = True, space: SearchSpace | None = None):
        space = nb201_space() if space is None else space
        if tuple(space.slots) != EDGE_NAMES:
            raise NasBenchError(f"space {space.name!r} has slots {space.slots}, not the NB201 edges",
                                "build the supernet from benchmark.spaces.nb201.nb201_space()")
        choices = tuple(tuple(ops) for ops in space.choices)
        super().__init__(lambda C_cell: NB201SearchCell(choices, C_cell, bn_affine, bn_track),
                         num_classes, C, N)
        self.choices = choices
        self.bn_affine, self.bn_track = bn_affine, bn_track
        positions = set(self.cell_positions)
        self._is_cell = tuple(p in positions for p in range(len(self.cells)))

    def check_arch(self, arch: str | Arch) -> Arch:
        """``arch`` as an operation tuple, or a one-line error if the supernet lacks one of its ops."""
        if isinstance(arch, str):
            arch = as_arch(arch)
        if len(arch) != len(self.choices) or any(op not in ops for op, ops in zip(arch, self.choices)):
            raise NasBenchError(f"architecture {arch!r} is not in this supernet's space",
                                f"give one operation per edge from {[list(c) for c in self.choices]}")
        return tuple(arch)

    def edge_op(self, cell_index: int, edge: int, op: str, arch: Arch) -> nn.Module:
        """The module computing ``op`` on ``edge`` (0..5) of searchable cell ``cell_index`` (0..3N-1)
        when the sampled architecture is ``arch``. Here every op has one set of weights, whatever
        ``arch``; subclasses may return a copy keyed by (part of) ``arch``."""
        return self.cells[self.cell_positions[cell_index]].edges[EDGE_NAMES[edge]][op]

    def path_ops(self, cell_index: int, arch: Arch) -> list[nn.Module | None]:
        """The six edge modules of one cell for ``arch``; ``None`` for ``none`` edges."""
        return [None if op == "none" else self.edge_op(cell_index, e, op, arch) for e, op in enumerate(arch)]

    def forward(self, x: torch.Tensor, arch: str | Arch) -> torch.Tensor:
        arch = self.check_arch(arch)
        x = self.stem(x)
        k = 0
        for is_cell, layer in zip(self._is_cell, self.cells):
            if is_cell:
                x = cell_forward(x, self.path_ops(k, arch))
                k += 1
            else:
                x = layer(x)
        return self.head(x)

    def path_parameters(self, arch: str | Arch) -> list[nn.Parameter]:
        """The parameters ``forward(x, arch)`` uses: shared modules plus every non-``none`` edge op of
        ``arch`` (also on edges that never reach the cell output, which still run, as in NB201)."""
        arch = self.check_arch(arch)
        modules = self.shared_modules()
        for k in range(len(self.cell_positions)):
            modules += [m for m in self.path_ops(k, arch) if m is not None]
        seen: dict[int, nn.Parameter] = {}
        for m in modules:
            for p in m.parameters():
                seen.setdefault(id(p), p)
        return list(seen.values())

    def to_standalone(self, arch: str | Arch) -> NB201Network:
        """The standalone :class:`NB201Network` of ``arch`` holding copies of this path's weights and
        BatchNorm statistics, with the supernet's cell BatchNorm settings, device, dtype and mode."""
        arch = self.check_arch(arch)
        net = NB201Network(arch, self.num_classes, self.C, self.N, affine=self.bn_affine,
                           track_running_stats=self.bn_track)
        ref = self.classifier.weight
        net.to(device=ref.device, dtype=ref.dtype)
        for dst, src in zip(net.shared_modules(), self.shared_modules()):
            dst.load_state_dict(src.state_dict())
        for k, pos in enumerate(net.cell_positions):
            for e, src in enumerate(self.path_ops(k, arch)):
                if src is not None:
                    net.cells[pos].edges[e].load_state_dict(src.state_dict())
        return net.train(self.training)
