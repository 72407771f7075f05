"""Supernet parameters expanding (SE-NAS Sec. 3.4, Algorithm 1 lines 4-7) on the DARTS supernet.

As on NB201 (:mod:`benchmark.models.nb201_expanded`, both on
:class:`benchmark.models.expandable.ExpandableSupernet`): after a shrink, adjacent slots of one cell kind are
merged into child spaces of at most T partial models (:func:`benchmark.expanding.merge_groups`), earlier
child spaces kept whole; every partial model of a child space gets its own copy of the weights of that child
space's edges, in every cell of the slots' kind, starting from the weights that served the same path at the
merge.

DARTS specifics: a child space may hold pair slots (they have no weights) beside edge slots, and an edge
slot whose node's pair slot lies in the same child space is on the path only when that pair keeps its
input. A partial model is therefore named by its *canonical* choices (:func:`canonical`): such an unused
edge reads ``none``, so choices that build the same partial network share one copy. Only operations with
parameters or BatchNorm statistics are copied (pooling and the stride-1 identity need none).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from torch import nn

from benchmark.expanding import partial_key, plan_child_spaces
from benchmark.models.darts_network import DartsSupernet
from benchmark.models.expandable import ExpandableSupernet, Site
from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.darts import CELL_KINDS, EDGE_SLOT, PAIR_SLOT, SLOT_EDGE, SLOT_KIND, SLOT_NODE, kept


def canonical(arch: Arch, group: Sequence[int]) -> Arch:
    """``arch`` with ``none`` on the edge slots of ``group`` that the pair slot of their node, also in
    ``group``, leaves off the path (other slots unchanged)."""
    members = set(group)
    out = list(arch)
    for s in group:
        if SLOT_EDGE[s] is not None and PAIR_SLOT[SLOT_KIND[s], SLOT_NODE[s]] in members and not kept(arch, s):
            out[s] = "none"
    return tuple(out)


def stateful(module: nn.Module) -> bool:
    """Whether ``module`` has parameters or buffers (and so needs a copy per partial model)."""
    return any(True for _ in itertools.chain(module.parameters(), module.buffers()))


def copy_key(cell_index: int, slot: int, op: str, partial: str) -> str:
    """ModuleDict key of one copied edge operation (no dots allowed)."""
    return f"c{cell_index}/s{slot}/{op}/{partial}"


class ExpandableDartsSupernet(ExpandableSupernet, DartsSupernet):
    """A DARTS supernet whose merged child spaces hold one weight copy per partial model.

    A site is (cell, slot, arch): the operation ``arch[slot]`` on the edge of edge slot ``slot`` in one cell
    of the slot's kind.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_expanding()

    def edge_op(self, cell_index: int, edge: int, op: str, arch: Arch) -> nn.Module:
        shared = super().edge_op(cell_index, edge, op, arch)
        slot = EDGE_SLOT[self.kind(cell_index), edge]
        group = self.group_of.get(slot)
        if group is None or not stateful(shared):
            return shared
        return self.copies[copy_key(cell_index, slot, op, partial_key(canonical(arch, group), group))]

    def plan_groups(self, space: SearchSpace, T: int) -> list[tuple[int, ...]]:
        """Child spaces after merging (:func:`benchmark.expanding.plan_child_spaces`), within each cell kind
        (its slots are contiguous)."""
        out: list[tuple[int, ...]] = []
        for kind in CELL_KINDS:
            slots = [s for s in range(space.num_slots) if SLOT_KIND[s] == kind]
            out += plan_child_spaces(space, self.group_of, T, range(slots[0], slots[-1] + 1))
        return sorted(out)

    def partial_copies(self, group: tuple[int, ...], arch: Arch) -> Iterator[tuple[str, Site]]:
        """Every stateful edge operation on the path of the partial model, in every cell of its kind, named
        by the canonical choices (partial models that build the same network share one copy)."""
        canon = canonical(arch, group)
        partial = partial_key(canon, group)
        for s in group:
            if SLOT_EDGE[s] is None or canon[s] == "none":
                continue
            for k in range(self.layers):
                if self.kind(k) == SLOT_KIND[s] and stateful(self.shared_module((k, s, arch))):
                    yield copy_key(k, s, arch[s], partial), (k, s, arch)

    def shared_module(self, site: Site) -> nn.Module:
        k, s, arch = site
        return DartsSupernet.edge_op(self, k, SLOT_EDGE[s], arch[s], arch)

    def serving_module(self, site: Site) -> nn.Module:
        k, s, arch = site
        return self.edge_op(k, SLOT_EDGE[s], arch[s], arch)
