"""Supernet parameters expanding (SE-NAS Sec. 3.4, Algorithm 1 lines 4-7) on the NB201 supernet.

After a shrink, adjacent edges are merged into child spaces of at most T partial models
(:func:`benchmark.expanding.merge_groups`); every partial model of a child space gets its own copy of the
weights of that child space's edges, in every cell, and trains independently from then on. The merge and
copy steps are :class:`benchmark.models.expandable.ExpandableSupernet`'s; this module says which edge
operations a partial model copies and how they are named.

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

from collections.abc import Iterator

from torch import nn

from benchmark.expanding import partial_key
from benchmark.models.expandable import ExpandableSupernet, Site
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.spaces.base import Arch

STATELESS = frozenset({"none", "skip_connect", "avg_pool_3x3"})


def copy_key(cell_index: int, edge: int, op: str, partial: str) -> str:
    """ModuleDict key of one copied edge operation (no dots allowed)."""
    return f"c{cell_index}/e{edge}/{op}/{partial}"


class ExpandableNB201Supernet(ExpandableSupernet, NB201Supernet):
    """An NB201 supernet whose merged child spaces hold one weight copy per partial model.

    A site is (cell, edge, arch): the edge's operation ``arch[edge]`` in one searchable cell.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_expanding()

    def edge_op(self, cell_index: int, edge: int, op: str, arch: Arch) -> nn.Module:
        group = self.group_of.get(edge)
        if group is None or op in STATELESS:
            return super().edge_op(cell_index, edge, op, arch)
        return self.copies[copy_key(cell_index, edge, op, partial_key(arch, group))]

    def partial_copies(self, group: tuple[int, ...], arch: Arch) -> Iterator[tuple[str, Site]]:
        """Every stateful edge operation of the partial model, in every cell."""
        partial = partial_key(arch, group)
        for s in group:
            if arch[s] not in STATELESS:
                for k in range(len(self.cell_positions)):
                    yield copy_key(k, s, arch[s], partial), (k, s, arch)

    def shared_module(self, site: Site) -> nn.Module:
        k, s, arch = site
        return NB201Supernet.edge_op(self, k, s, arch[s], arch)

    def serving_module(self, site: Site) -> nn.Module:
        k, s, arch = site
        return self.edge_op(k, s, arch[s], arch)
