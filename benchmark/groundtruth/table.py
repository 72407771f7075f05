"""The compact ground-truth table (the layout of ``nb201/nb201_groundtruth.csv.gz``, see its README).

One row per architecture: ``index``, ``arch``, seed-mean 200-epoch accuracies (``cifar10_valid``,
``cifar10_test``, ...), params/FLOPs and ``nats_unique_str``. It holds seed means only. A table file is
refused when loaded if an accuracy lies outside [0, 100] or a reported accuracy is NaN; a table built
from a partial source lists only the architectures it has. In the shared
table ``cifar10_test`` comes from NATS-Bench tss and the other accuracies from NB201 v1_1 (the README
lists where the two releases differ).
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.groundtruth.base import GroundTruth
from benchmark.groundtruth.metrics import ACCURACIES, COSTS, REPORTED
from benchmark.io import atomic_path
from benchmark.spaces.nb201 import NUM_ARCHS, format_arch, parse_arch

REQUIRED: tuple[str, ...] = ("index", "arch", *REPORTED.values())
_FIX = "use nb201_groundtruth.csv.gz or a table written by `nasbench gt build --from PATH --out FILE`"


def check_compact(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check a compact table (columns, indices, arch strings, numeric values); return it sorted by index."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise NasBenchError(f"{source} is not an NB201 ground-truth table: no column {', '.join(missing)}",
                            _FIX)
    if not pd.api.types.is_integer_dtype(df["index"]):
        raise NasBenchError(f"{source}: column 'index' holds non-integers", _FIX)
    if df["index"].duplicated().any() or not df["index"].between(0, NUM_ARCHS - 1).all():
        raise NasBenchError(f"{source}: column 'index' must hold distinct values in 0..{NUM_ARCHS - 1}", _FIX)
    archs = [str(a) for a in df["arch"]]
    try:
        official = all(format_arch(parse_arch(a)) == a for a in archs)
    except NasBenchError as e:
        raise NasBenchError(f"{source}: {e.problem}", _FIX) from None
    if not official or len(set(archs)) != len(archs):
        raise NasBenchError(f"{source}: column 'arch' must hold distinct official NB201 strings", _FIX)
    numeric = [c for c in (*ACCURACIES.values(), *COSTS.values()) if c in df.columns]
    bad = [c for c in numeric if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise NasBenchError(f"{source}: non-numeric values in column {', '.join(bad)}", _FIX)
    for col in (c for c in ACCURACIES.values() if c in df.columns):
        values = df[col].to_numpy(dtype=float)
        outside = ~np.isnan(values) & ~((values >= 0) & (values <= 100))
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise NasBenchError(f"{source}: accuracy {values[row]} of index {df['index'].iloc[row]} in column "
                                f"{col} lies outside [0, 100]", _FIX)
    return df.sort_values("index", kind="stable").reset_index(drop=True)


def check_complete(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Refuse a table file with a NaN accuracy in a reported column (a damaged or hand-edited row would
    otherwise only fail, or skew tau, after training); a partial source's table lists only its records."""
    for col in (c for c in REPORTED.values() if c in df.columns):
        missing = df[col].isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise NasBenchError(f"{source}: index {df['index'].iloc[row]} has no value (NaN) in column {col} "
                                f"({int(missing.sum())} row(s) like it)", _FIX)
    return df


def read_table(path: Path) -> pd.DataFrame:
    """Read and validate a compact table from .csv or .csv.gz: columns, indices, strings, accuracies in
    [0, 100] and no NaN among the reported accuracies."""
    try:
        df = pd.read_csv(path)
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile, zlib.error, pd.errors.ParserError,
            pd.errors.EmptyDataError) as e:
        raise NasBenchError(f"cannot read ground-truth table {path}: {type(e).__name__}", _FIX) from None
    return check_complete(check_compact(df, str(path)), str(path))


def write_table(compact: pd.DataFrame, out: Path) -> Path:
    """Write a compact table atomically as .csv or .csv.gz (gzip with no name or time: reproducible bytes)."""
    out = Path(out)
    if not out.name.endswith((".csv", ".csv.gz")):
        raise NasBenchError(f"cannot write a ground-truth table to {out}",
                            "name the output FILE.csv.gz or FILE.csv")
    data = compact.to_csv(index=False).encode()
    with atomic_path(out) as tmp:
        tmp.write_bytes(gzip.compress(data, mtime=0) if out.name.endswith(".gz") else data)
    return out


class TableGroundTruth(GroundTruth):
    """Ground truth from a compact table (a file, or a DataFrame in that layout, e.g. planted in a test)."""

    kind = "table"

    def __init__(self, compact: pd.DataFrame, source: str = "<in-memory table>"):
        self._compact = check_compact(compact, source)
        indices = self._compact["index"].tolist()
        super().__init__(source, dict(zip(self._compact["arch"], indices)))
        self._row = {index: row for row, index in enumerate(indices)}
        self._values = {m: self._compact[c].to_numpy(dtype=float)
                        for m, c in ACCURACIES.items() if c in self._compact}

    def _mean(self, index: int, metric: str) -> float:
        values = self._values.get(metric)
        return math.nan if values is None else float(values[self._row[index]])

    def _per_seed(self, index: int, metric: str) -> dict[int, float]:
        raise NasBenchError(f"the compact table {self.source} holds seed means only",
                            "pass seed=None, or load the official .pth or a NATS-tss folder for seeds")

    def compact(self) -> pd.DataFrame:
        return self._compact.copy()
