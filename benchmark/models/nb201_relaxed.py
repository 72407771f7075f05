"""The DARTS search network on the NB201 skeleton (Liu et al., ICLR 2019, Sec. 2.1, Eq. 1-2; NB201's
``TinyNetworkDarts``).

Each cell holds every candidate operation of every edge (the supernet's :class:`NB201SearchCell`, so
the parameter layout equals :class:`NB201Supernet`'s), and each edge computes the mixed operation of
Eq. 2, ``o_bar(x) = sum_o w_o * o(x)``, over the operations given a weight. The weights come from the
caller (:mod:`benchmark.relaxation` takes a softmax over the alive operations); one weight vector per
edge is shared by all cells, as in NB201's DARTS baseline.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.models.nb201_network import NB201Skeleton
from benchmark.models.nb201_ops import cell_forward
from benchmark.models.nb201_supernet import NB201SearchCell
from benchmark.spaces.base import SearchSpace
from benchmark.spaces.nb201 import EDGE_NAMES, nb201_space

EdgeWeights = Mapping[str, torch.Tensor | float]
"""The weight w_o of every operation that takes part in one edge's mixed operation."""


def mixed_op(ops: nn.ModuleDict, weights: EdgeWeights) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Eq. 2 on one edge: ``x -> sum_o w_o * ops[o](x)`` over the operations in ``weights`` only.

    ``none`` contributes zeros and is not run; ``None`` (the cell rule's empty edge) when no other
    operation has a weight.
    """
    terms = [(ops[op], w) for op, w in weights.items() if op != "none"]
    if not terms:
        return None
    return lambda x: sum(w * op(x) for op, w in terms)


class NB201MixedNetwork(NB201Skeleton):
    """NB201 skeleton whose edges compute weighted sums of their candidate operations (DARTS Eq. 2).

    Cell BatchNorm is non-affine by default, as in NB201's DARTS baseline; the stem, reduction blocks
    and lastact keep affine, tracked BatchNorm.
    """

    def __init__(self, num_classes: int = 10, C: int = 16, N: int = 5, bn_affine: bool = False,
                 bn_track: bool = False, space: SearchSpace | None = None):
        space = nb201_space() if space is None else space
        if tuple(space.slots) != EDGE_NAMES:
            raise NasBenchError(f"space {space.name!r} has slots {space.slots}, not the NB201 edges",
                                "build the network from benchmark.spaces.nb201.nb201_space()")
        choices = tuple(tuple(ops) for ops in space.choices)
        super().__init__(lambda C_cell: NB201SearchCell(choices, C_cell, bn_affine, bn_track),
                         num_classes, C, N)
        self.choices = choices
        positions = set(self.cell_positions)
        self._is_cell = tuple(p in positions for p in range(len(self.cells)))

    def forward(self, x: torch.Tensor, edge_weights: Sequence[EdgeWeights]) -> torch.Tensor:
        """Logits with ``edge_weights[e][op]`` weighting ``op`` on edge ``e`` of every cell; operations
        missing from ``edge_weights[e]`` are not run."""
        if len(edge_weights) != len(EDGE_NAMES):
            raise ValueError(f"{len(edge_weights)} edge weight maps given, NB201 cells have 6 edges")
        x = self.stem(x)
        for is_cell, layer in zip(self._is_cell, self.cells):
            if is_cell:
                edges = [mixed_op(layer.edges[name], w) for name, w in zip(EDGE_NAMES, edge_weights)]
                x = cell_forward(x, edges)
            else:
                x = layer(x)
        return self.head(x)
