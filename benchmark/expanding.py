"""The merge rule of supernet parameters expanding (SE-NAS Sec. 3.4, Algorithm 1 line 4).

Adjacent layer-wise search spaces are merged from shallow to deep while the size of the merged child
space (the product of the layers' alive-operation counts) stays <= T; child spaces do not overlap and
are generated successively. Every partial model of a child space (one op per layer of the group) then
keeps its own copy of weights, named by :func:`partial_key`.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

from torch import nn

from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch, SearchSpace


def merge_groups(sizes: Sequence[int], T: int) -> list[tuple[int, ...]]:
    """Child spaces as tuples of 0-based layer indices, shallow to deep, each of >= 2 layers.

    Greedy: a group starts at the first layer not yet grouped and absorbs the next layer while the
    product of sizes stays <= T; a group of one layer is dropped (a single layer already has
    independent weights per op) and the next group starts right after it.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise NasBenchError(f"merge threshold T={T!r} is invalid", "use an integer T >= 1 (SE-NAS uses 50)")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise NasBenchError(f"layer sizes {list(sizes)} are invalid", "give each layer's alive-op count >= 1")
    groups: list[tuple[int, ...]] = []
    start = 0
    while start < len(sizes):
        end = start + 1
        while end < len(sizes) and math.prod(sizes[start : end + 1]) <= T:
            end += 1
        if end - start >= 2:
            groups.append(tuple(range(start, end)))
        start = end
    return groups


def partial_key(arch: Arch, group: Sequence[int]) -> str:
    """Name of the partial model ``arch`` selects in a child space, e.g. ``'1,2,3:none|skip_connect|none'``.

    Slots are listed so keys of different groups never collide; with dot-free op names it is a valid
    ``torch.nn.ModuleDict`` key.
    """
    if not group or any(not 0 <= s < len(arch) for s in group):
        raise NasBenchError(
            f"group {list(group)} is not a non-empty set of slots of a {len(arch)}-slot architecture",
            "pass a group returned by merge_groups",
        )
    return ",".join(map(str, group)) + ":" + "|".join(arch[s] for s in group)


def plan_child_spaces(space: SearchSpace, group_of: Mapping[int, tuple[int, ...]], T: int,
                      slots: range | None = None) -> list[tuple[int, ...]]:
    """Child spaces after merging over the contiguous ``slots`` (default: all), existing ones kept whole.

    The units are the existing child spaces (``group_of`` maps each of their slots to the whole group) and
    the free slots; they are merged shallow to deep by :func:`merge_groups` on their sizes (products of
    alive-op counts), so a later merge only unites earlier child spaces ("generated successively",
    "without overlaps", Sec. 3.4). An existing child space that joins no merge stays as it is.
    """
    slots = range(space.num_slots) if slots is None else slots
    units: list[tuple[int, ...]] = []
    slot = slots.start
    while slot < slots.stop:
        unit = group_of.get(slot, (slot,))
        units.append(unit)
        slot = unit[-1] + 1
    sizes = [math.prod(len(space.alive[s]) for s in u) for u in units]
    merged = merge_groups(sizes, T)
    grouped = {i for g in merged for i in g}
    out = [tuple(s for i in g for s in units[i]) for g in merged]
    out += [u for i, u in enumerate(units) if len(u) > 1 and i not in grouped]
    return sorted(out)


def partial_models(space: SearchSpace, groups: Sequence[tuple[int, ...]]) -> Iterator[tuple[tuple[int, ...], Arch]]:
    """Every partial model of every child space in ``groups``, as (group, arch): ``arch`` takes the partial
    model's ops on the group's slots and the first alive op elsewhere."""
    filler = tuple(ops[0] for ops in space.alive)
    for group in groups:
        for ops in itertools.product(*(space.alive[s] for s in group)):
            arch = list(filler)
            for s, op in zip(group, ops):
                arch[s] = op
            yield group, tuple(arch)


def copy_partial_weights(sources: Iterable[tuple[str, nn.Module]]
                         ) -> tuple[nn.ModuleDict, list[tuple[nn.Parameter, nn.Parameter]]]:
    """A deep copy of every (key, source module) (Algorithm 1 lines 5-7), and the (copy, source) parameter
    pairs so an optimizer's momentum can follow the copy. ``sources`` is consumed before returning."""
    copies: dict[str, nn.Module] = {}
    origins: list[tuple[nn.Parameter, nn.Parameter]] = []
    for key, source in sources:
        module = copy.deepcopy(source)
        copies[key] = module
        origins += list(zip(module.parameters(), source.parameters()))
    return nn.ModuleDict(copies), origins
