"""The NAS-Bench-201 cell space: 6 edges x 5 operations = 15,625 architectures (Dong & Yang, ICLR 2020).

Architectures are keyed by the official string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. The official
index 0..15624 is the benchmark's own order, read from its metadata (never a naive enumeration).
"""

from __future__ import annotations

import pickle
from functools import lru_cache
from pathlib import Path

from benchmark.errors import NasBenchError
from benchmark.plain_pickle import check_plain_file
from benchmark.spaces.base import Arch, SearchSpace

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Edge e connects node EDGES[e][1] (input) to node EDGES[e][0] (output), in the string's order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_NAMES: tuple[str, ...] = tuple(f"{j}<-{i}" for j, i in EDGES)
NUM_ARCHS = len(OPS) ** len(EDGES)
CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")
NB201_DATASETS: dict[str, int] = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}  # and their classes
EXAMPLE = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def nb201_space() -> SearchSpace:
    """A fresh NB201 space with every operation alive on every edge."""
    return SearchSpace("nb201", EDGE_NAMES, tuple(OPS for _ in EDGES))


def parse_arch(text: str) -> Arch:
    """Parse an official NB201 string into six operation names in edge order."""
    fix = f"use the official form, e.g. {EXAMPLE}"
    s = text.strip()
    if not (s.startswith("|") and s.endswith("|")):
        raise NasBenchError(f"malformed NB201 architecture string {text!r}", fix)
    nodes = s.split("+")
    if len(nodes) != 3:
        raise NasBenchError(f"malformed NB201 architecture string {text!r}: expected 3 nodes, got {len(nodes)}", fix)
    ops: list[str] = []
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise NasBenchError(f"malformed node {node!r} in {text!r}", fix)
        parts = node[1:-1].split("|")
        if len(parts) != j:
            raise NasBenchError(f"node {j} of {text!r} has {len(parts)} inputs, expected {j}", fix)
        for i, part in enumerate(parts):
            op, sep, src = part.partition("~")
            if not sep or src != str(i):
                raise NasBenchError(f"malformed edge {part!r} in {text!r}: expected 'op~{i}'", fix)
            if op not in OPS:
                raise NasBenchError(f"unknown NB201 operation {op!r} in {text!r}", f"choose from {', '.join(OPS)}")
            ops.append(op)
    return tuple(ops)


def format_arch(arch: Arch) -> str:
    """The official string of six operations given in edge order."""
    if len(arch) != len(EDGES) or any(op not in OPS for op in arch):
        raise NasBenchError(f"not an NB201 architecture: {arch!r}", f"give 6 operations from {', '.join(OPS)}")
    a = arch
    return f"|{a[0]}~0|+|{a[1]}~0|{a[2]}~1|+|{a[3]}~0|{a[4]}~1|{a[5]}~2|"


def conv_edges(arch: str) -> int:
    """Number of convolution edges of an NB201 cell (the bias diagnostics' groups)."""
    return sum(op in CONV_OPS for op in parse_arch(arch))


def all_arch_strings() -> list[str]:
    """All 15,625 strings of the space (enumeration order, not the official index order)."""
    return [format_arch(a) for a in nb201_space().enumerate()]


class NB201Index:
    """The official index order (0..15624) <-> architecture string, taken from benchmark metadata."""

    def __init__(self, strings: list[str], source: str):
        if len(strings) != NUM_ARCHS or len(set(strings)) != NUM_ARCHS:
            raise NasBenchError(
                f"{source} lists {len(strings)} architectures ({len(set(strings))} distinct), expected {NUM_ARCHS}",
                "use an unmodified NB201/NATS-tss metadata file or the NB201 ground-truth table",
            )
        for s in strings[:3]:
            parse_arch(s)
        self.strings = strings
        self.source = source
        self._index = {s: i for i, s in enumerate(strings)}

    def to_index(self, arch: str | Arch) -> int:
        s = arch if isinstance(arch, str) else format_arch(arch)
        s = format_arch(parse_arch(s))
        return self._index[s]

    def to_string(self, index: int) -> str:
        if not 0 <= index < NUM_ARCHS:
            raise NasBenchError(f"NB201 index {index} is out of range", f"use 0..{NUM_ARCHS - 1}")
        return self.strings[index]

    @classmethod
    def from_nats_meta(cls, path: Path) -> "NB201Index":
        """Read ``meta_archs`` from a NATS-Bench ``meta.pickle.pbz2`` (topology space, fast mode)."""
        try:
            strings = list(check_plain_file(path)["meta_archs"])
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError) as e:
            raise NasBenchError(
                f"cannot read NATS metadata {path}: {type(e).__name__}",
                "replace it with the meta.pickle.pbz2 of an official NATS-tss-v1_0-3ffb9-simple folder",
            ) from None
        return cls(strings, str(path))

    @classmethod
    def from_table(cls, path: Path) -> "NB201Index":
        """Read the ``index`` and ``arch`` columns of the compact ground-truth table."""
        import pandas as pd

        try:
            df = pd.read_csv(path, usecols=["index", "arch"])
        except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt file to the user
            raise NasBenchError(
                f"cannot read ground-truth table {path}: {type(e).__name__}",
                "replace it with nb201_groundtruth.csv.gz or rebuild it with `nasbench gt build`",
            ) from None
        df = df.sort_values("index")
        if list(df["index"]) != list(range(NUM_ARCHS)):
            raise NasBenchError(f"{path} does not hold indices 0..{NUM_ARCHS - 1}", "rebuild it with `nasbench gt build`")
        return cls(list(df["arch"]), str(path))


NATS_META = Path("nats-fixture/NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2")
GT_TABLE = Path("nb201/nb201_groundtruth.csv.gz")


@lru_cache(maxsize=4)
def load_index(root: Path) -> NB201Index:
    """The official order from the data root: the ground-truth table, else a NATS-tss ``meta.pickle.pbz2``."""
    if (root / GT_TABLE).is_file():
        return NB201Index.from_table(root / GT_TABLE)
    metas = [root / NATS_META, *sorted(root.glob("NATS-tss-*/meta.pickle.pbz2"))]
    for meta in metas:
        if meta.is_file():
            return NB201Index.from_nats_meta(meta)
    raise NasBenchError(
        f"no NB201 index metadata under {root}",
        f"put the ground-truth table at {root / GT_TABLE} or a NATS-tss folder (with meta.pickle.pbz2) in {root}",
    )
