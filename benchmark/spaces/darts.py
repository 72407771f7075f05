"""The DARTS cell space (Liu et al., ICLR 2019; SE-NAS Sec. 3.5 and Fig. 4) as single-path choice slots.

A cell has two input nodes (0: the output of the cell before the previous one, 1: the previous cell's),
four intermediate nodes 2..5 and 14 edges: node j may read every earlier node i < j. Every edge carries
one of 8 operations (none included), so the paper counts ``8 ** 14`` cells per cell kind
(:data:`EDGE_SPACE_SIZE`); the network has a normal and a reduction cell kind.

A DARTS genotype keeps exactly two inputs per intermediate node, each through a non-``none`` operation.
Our slots generate exactly those cells, so that a single sampled path is always a genotype:

* per node j, a **pair slot** ``<kind>:<j>:inputs`` choosing the two inputs it keeps, e.g. ``0+2``
  (1, 3, 6 and 10 choices for nodes 2..5);
* per edge, an **edge slot** ``<kind>:<j><-<i>`` choosing its operation among the 7 non-``none`` ones
  (:data:`OPS`); it is used when the pair slot of node j keeps input i, and ignored otherwise.

Slots are ordered cell kind, then node, then [pair slot, edges in input order]; 18 per kind, 36 in all.
The *edge view* of an architecture (:func:`edge_view`) writes ``none`` on every edge its node does not
keep: that is its point among the paper's ``8 ** 14`` assignments (the ones with exactly two
non-``none`` edges per node). A uniform architecture is a uniform genotype: each genotype has
``7 ** 6`` architectures per cell kind (the six ignored edge slots), so there are
:data:`GENOTYPES_PER_CELL` = 180 * 7 ** 8 genotypes per cell kind among ``180 * 7 ** 14`` slot values.
SE-NAS shrinking removes operations from edge slots (edge-wise spaces, Sec. 4.3) and input pairs from
pair slots.
"""

from __future__ import annotations

import itertools
import math

from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch, SearchSpace

PRIMITIVES: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                               "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
"""The 8 DARTS operations, in the order of DARTS' ``genotypes.PRIMITIVES``."""
OPS: tuple[str, ...] = PRIMITIVES[1:]
"""The operations an edge slot chooses from (a kept edge never carries ``none``)."""
CELL_KINDS: tuple[str, ...] = ("normal", "reduce")
STEPS = 4  # intermediate nodes per cell
NODES: tuple[int, ...] = tuple(range(2, 2 + STEPS))
EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for j in NODES for i in range(j))
"""Edge e of a cell as (node j, input i), in DARTS' edge order (node-major, inputs ascending)."""
EDGE_INDEX: dict[tuple[int, int], int] = {edge: e for e, edge in enumerate(EDGES)}
PAIRS: dict[int, tuple[str, ...]] = {j: tuple(f"{a}+{b}" for a, b in itertools.combinations(range(j), 2))
                                     for j in NODES}
"""The choices of node j's pair slot: two distinct inputs ``a+b`` with a < b < j."""

EDGE_SPACE_SIZE = len(PRIMITIVES) ** len(EDGES)
"""8 ** 14: the paper's count of cells per kind (one of 8 operations on each of the 14 edges)."""
GENOTYPES_PER_CELL = math.prod(len(PAIRS[j]) for j in NODES) * len(OPS) ** (2 * STEPS)
"""180 * 7 ** 8: the cells per kind with two inputs per node (the paths a supernet can take)."""


def _cell_slots(kind: str) -> list[tuple[str, tuple[str, ...], int | None, int]]:
    """(slot name, choices, edge index or None for a pair slot, node) of one cell kind, in slot order."""
    out: list[tuple[str, tuple[str, ...], int | None, int]] = []
    for j in NODES:
        out.append((f"{kind}:{j}:inputs", PAIRS[j], None, j))
        out += [(f"{kind}:{j}<-{i}", OPS, EDGE_INDEX[j, i], j) for i in range(j)]
    return out


_LAYOUT = [(kind, *slot) for kind in CELL_KINDS for slot in _cell_slots(kind)]
SLOTS: tuple[str, ...] = tuple(name for _, name, _, _, _ in _LAYOUT)
CHOICES: tuple[tuple[str, ...], ...] = tuple(choices for _, _, choices, _, _ in _LAYOUT)
SLOT_KIND: tuple[str, ...] = tuple(kind for kind, *_ in _LAYOUT)
SLOT_EDGE: tuple[int | None, ...] = tuple(edge for _, _, _, edge, _ in _LAYOUT)
"""The edge index (0..13) of an edge slot; ``None`` for a pair slot."""
SLOT_NODE: tuple[int, ...] = tuple(node for *_, node in _LAYOUT)
EDGE_SLOT: dict[tuple[str, int], int] = {(k, e): s for s, (k, e) in enumerate(zip(SLOT_KIND, SLOT_EDGE))
                                         if e is not None}
PAIR_SLOT: dict[tuple[str, int], int] = {(k, j): s for s, (k, e, j) in enumerate(zip(SLOT_KIND, SLOT_EDGE, SLOT_NODE))
                                         if e is None}

CellPath = tuple[tuple[str, int], ...]
"""One cell of a path as DARTS genotype entries: (operation, input) twice per node, inputs ascending."""


def darts_space() -> SearchSpace:
    """A fresh DARTS space: 36 slots (per cell kind 4 pair slots and 14 edge slots), all alive."""
    return SearchSpace("darts", SLOTS, CHOICES)


def pair_inputs(choice: str) -> tuple[int, int]:
    """``'0+2'`` -> (0, 2)."""
    a, b = choice.split("+")
    return int(a), int(b)


def check_arch(arch: Arch) -> Arch:
    """``arch`` as a tuple if it gives one valid choice per slot, else a one-line error."""
    arch = tuple(arch)
    if len(arch) != len(SLOTS):
        raise NasBenchError(f"a DARTS architecture has {len(SLOTS)} slot choices, got {len(arch)}",
                            "give one choice per slot of benchmark.spaces.darts.SLOTS")
    for name, choice, choices in zip(SLOTS, arch, CHOICES):
        if choice not in choices:
            raise NasBenchError(f"{choice!r} is not a choice of slot {name}", f"choose from {', '.join(choices)}")
    return arch


def kept(arch: Arch, slot: int) -> bool:
    """Whether edge slot ``slot`` is on the path of ``arch`` (its node's pair slot keeps its input)."""
    kind, edge = SLOT_KIND[slot], SLOT_EDGE[slot]
    if edge is None:
        raise ValueError(f"slot {SLOTS[slot]} is a pair slot, not an edge slot")
    j, i = EDGES[edge]
    return i in pair_inputs(arch[PAIR_SLOT[kind, j]])


def cell_path(arch: Arch, kind: str) -> CellPath:
    """The genotype entries of one cell kind of ``arch``: for nodes 2..5, (op, input) of both kept inputs."""
    out: list[tuple[str, int]] = []
    for j in NODES:
        for i in pair_inputs(arch[PAIR_SLOT[kind, j]]):
            out.append((arch[EDGE_SLOT[kind, EDGE_INDEX[j, i]]], i))
    return tuple(out)


def edge_view(arch: Arch) -> tuple[str, ...]:
    """The 28 edge operations of ``arch`` (14 normal, then 14 reduce), ``none`` on edges not kept: its
    point among the paper's ``8 ** 14`` assignments per cell kind. Equal views = the same network."""
    return tuple(arch[EDGE_SLOT[kind, e]] if kept(arch, EDGE_SLOT[kind, e]) else "none"
                 for kind in CELL_KINDS for e in range(len(EDGES)))


def arch_from_paths(paths: dict[str, CellPath], filler: Arch | None = None) -> Arch:
    """The architecture whose cells are ``paths`` (two distinct inputs per node, non-``none`` ops).

    Edge slots the paths do not use take their choice from ``filler`` (default: the first operation).
    """
    arch = list(filler) if filler is not None else [c[0] for c in CHOICES]
    for kind in CELL_KINDS:
        entries = paths[kind]
        if len(entries) != 2 * STEPS:
            raise NasBenchError(f"the {kind} cell has {len(entries)} (op, input) entries; the DARTS space "
                                f"needs {2 * STEPS} (two per intermediate node)", "give two inputs per node")
        for j, (first, second) in zip(NODES, zip(entries[0::2], entries[1::2])):
            (op_a, a), (op_b, b) = sorted((first, second), key=lambda t: t[1])
            if a == b:
                raise NasBenchError(f"node {j} of the {kind} cell reads input {a} twice",
                                    "DARTS keeps two distinct inputs per node")
            arch[PAIR_SLOT[kind, j]] = f"{a}+{b}"
            for op, i in ((op_a, a), (op_b, b)):
                arch[EDGE_SLOT[kind, EDGE_INDEX[j, i]]] = op
    return check_arch(tuple(arch))
