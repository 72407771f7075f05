"""Open any ground-truth source by path: the kind is detected, the parsed result cached per file version."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from benchmark.errors import NasBenchError
from benchmark.groundtruth.base import GroundTruth
from benchmark.groundtruth.metrics import REPORTED
from benchmark.groundtruth.nats import META
from benchmark.groundtruth.table import TableGroundTruth, read_table, write_table
from benchmark.paths import require_file
from benchmark.spaces.nb201 import GT_TABLE

_KINDS = "give a .csv/.csv.gz table, an official NAS-Bench-201 .pth, a NATS-tss folder, or a data root"


def _detect(path: Path) -> tuple[str, Path]:
    """(kind, path to load) for a table file, an official .pth, a NATS-tss folder or a data root."""
    name = path.name.lower()
    if path.is_dir():
        if (path / META).is_file():
            return "nats-tss", path
        if (path / GT_TABLE).is_file():
            return "table", path / GT_TABLE
        raise NasBenchError(f"{path} is neither a NATS-tss folder (no {META}) "
                            f"nor a data root (no {GT_TABLE})", _KINDS)
    if name.endswith((".csv", ".csv.gz")):
        return "table", path
    if name.endswith(".pth"):
        return "nb201-pth", path
    if name.endswith(".pickle.pbz2"):
        raise NasBenchError(f"{path} is a single-file NATS-Bench benchmark, which is not supported",
                            "unpack the NATS-tss-v1_0-3ffb9-simple archive and pass its folder")
    raise NasBenchError(f"cannot tell what kind of ground truth {path} is", _KINDS)


@lru_cache(maxsize=4)
def _load(kind: str, path: str, stamp: tuple[int, ...]) -> GroundTruth:
    """Parse one source; ``stamp`` (mtime, size) makes a changed file a new cache entry."""
    if kind == "table":
        return TableGroundTruth(read_table(Path(path)), path)
    # the benchmark APIs (nas_201_api, nats_bench) are imported only for their own formats
    if kind == "nb201-pth":
        from benchmark.groundtruth.official import load_official

        return load_official(Path(path))
    from benchmark.groundtruth.nats import load_nats

    return load_nats(Path(path))


def load_groundtruth(path_or_root: str | os.PathLike) -> GroundTruth:
    """The ground truth at a compact table (.csv/.csv.gz), an official .pth, a NATS-tss folder or a data root.

    Repeated calls for an unchanged file return the same cached object (loading the table takes ~0.3 s
    the first time). The official .pth needs many GB of memory (about 28 GB for v1_1) and warns so;
    convert it once with :func:`build_table`. A NATS-tss folder is read lazily, record by record.
    A wrong file or folder gives a one-line NasBenchError naming what to pass instead.
    """
    path = Path(path_or_root).expanduser()
    if not path.exists():
        raise NasBenchError(f"ground truth {path} does not exist", _KINDS)
    kind, path = _detect(path.resolve())
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    if kind == "nats-tss":
        meta = (path / META).stat()
        stamp += (meta.st_mtime_ns, meta.st_size)
    return _load(kind, str(path), stamp)


def default_groundtruth(root: Path) -> GroundTruth:
    """The compact table at ``root/nb201/nb201_groundtruth.csv.gz`` (the shared NB201 ground truth)."""
    path = Path(root) / GT_TABLE
    require_file(path, "NB201 ground-truth table",
                 f"copy nb201_groundtruth.csv.gz to {path.parent}/, or build it from an official source: "
                 f"nasbench gt build --from NAS-Bench-201-v1_1-096897.pth --out {path}")
    return load_groundtruth(path)


def build_table(source_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """``nasbench gt build``: write an official .pth or NATS-tss folder as a compact table, atomically.

    The output has the columns of nb201_groundtruth.csv.gz that the source has (accuracies are seed
    means at 200 epochs) and a row per architecture the source records (a partial NATS folder gives a
    partial table), so later runs load it in well under a second.
    """
    gt = load_groundtruth(source_path)
    if gt.kind == "table":
        raise NasBenchError(f"{source_path} is already a compact table",
                            "pass an official .pth or a NATS-tss folder")
    compact = gt.compact()
    recorded = compact[[c for c in REPORTED.values() if c in compact]].notna().any(axis=1)
    return write_table(compact[recorded].reset_index(drop=True), Path(out_path))
