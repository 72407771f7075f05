"""Supernet parameters expanding (SE-NAS Sec. 3.4, Algorithm 1 lines 4-7) on the NB201 supernet.

After a shrink, adjacent edges are merged into child spaces of at most T partial models
(:func:`benchmark.expanding.merge_groups`); every partial model of a child space gets its own copy of the
weights of that child space's edges, in every cell, and trains independently from then on.

Choices (see ``docs/senas.md``):

* A copy starts from the weights that served the same path at the moment of merging (the shared weights,
  or the copy of an earlier, smaller child space that it contains).
* Child spaces already formed stay whole: the merge is computed over units that are the existing child
  spaces and the free edges, so a later merge only unites earlier ones (Sec. 3.4: "generated
  successively", "without overlaps").
* Only operations with weights or statistics are copied (``nor_conv_*``); ``none``, ``skip_connect`` and
  ``avg_pool_3x3`` are stateless and need no copy.
"""

from __future__ import annotations

import copy

from torch import nn

from benchmark.expanding import copy_partial_weights, partial_key, partial_models, plan_child_spaces
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.spaces.base import Arch, SearchSpace

STATELESS = frozenset({"none", "skip_connect", "avg_pool_3x3"})


def copy_key(cell_index: int, edge: int, op: str, partial: str) -> str:
    """ModuleDict key of one copied edge operation (no dots allowed)."""
    return f"c{cell_index}/e{edge}/{op}/{partial}"


class ExpandableNB201Supernet(NB201Supernet):
    """An NB201 supernet whose merged child spaces hold one weight copy per partial model."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.groups: list[tuple[int, ...]] = []
        self.copies = nn.ModuleDict()
        self._group_of: dict[int, tuple[int, ...]] = {}

    def edge_op(self, cell_index: int, edge: int, op: str, arch: Arch) -> nn.Module:
        group = self._group_of.get(edge)
        if group is None or op in STATELESS:
            return super().edge_op(cell_index, edge, op, arch)
        return self.copies[copy_key(cell_index, edge, op, partial_key(arch, group))]

    def plan_groups(self, space: SearchSpace, T: int) -> list[tuple[int, ...]]:
        """Child spaces after merging, existing ones kept whole (units merged shallow to deep, size <= T)."""
        return plan_child_spaces(space, self._group_of, T)

    def _copy_targets(self, space: SearchSpace, groups: list[tuple[int, ...]]):
        """(cell, edge, arch, partial key) of every stateful edge operation of every partial model."""
        for group, arch in partial_models(space, groups):
            partial = partial_key(arch, group)
            for s in group:
                if arch[s] not in STATELESS:
                    for k in range(len(self.cell_positions)):
                        yield k, s, arch, partial

    def expand(self, space: SearchSpace, T: int) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """Merge child spaces and copy weights for each partial model (Algorithm 1 lines 4-7).

        Returns (new parameter, the parameter it was copied from) pairs, so an optimizer's momentum can
        follow the copy. Copies of partial models that shrinking removed are dropped.
        """
        groups = self.plan_groups(space, T)
        self.copies, origins = copy_partial_weights(  # sources resolved with the groups before this merge
            (copy_key(k, s, arch[s], partial), self.edge_op(k, s, arch[s], arch))
            for k, s, arch, partial in self._copy_targets(space, groups))
        self.set_groups(groups)
        return origins

    def set_groups(self, groups: list[tuple[int, ...]]) -> None:
        self.groups = [tuple(g) for g in groups]
        self._group_of = {s: g for g in self.groups for s in g}

    def rebuild(self, space: SearchSpace, groups: list[tuple[int, ...]]) -> None:
        """Recreate the copies' structure for ``groups`` (before loading a checkpoint's weights)."""
        self.copies = nn.ModuleDict({
            copy_key(k, s, arch[s], partial): copy.deepcopy(NB201Supernet.edge_op(self, k, s, arch[s], arch))
            for k, s, arch, partial in self._copy_targets(space, groups)})
        self.set_groups(groups)
