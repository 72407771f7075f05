"""The results index (``RESULTS/index.parquet``): one row per run directory, rebuilt from the directories
alone (``results_schema``), so no run's data depends on another's and a rebuild is always safe.

Columns: run_id, status ('done' | 'failed' | 'pending'), method, criterion, normalization, expand (null
for non-senas runs), dataset, seed, preset, tau, spearman, final_space_size, n_ranked, best_arch,
``best_gt.<metric>`` for the six NB201 reporting metrics, train_s, score_s, rank_s, total_s, error,
run_dir (relative to RESULTS), toolkit_version; standalone runs fill arch, val_acc and test_acc.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.groundtruth.metrics import REPORTED
from benchmark.harness.runs import RUNS_DIR, RunCheck, inspect_run
from benchmark.io import write_parquet

BEST_GT = tuple(f"best_gt.{m}" for m in REPORTED)
TIMINGS = ("train_s", "score_s", "rank_s", "total_s")
INDEX_COLUMNS: tuple[str, ...] = (
    "run_id", "status", "method", "criterion", "normalization", "expand", "dataset", "seed", "preset",
    "tau", "spearman", "final_space_size", "n_ranked", "best_arch", *BEST_GT, *TIMINGS, "error", "run_dir",
    "toolkit_version", "arch", "val_acc", "test_acc",
)
FLOATS = ("tau", "spearman", *BEST_GT, *TIMINGS, "val_acc", "test_acc")
COUNTS = ("final_space_size", "n_ranked", "seed")
STRINGS = ("run_id", "status", "method", "criterion", "normalization", "dataset", "preset", "best_arch",
           "error", "run_dir", "toolkit_version", "arch")


def index_row(run_dir: Path, check: RunCheck) -> dict[str, Any]:
    """The index row of one run directory, from what :func:`inspect_run` found there."""
    row: dict[str, Any] = dict.fromkeys(INDEX_COLUMNS)
    row.update(run_id=run_dir.name, run_dir=f"{RUNS_DIR}/{run_dir.name}")
    r = check.resolved or {}
    row.update(method=r.get("method"), dataset=r.get("dataset"), seed=r.get("seed"),
               preset=(r.get("preset") or {}).get("name"), arch=r.get("arch"))
    for key in ("criterion", "normalization", "expand"):
        row[key] = r.get(key)
    status = {"corrupt": "failed"}.get(check.status, check.status)
    row["status"] = status
    if check.status == "corrupt":
        row["error"] = f"corrupt run directory: {check.detail}"
    if check.error is not None:
        row["error"] = f"{check.error.get('type')}: {check.error.get('message')}"
        row["toolkit_version"] = check.error.get("toolkit_version")
    res = check.result
    if res is not None:
        row["toolkit_version"] = res.get("versions", {}).get("toolkit")
        timings = res.get("timings_s", {})
        row.update({k: timings.get(k) for k in TIMINGS})
        if r.get("method") == "standalone":
            row.update(val_acc=res["val_acc"], test_acc=res["test_acc"])
        else:
            row.update(tau=res["tau"], spearman=res["spearman"], final_space_size=res["final_space_size"],
                       n_ranked=res["n_ranked"], best_arch=res["best_arch"])
            row.update({f"best_gt.{m}": res["best_gt"].get(m) for m in REPORTED})
    return row


def build_index(results: Path) -> pd.DataFrame:
    """Index every directory under ``RESULTS/runs``, sorted by run id."""
    runs = Path(results) / RUNS_DIR
    dirs = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    df = pd.DataFrame([index_row(d, inspect_run(d)) for d in dirs], columns=list(INDEX_COLUMNS))
    for col in FLOATS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in COUNTS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    for col in STRINGS:  # typed even when every value is null, so every index has the same schema
        df[col] = df[col].astype(pd.StringDtype(na_value=np.nan))
    df["expand"] = df["expand"].astype(object).where(df["expand"].notna(), None)
    return df


def write_index(results: Path) -> pd.DataFrame:
    """Rebuild ``RESULTS/index.parquet`` from the run directories (atomic write); return it."""
    df = build_index(results)
    write_parquet(Path(results) / "index.parquet", df)
    return df
