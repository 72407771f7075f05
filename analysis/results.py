"""Load a sweep results directory: the run index plus every finished run's tables, with run metadata.

Layout (written by ``nasbench sweep``)::

    RESULTS/VERSION                  layout version
    RESULTS/index.parquet            one row per run (run_id, status, method, criterion, ..., run_dir)
    RESULTS/runs/<run_id>/result.json, ranking.parquet, tau_curve.parquet, operators.parquet
    RESULTS/paired.parquet           like-for-like taus (each shrinking run ranked again by its baselines)

:func:`load_results` first checks the layout ``VERSION``, the index columns and each finished run's
``result.json`` version, and refuses an incompatible directory with one line naming the problem and the
fix. Each finished one-shot run's ``tau_curve``, ``operators`` and ``ranking`` rows are concatenated
with the run's metadata columns (:data:`META`), so every analysis is a ``groupby`` over plain
DataFrames. Standalone runs (``method == 'standalone'``, one architecture trained from scratch) are
collected in :attr:`Results.standalone`, with the ground-truth accuracy each run recorded (``gt_acc``;
NaN for runs written before standalone runs recorded it).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.groundtruth import GroundTruth, default_groundtruth, load_groundtruth
from benchmark.groundtruth.metrics import REPORTED
from benchmark.harness.index import INDEX_COLUMNS
from benchmark.harness.pairing import PAIRED_FILE
from benchmark.harness.sweep import LAYOUT_VERSION, VERSION_FILE
from benchmark.methods.base import RESULT_VERSION, RunConfig
from benchmark.paths import data_root

SUPPORTED_RESULT_VERSIONS: tuple[int, ...] = (RESULT_VERSION,)
SUPPORTED_LAYOUT_VERSIONS: tuple[int, ...] = (LAYOUT_VERSION,)
TABLE3_METRICS: tuple[str, ...] = tuple(REPORTED)
# Run metadata copied onto every row of the concatenated per-run tables.
META: tuple[str, ...] = ("run_id", "label", "method", "criterion", "normalization", "expand", "dataset",
                         "seed", "preset")
TABLES: tuple[str, ...] = ("tau_curve", "operators", "ranking")
# The precision of each run's final tau (``result.json`` ``precision``), added to the index; NaN for runs
# written before tau carried its precision.
PRECISION_COLUMNS: tuple[str, ...] = ("ci_low", "ci_high", "ceiling_median", "ceiling_low", "ceiling_high")
# The bias diagnostics of each run's final ranking (``result.json`` ``diagnostics``), added likewise.
DIAGNOSTIC_COLUMNS: tuple[str, ...] = ("tau_supernet_params", "tau_gt_params", "tau_within_conv")
STANDALONE = "standalone"
METHOD_NAMES: dict[str, str] = {"spos": "SPOS", "spos_avg": "SPOS + Eq. 4", "senas": "SE-NAS", "bsnas": "BS-NAS",
                                STANDALONE: "standalone"}
DATASET_NAMES: dict[str, str] = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                                 "imagenet16-120": "ImageNet-16-120"}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)
             if f.name in ("criterion", "normalization", "expand")}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def run_label(method: str, criterion: Any = None, normalization: Any = None, expand: Any = None) -> str:
    """Legend name of a run: 'SPOS', 'SE-NAS' (the paper's settings) or 'SE-NAS [random, no expand]'.

    SE-NAS settings that differ from the :class:`~benchmark.methods.base.RunConfig` defaults (criterion
    'senas', normalisation 'mean', expanding on) are listed in brackets, so every variant of a sweep
    gets its own name and 'SE-NAS' always means the paper's method.
    """
    name = METHOD_NAMES.get(method, method)
    if method != "senas":
        return name
    notes = []
    if not _missing(criterion) and criterion != _DEFAULTS["criterion"]:
        notes.append(str(criterion))
    if not _missing(normalization) and normalization != _DEFAULTS["normalization"]:
        notes.append(f"norm={normalization}")
    if not _missing(expand) and not bool(expand):
        notes.append("no expand")
    return f"{name} [{', '.join(notes)}]" if notes else name


def order_labels(labels: Sequence[str]) -> list[str]:
    """Distinct labels, SPOS and SE-NAS first (the paper's pair), then the other variants alphabetically."""
    labels = list(dict.fromkeys(labels))
    first = [lab for lab in ("SPOS", "SE-NAS") if lab in labels]
    return first + sorted(set(labels) - set(first))


def dataset_name(dataset: str) -> str:
    """'cifar10' -> 'CIFAR-10' (the paper's spelling); unknown names pass through."""
    return DATASET_NAMES.get(dataset, dataset)


def seed_text(seeds: list[int]) -> str:
    """'seeds 0-9', 'seeds 0, 2', 'seed 5' or 'no seeds'."""
    if not seeds:
        return "no seeds"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def provenance(runs: pd.DataFrame, scales: Mapping[str, str] | None = None) -> str:
    """One line saying which preset(s) and seeds produced ``runs`` (a slice of the index), for captions.

    With ``scales`` (run_id -> the ``scale`` sentence of its result.json) the preset is described by
    what the runs really used (width, images, epochs), overrides included. Anything but the ``paper``
    preset is flagged as reduced scale, so a tiny figure is never read as the paper's numbers.
    """
    if runs.empty:
        return "no finished runs"
    presets = sorted(runs["preset"].dropna().astype(str).unique())
    notes = [scales[r].split(";")[0] for r in runs["run_id"] if r in scales] if scales else []
    described = " | ".join(dict.fromkeys(notes)) if notes else f"preset {', '.join(presets)}"
    seeds = sorted(int(s) for s in runs["seed"].dropna().unique())
    text = f"{described}; {seed_text(seeds)}; {len(runs)} run{'s' * (len(runs) != 1)}"
    if presets != ["paper"]:
        text += " - reduced scale, not comparable with the paper's numbers"
    return text


@dataclass
class Results:
    """A loaded results directory. ``index`` holds every run (any status) plus a ``label`` column."""

    root: Path
    index: pd.DataFrame
    tau_curve: pd.DataFrame
    operators: pd.DataFrame
    ranking: pd.DataFrame
    standalone: pd.DataFrame
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    scales: dict[str, str] = field(default_factory=dict)
    paired: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def done(self) -> pd.DataFrame:
        """Finished runs only."""
        return self.index[self.index["status"] == "done"].reset_index(drop=True)

    def runs(self, label: str | None = None, dataset: str | None = None,
             method: str | None = None) -> pd.DataFrame:
        """Finished runs, optionally of one label, dataset and/or method."""
        df = self.done
        for col, value in (("label", label), ("dataset", dataset), ("method", method)):
            if value is not None:
                df = df[df[col] == value]
        return df.reset_index(drop=True)

    def paired_runs(self) -> pd.DataFrame:
        """The finished runs that appear in :attr:`paired` (ranked or baseline)."""
        names = set(self.paired.get("ranked_run", [])) | set(self.paired.get("baseline_run", []))
        runs = self.runs()
        return runs[runs["run_dir"].map(lambda r: Path(str(r)).name).isin(names)].reset_index(drop=True)

    def provenance(self, runs: pd.DataFrame | None = None) -> str:
        """Caption line for ``runs`` (default: all finished runs)."""
        return provenance(self.done if runs is None else runs, self.scales)

    def stage_ends(self, label: str = "SE-NAS") -> list[int]:
        """Epochs after which ``label`` runs shrink (``epochs_per_stage`` x 1..stages), from result.json."""
        ends: set[int] = set()
        for run_id in self.runs(label=label)["run_id"]:
            preset = self.configs.get(run_id, {}).get("preset", {})
            if "epochs_per_stage" in preset and "stages" in preset:
                ends.update(preset["epochs_per_stage"] * s for s in range(1, preset["stages"] + 1))
        return sorted(ends)


def resolve_groundtruth(spec: str | Path | None, root: str | None = None) -> GroundTruth | None:
    """A ground truth for the analyses that take one: None -> None; 'auto' -> the NB201 table of the
    data root (``root``, else ``benchmark.paths.data_root``'s search) when one is found, else None; else
    the file or folder."""
    if spec is None:
        return None
    if str(spec) == "auto":
        try:
            return default_groundtruth(data_root(root))
        except NasBenchError:
            return None
    return load_groundtruth(spec)


def _check_layout(root: Path) -> None:
    """The ``VERSION`` file a sweep writes into its results directory must name a layout we read."""
    if not root.is_dir():
        raise NasBenchError(f"results directory {root} does not exist", "pass the RESULTS folder of a sweep")
    version_file = root / VERSION_FILE
    if not version_file.is_file():
        raise NasBenchError(f"{root} has no {VERSION_FILE} file: it was not written by `nasbench sweep`",
                            "pass the RESULTS folder of a sweep")
    found = version_file.read_text().strip()
    if found not in {str(v) for v in SUPPORTED_LAYOUT_VERSIONS}:
        raise NasBenchError(
            f"{root} holds results of layout version {found!r}; this toolkit reads version(s) "
            f"{', '.join(map(str, SUPPORTED_LAYOUT_VERSIONS))}",
            "analyse it with the toolkit version that wrote it, or rerun the sweep with this one")


def _read_index(root: Path) -> pd.DataFrame:
    path = root / "index.parquet"
    _check_layout(root)
    if not path.is_file():
        raise NasBenchError(f"{root} has no index.parquet",
                            "run `nasbench sweep` into it (it rebuilds the index)")
    try:
        index = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - an unreadable index is reported, never guessed at
        raise NasBenchError(f"{path} is unreadable ({type(e).__name__})",
                            "rerun `nasbench sweep` on the directory to rebuild the index") from None
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise NasBenchError(
            f"{path} is from an incompatible toolkit version: it lacks column(s) {', '.join(missing)}",
            "rebuild the index with this toolkit's `nasbench sweep` (finished runs are not retrained)")
    index = index.copy()
    index["label"] = [run_label(*r) for r in index[["method", "criterion", "normalization", "expand"]]
                      .itertuples(index=False)]
    return index


def _read_result(root: Path, row: pd.Series) -> dict[str, Any]:
    path = root / str(row["run_dir"]) / "result.json"
    if not path.is_file():
        raise NasBenchError(f"run {row['run_id']} is marked done but {path} is missing",
                            "rerun `nasbench sweep` on the directory to redo that run")
    try:
        result = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NasBenchError(f"{path} is not valid JSON", "rerun `nasbench sweep` to redo that run") from None
    if not isinstance(result, dict):
        raise NasBenchError(f"{path} is not a run result: it holds a JSON {type(result).__name__}",
                            "rerun `nasbench sweep` on the directory to redo that run")
    version = result.get("version")
    if version not in SUPPORTED_RESULT_VERSIONS:
        raise NasBenchError(
            f"run {row['run_id']} has result version {version!r}; this toolkit reads version(s) "
            f"{', '.join(map(str, SUPPORTED_RESULT_VERSIONS))}",
            "analyse it with the toolkit version that wrote it, or rerun the sweep with this one")
    return result


def _read_table(root: Path, row: pd.Series, name: str) -> pd.DataFrame:
    path = root / str(row["run_dir"]) / f"{name}.parquet"
    if not path.is_file():
        raise NasBenchError(f"run {row['run_id']} is marked done but {path} is missing",
                            "rerun `nasbench sweep` on the directory to redo that run")
    try:
        table = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pyarrow's errors vary by damage; an unreadable table is reported
        raise NasBenchError(f"{path} is unreadable ({type(e).__name__})",
                            "rerun `nasbench sweep` on the directory to redo that run") from None
    for i, col in enumerate(META):
        table.insert(i, col, row[col])
    return table


def _standalone_row(row: pd.Series, result: dict[str, Any]) -> dict[str, Any]:
    for key in ("arch", "val_acc", "test_acc"):
        if key not in result:
            raise NasBenchError(f"standalone run {row['run_id']} has no {key!r} in result.json",
                                "rerun it with this toolkit's `nasbench sweep`")
    try:
        accs = {k: float(result[k]) for k in ("val_acc", "test_acc")}
        accs["gt_acc"] = float(result.get("gt_acc", float("nan")))
    except (TypeError, ValueError):
        raise NasBenchError(f"standalone run {row['run_id']} has a non-numeric accuracy in result.json",
                            "rerun it with this toolkit's `nasbench sweep`") from None
    return {"run_id": row["run_id"], "dataset": row["dataset"], "seed": row["seed"], "preset": row["preset"],
            "arch": result["arch"], **accs}


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-run tables; empty ones (SPOS has no operator rows) only lend their columns."""
    rows = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=list(META))


def load_results(results_dir: str | Path) -> Results:
    """Read ``index.parquet`` and every finished run of a results directory (see the module docstring)."""
    root = Path(results_dir).expanduser()
    index = _read_index(root)
    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    standalone, configs, scales, precision = [], {}, {}, {}
    for _, row in index[index["status"] == "done"].iterrows():
        result = _read_result(root, row)
        configs[row["run_id"]] = result.get("config", {})
        precision[row["run_id"]] = {**result.get("precision", {}), **result.get("diagnostics", {})}
        if "scale" in result:
            scales[row["run_id"]] = str(result["scale"])
        if row["method"] == STANDALONE:
            standalone.append(_standalone_row(row, result))
            continue
        for name in TABLES:
            tables[name].append(_read_table(root, row, name))
    frames = {name: _concat(parts) for name, parts in tables.items()}
    ops = frames["operators"]
    if len(ops):  # a method without a criterion option (BS-NAS rates by R_i) is its own criterion
        frames["operators"] = ops.assign(criterion=ops["criterion"].where(ops["criterion"].notna(), ops["label"]))
    standalone_df = pd.DataFrame(standalone, columns=["run_id", "dataset", "seed", "preset", "arch",
                                                      "val_acc", "test_acc", "gt_acc"])
    for col in (*PRECISION_COLUMNS, *DIAGNOSTIC_COLUMNS):
        index[col] = [float(precision.get(r, {}).get(col, np.nan)) for r in index["run_id"]]
    return Results(root=root, index=index, standalone=standalone_df, configs=configs, scales=scales,
                   paired=_read_paired(root, index), **frames)


def _read_paired(root: Path, index: pd.DataFrame) -> pd.DataFrame:
    """``paired.parquet`` (like-for-like taus, :mod:`benchmark.pairing`) with a ``label`` per row: the
    ranked run's label from the index, a baseline's from its method. Empty when the sweep paired nothing."""
    path = root / PAIRED_FILE
    if not path.is_file():
        return pd.DataFrame()
    try:
        paired = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pyarrow's errors vary by damage
        raise NasBenchError(f"{path} is unreadable ({type(e).__name__})",
                            "delete it and rerun `nasbench sweep` on the directory (runs are not retrained)"
                            ) from None
    if paired.empty:
        return paired
    labels = dict(zip(index["run_dir"].map(lambda d: Path(str(d)).name), index["label"]))
    paired = paired.copy()
    paired["label"] = [labels.get(r, run_label(m)) if role == "ranked" else run_label(m)
                       for r, m, role in paired[["ranked_run", "method", "role"]].itertuples(index=False)]
    return paired
