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
import itertools
import math

from torch import nn

from benchmark.expanding import merge_groups, partial_key
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
        units: list[tuple[int, ...]] = []
        edge = 0
        while edge < space.num_slots:
            group = self._group_of.get(edge, (edge,))
            units.append(group)
            edge = group[-1] + 1
        sizes = [math.prod(len(space.alive[s]) for s in u) for u in units]
        merged = merge_groups(sizes, T)
        grouped = {i for g in merged for i in g}
        out = [tuple(s for i in g for s in units[i]) for g in merged]
        out += [u for i, u in enumerate(units) if len(u) > 1 and i not in grouped]
        return sorted(out)

    def _copy_targets(self, space: SearchSpace, groups: list[tuple[int, ...]]):
        """(cell, edge, arch, partial key) of every stateful edge operation of every partial model."""
        filler = tuple(ops[0] for ops in space.alive)
        for group in groups:
            for ops in itertools.product(*(space.alive[s] for s in group)):
                arch = list(filler)
                for s, op in zip(group, ops):
                    arch[s] = op
                arch = tuple(arch)
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
        copies: dict[str, nn.Module] = {}
        origins: list[tuple[nn.Parameter, nn.Parameter]] = []
        for k, s, arch, partial in self._copy_targets(space, groups):
            source = self.edge_op(k, s, arch[s], arch)  # resolved with the groups before this merge
            module = copy.deepcopy(source)
            copies[copy_key(k, s, arch[s], partial)] = module
            origins += list(zip(module.parameters(), source.parameters()))
        self.copies = nn.ModuleDict(copies)
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
