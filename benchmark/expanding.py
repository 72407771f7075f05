"""The merge rule of supernet parameters expanding (SE-NAS Sec. 3.4, Algorithm 1 line 4).

Adjacent layer-wise search spaces are merged from shallow to deep while the size of the merged child
space (the product of the layers' alive-operation counts) stays <= T; child spaces do not overlap and
are generated successively. Every partial model of a child space (one op per layer of the group) then
keeps its own copy of weights, named by :func:`partial_key`.
"""

from __future__ import annotations

import math
from typing import Sequence

from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch


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
