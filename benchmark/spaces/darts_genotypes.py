"""DARTS genotypes: the ``Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)`` form of
DARTS' ``genotypes.py`` (Liu et al., ICLR 2019), read, written, checked and mapped to the DARTS space.

A cell is a list of (operation, input) entries, two per intermediate node: entries 2k and 2k+1 feed node
k + 2, and an input index is 0 (the cell two back), 1 (the previous cell) or an earlier intermediate node
(2..k+1). ``*_concat`` lists the nodes concatenated into the cell output. Parsing never evaluates code:
the text is read with :mod:`ast` (``range(2, 6)``, as P-DARTS writes it, is accepted).
"""

from __future__ import annotations

import ast
from typing import NamedTuple

from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch
from benchmark.spaces.darts import CELL_KINDS, NODES, OPS, STEPS, arch_from_paths, cell_path, check_arch

Entry = tuple[str, int]
_FORM = "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[...])"
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


class Genotype(NamedTuple):
    """A normal and a reduction cell; printed exactly as DARTS prints its genotypes."""

    normal: tuple[Entry, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Entry, ...]
    reduce_concat: tuple[int, ...]

    def cell(self, kind: str) -> tuple[tuple[Entry, ...], tuple[int, ...]]:
        """(entries, concat) of cell kind ``normal`` or ``reduce``."""
        return (self.normal, self.normal_concat) if kind == "normal" else (self.reduce, self.reduce_concat)

    def __str__(self) -> str:
        return format_genotype(self)


def format_genotype(g: Genotype) -> str:
    """The DARTS text form, e.g. ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)``."""
    def cell(entries: tuple[Entry, ...]) -> str:
        return "[" + ", ".join(f"({op!r}, {i})" for op, i in entries) + "]"

    return (f"Genotype(normal={cell(g.normal)}, normal_concat={list(g.normal_concat)}, "
            f"reduce={cell(g.reduce)}, reduce_concat={list(g.reduce_concat)})")


def _bad(text: str, why: str) -> NasBenchError:
    short = text if len(text) <= 60 else text[:57] + "..."
    return NasBenchError(f"cannot read genotype {short!r}: {why}", f"write it as {_FORM}")


def _concat(node: ast.expr, text: str) -> tuple[int, ...]:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and 1 <= len(node.args) <= 2):
        try:
            return tuple(range(*(ast.literal_eval(a) for a in node.args)))
        except (ValueError, TypeError):
            raise _bad(text, "range() takes integers") from None
    try:
        value = ast.literal_eval(node)
    except ValueError:
        raise _bad(text, "a concat must be a list of node indices") from None
    if not isinstance(value, (list, tuple)) or not all(type(v) is int for v in value):
        raise _bad(text, "a concat must be a list of node indices")
    return tuple(value)


def _entries(node: ast.expr, text: str) -> tuple[Entry, ...]:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        raise _bad(text, "a cell must be a list of ('operation', input) pairs") from None
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(e, (list, tuple)) and len(e) == 2 and isinstance(e[0], str) and type(e[1]) is int for e in value)
    if not ok:
        raise _bad(text, "a cell must be a list of ('operation', input) pairs")
    return tuple((op, i) for op, i in value)


def parse_genotype(text: str) -> Genotype:
    """Read the DARTS text form (keyword or positional arguments) and check it (:func:`check_genotype`)."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise _bad(text, "not a Python expression") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise _bad(text, "expected Genotype(...)")
    if len(tree.args) + len(tree.keywords) != 4:
        raise _bad(text, f"expected the 4 fields {', '.join(_FIELDS)}")
    given = dict(zip(_FIELDS, tree.args))
    for kw in tree.keywords:
        if kw.arg not in _FIELDS or kw.arg in given:
            raise _bad(text, f"unexpected or repeated field {kw.arg!r}")
        given[kw.arg] = kw.value
    g = Genotype(normal=_entries(given["normal"], text), normal_concat=_concat(given["normal_concat"], text),
                 reduce=_entries(given["reduce"], text), reduce_concat=_concat(given["reduce_concat"], text))
    return check_genotype(g)


def check_genotype(g: Genotype) -> Genotype:
    """Refuse what no DARTS network can build: an unknown (or ``none``) operation, an odd number of
    entries, an input index a node cannot read, a concat naming no intermediate node or one twice."""
    for kind in CELL_KINDS:
        entries, concat = g.cell(kind)
        if not entries or len(entries) % 2:
            raise NasBenchError(f"the {kind} cell has {len(entries)} entries; DARTS cells take two per node",
                                "give an even, non-zero number of (operation, input) entries")
        steps = len(entries) // 2
        for k, (op, i) in enumerate(entries):
            if op not in OPS:
                raise NasBenchError(f"unknown operation {op!r} in the {kind} cell of the genotype",
                                    f"choose from {', '.join(OPS)}")
            node = k // 2 + 2
            if not 0 <= i < node:
                raise NasBenchError(f"impossible input index {i} for node {node} of the {kind} cell",
                                    f"node {node} reads inputs 0..{node - 1}")
        if not concat or len(set(concat)) != len(concat) or not all(2 <= c < steps + 2 for c in concat):
            raise NasBenchError(f"{kind}_concat={list(concat)} cannot be built: the cell's intermediate nodes are "
                                f"2..{steps + 1}", f"e.g. {kind}_concat={list(range(2, steps + 2))}")
    return g


def _cell(*entries: Entry) -> tuple[Entry, ...]:
    return tuple(entries)


_CONCAT = tuple(NODES)

GENOTYPES: dict[str, Genotype] = {
    # DARTS (first order), Liu et al. 2019, genotypes.DARTS_V1
    "DARTS_V1": Genotype(
        normal=_cell(("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
                     ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)),
        normal_concat=_CONCAT,
        reduce=_cell(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
                     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)),
        reduce_concat=_CONCAT),
    # DARTS (second order), the cell retrained on ImageNet in the DARTS paper, genotypes.DARTS_V2
    "DARTS_V2": Genotype(
        normal=_cell(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                     ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
        normal_concat=_CONCAT,
        reduce=_cell(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
        reduce_concat=_CONCAT),
    # P-DARTS, Chen et al. 2019 (searched on CIFAR-10), genotypes.PDARTS
    "PDARTS": Genotype(
        normal=_cell(("skip_connect", 0), ("dil_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 1),
                     ("sep_conv_3x3", 1), ("sep_conv_3x3", 3), ("sep_conv_3x3", 0), ("dil_conv_5x5", 4)),
        normal_concat=_CONCAT,
        reduce=_cell(("avg_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
                     ("max_pool_3x3", 0), ("dil_conv_3x3", 1), ("dil_conv_3x3", 1), ("dil_conv_5x5", 3)),
        reduce_concat=_CONCAT),
}


def resolve_genotype(text: str) -> tuple[str | None, Genotype]:
    """(name, genotype) of a built-in name (``DARTS_V2``, case-insensitive) or a genotype string."""
    key = text.strip()
    named = {name.upper(): name for name in GENOTYPES}
    if key.upper() in named:
        name = named[key.upper()]
        return name, GENOTYPES[name]
    if "(" not in key:
        raise NasBenchError(f"unknown genotype name {key!r}",
                            f"use one of {', '.join(GENOTYPES)} or a string {_FORM}")
    return None, parse_genotype(key)


def genotype_from_arch(arch: Arch) -> Genotype:
    """The genotype of a DARTS-space architecture (entries of a node in input order)."""
    arch = check_arch(arch)
    return Genotype(normal=cell_path(arch, "normal"), normal_concat=_CONCAT,
                    reduce=cell_path(arch, "reduce"), reduce_concat=_CONCAT)


def arch_from_genotype(g: Genotype, filler: Arch | None = None) -> Arch:
    """The DARTS-space architecture of ``g`` (slots the genotype leaves free take ``filler``'s choice);
    a one-line error when ``g`` lies outside the space (other than 4 nodes concatenated, an input twice)."""
    check_genotype(g)
    for kind in CELL_KINDS:
        entries, concat = g.cell(kind)
        if len(entries) != 2 * STEPS or tuple(concat) != _CONCAT:
            raise NasBenchError(f"the {kind} cell ({len(entries) // 2} nodes, concat {list(concat)}) is outside "
                                f"the DARTS search space", f"use {STEPS} nodes concatenated as {list(_CONCAT)}")
    return arch_from_paths({"normal": g.normal, "reduce": g.reduce}, filler)


def same_cells(a: Genotype, b: Genotype) -> bool:
    """Whether two genotypes build the same network (the order of a node's two entries aside)."""
    def canon(g: Genotype) -> tuple:
        cells = []
        for kind in CELL_KINDS:
            entries, concat = g.cell(kind)
            nodes = tuple(tuple(sorted(entries[k:k + 2], key=lambda t: (t[1], t[0])))
                          for k in range(0, len(entries), 2))
            cells.append((nodes, tuple(concat)))
        return tuple(cells)

    return canon(a) == canon(b)
