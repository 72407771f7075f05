"""The DARTS relaxation of the DARTS space's slots, for the ``magnitude`` criterion (SE-NAS Sec. 4.2/4.3).

Every slot gets architecture weights ``softmax(alpha[s])`` over its alive choices
(:func:`benchmark.relaxation.alive_softmax`): an edge slot mixes its operations (DARTS Eq. 2), and a pair
slot mixes the input pairs of its node, so input i of node j is weighted by the summed weight of the
alive pairs that keep it (the topology relaxation of DOTS, Gu et al. 2021, which DARTS' top-2 edge rule
approximates). A node thus sums two inputs' worth of signal, as a genotype node does. The cells are the
supernet's (:class:`benchmark.models.darts_network.SearchCell`, non-affine BatchNorm), so a one-hot
mixture computes exactly the supernet's path; like NB201's DARTS baseline, pooling gets no extra
BatchNorm.

Training (first-order DARTS: a weight step on a training batch, an alpha step on a validation batch) and
the table the criterion reads are :class:`benchmark.relaxation.DartsRelaxation`'s; only the mixed network
differs. Registered as the ``darts`` relaxation, so ``magnitude`` accepts the space.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from benchmark.darts.presets import SearchPreset
from benchmark.errors import NasBenchError
from benchmark.models.darts_network import DartsSkeleton, SearchCell
from benchmark.relaxation import RELAXATIONS, DartsRelaxation
from benchmark.spaces.base import SearchSpace
from benchmark.spaces.darts import (
    EDGE_INDEX,
    EDGE_SLOT,
    EDGES,
    NODES,
    PAIR_SLOT,
    SLOTS,
    darts_space,
    pair_inputs,
)

SlotWeights = Mapping[str, torch.Tensor | float]


class DartsMixedNetwork(DartsSkeleton):
    """The DARTS search network whose slots are mixed by the weights the caller passes, one map per slot
    (parameter layout of :class:`benchmark.models.darts_network.DartsSupernet`)."""

    def __init__(self, num_classes: int = 10, C: int = 16, layers: int = 8, bn_track: bool = False,
                 space: SearchSpace | None = None):
        space = darts_space() if space is None else space
        if tuple(space.slots) != SLOTS:
            raise NasBenchError(f"space {space.name!r} is not the DARTS space",
                                "build the network from benchmark.spaces.darts.darts_space()")

        def make_cell(i: int, C_pp: int, C_p: int, C_cell: int, reduction: bool, reduction_prev: bool):
            kind = "reduce" if reduction else "normal"
            ops = [space.choices[EDGE_SLOT[kind, e]] for e in range(len(EDGES))]
            return SearchCell(ops, C_pp, C_p, C_cell, reduction, reduction_prev, False, bn_track)

        super().__init__(make_cell, C, layers, num_classes, imagenet=False)

    def forward(self, x: torch.Tensor, slot_weights: Sequence[SlotWeights]) -> torch.Tensor:
        """Logits with ``slot_weights[s][choice]`` weighting the choices of slot ``s`` in every cell of its
        kind; choices missing from a map are not run (an edge whose input no pair keeps is skipped)."""
        if len(slot_weights) != len(SLOTS):
            raise ValueError(f"{len(slot_weights)} slot weight maps given, the DARTS space has {len(SLOTS)} slots")
        s0, s1 = self.stems(x)
        for k, cell in enumerate(self.cells):
            kind = "reduce" if k in self.reductions else "normal"
            states = [cell.preprocess[0](s0), cell.preprocess[1](s1)]
            for j in NODES:
                beta: dict[int, torch.Tensor | float] = defaultdict(float)
                for pair, w in slot_weights[PAIR_SLOT[kind, j]].items():
                    for i in pair_inputs(pair):
                        beta[i] = beta[i] + w
                node = 0
                for i, b in sorted(beta.items()):
                    e = EDGE_INDEX[j, i]
                    mixed = sum(w * cell.edges[e][op](states[i]) for op, w in slot_weights[EDGE_SLOT[kind, e]].items())
                    node = node + b * mixed
                states.append(node)
            s0, s1 = s1, torch.cat(states[2:], dim=1)
        return self.head(s1)


@RELAXATIONS.register("darts")
class DartsSpaceRelaxation(DartsRelaxation):
    """First-order DARTS on the alive DARTS space; ``C`` and ``layers`` (the constructor's fourth argument)
    size its own search network.

    Same interface and state as the NB201 relaxation (``epoch``, :meth:`train_epochs`, :meth:`weights`,
    :meth:`state_dict`); only the network is built here (:meth:`build_network`).
    """

    def build_network(self, num_classes: int, C: int, layers: int, preset: SearchPreset) -> nn.Module:
        return DartsMixedNetwork(num_classes, C, layers, bn_track=preset.bn_track, space=self.space)

