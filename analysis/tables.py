"""SE-NAS Tables 1 and 3 from a results directory, with the paper's numbers beside ours.

Table 1: mean Kendall's tau of supernet accuracy (SPOS supernet, Sec. 3.2) and of standalone accuracy
against the NB201 ground truth, per dataset, with the number of runs and of ranked architectures. Table 3:
NB201 ground-truth accuracy (mean +- std over runs) of the architecture each method found, on the six NB201
reporting metrics, and the search cost. The like-for-like table: both methods' taus over the same
architectures (``paired.parquet``), their difference over seeds with its CI and Wilcoxon p-value.
:func:`to_markdown` renders any of them; :func:`save_tables` writes all three.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.results import TABLE3_METRICS, Results, dataset_name, order_labels
from analysis.stats import common_archs, like_for_like, standalone_tau
from benchmark.groundtruth import GroundTruth
from benchmark.io import atomic_path

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
# SE-NAS Table 1: mean tau of 10 repeated experiments.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "supernet accuracy": {"cifar10": 0.543, "cifar100": 0.532, "imagenet16-120": 0.539},
    "standalone accuracy": {"cifar10": 0.853, "cifar100": 0.842, "imagenet16-120": 0.845},
}
# SE-NAS Table 3: the 'Ours' row (mean, std) and the 'Optimal' row; search cost in GPU seconds (1080 Ti).
PAPER_TABLE3: dict[str, dict[str, object]] = {
    "SE-NAS (paper)": {
        "time_s": 10561.1,
        "acc": dict(zip(TABLE3_METRICS, [(90.50, 0.09), (93.47, 0.14), (71.14, 0.10), (71.91, 0.19),
                                         (44.96, 0.94), (45.66, 1.05)])),
    },
    "Optimal (paper)": {
        "time_s": float("nan"),
        "acc": {m: (v, float("nan"))
                for m, v in zip(TABLE3_METRICS, [91.61, 94.37, 73.49, 73.51, 46.77, 47.31])},
    },
}
SUPERNET_LABEL = "SPOS"


def table1(results: Results, groundtruth: GroundTruth | None = None,
           supernet_label: str = SUPERNET_LABEL) -> pd.DataFrame:
    """Mean tau per dataset: supernet accuracy (``supernet_label`` runs) and standalone accuracy.

    Rows 'supernet accuracy' and 'standalone accuracy'; for each dataset three columns: ours (mean over
    runs or seeds), ``<dataset> paper`` and ``<dataset> n``. Standalone tau comes from the standalone runs
    in ``results``, ranked against the ground truth they recorded (as a supernet run's tau is) or, for runs
    that recorded none, against ``groundtruth``; without standalone runs, from the per-seed results of
    ``groundtruth`` over the architectures every supernet run ranked; NaN when neither is at hand.
    ``attrs['notes']`` says why.
    """
    rows: dict[str, dict[str, float]] = {name: {} for name in PAPER_TABLE1}
    notes: dict[str, str] = {}
    for ds in DATASETS:
        col = dataset_name(ds)
        sup = results.runs(label=supernet_label, dataset=ds)["tau"].astype(float).dropna()
        ranked = results.ranking
        archs = common_archs(ranked[(ranked["label"] == supernet_label) & (ranked["dataset"] == ds)])
        solo, note = standalone_tau(results, ds, groundtruth, archs)
        if note:
            notes[ds] = note
        sup_archs = results.runs(label=supernet_label, dataset=ds)["n_ranked"].astype(float)
        for name, values, n_archs in (("supernet accuracy", sup, sup_archs.mean() if len(sup_archs) else np.nan),
                                      ("standalone accuracy", solo, float(len(archs)) if len(solo) else np.nan)):
            rows[name][col] = float(values.mean()) if len(values) else np.nan
            rows[name][f"{col} paper"] = PAPER_TABLE1[name][ds]
            rows[name][f"{col} n"] = len(values)
            rows[name][f"{col} archs"] = n_archs
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "Metrics"
    out.attrs["notes"] = notes
    solo_runs = results.runs(method="standalone")
    out.attrs["provenance"] = f"supernet row from {results.provenance(results.runs(label=supernet_label))}"
    if len(solo_runs):
        out.attrs["provenance"] += f"; standalone row from {results.provenance(solo_runs)}"
    return out


def table3(results: Results, dataset: str = "cifar10", labels: list[str] | None = None) -> pd.DataFrame:
    """Ground-truth accuracy of the searched architecture, mean and std over runs, per method.

    One row per label searched on ``dataset`` (default: every one-shot label there, SPOS and SE-NAS
    first), then the paper's 'SE-NAS (paper)' and 'Optimal (paper)' rows. Columns: source ('ours' |
    'paper'), n, time_s (mean search cost ``total_s``), and ``<metric> mean`` / ``<metric> std`` for
    each of the six metrics. The paper searched on CIFAR-10 and transferred the architecture (Sec. 4.3).
    """
    runs = results.runs(dataset=dataset)
    runs = runs[runs["method"] != "standalone"]
    labels = labels if labels is not None else order_labels(runs["label"])
    rows = []
    for label in labels:
        g = runs[runs["label"] == label]
        row: dict[str, object] = {"method": label, "source": "ours", "n": len(g),
                                  "time_s": g["total_s"].astype(float).mean() if len(g) else np.nan}
        for m in TABLE3_METRICS:
            x = g[f"best_gt.{m}"].astype(float)
            row[f"{m} mean"] = x.mean() if len(x) else np.nan
            row[f"{m} std"] = x.std(ddof=1) if len(x) > 1 else np.nan
        rows.append(row)
    for name, paper in PAPER_TABLE3.items():
        row = {"method": name, "source": "paper", "n": np.nan, "time_s": paper["time_s"]}
        for m, (mean, std) in paper["acc"].items():
            row[f"{m} mean"], row[f"{m} std"] = mean, std
        rows.append(row)
    out = pd.DataFrame(rows).set_index("method")
    out.attrs["provenance"] = results.provenance(runs)
    return out


# ------------------------------------------------------------------------------------------ markdown
def _num(x: object, digits: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _archs(r: pd.Series, d: str) -> str:
    n = r.get(f"{d} archs", np.nan)
    return "" if n is None or (isinstance(n, float) and math.isnan(n)) else f", {n:.0f} archs"


def table1_markdown(t: pd.DataFrame) -> str:
    """Table 1 as markdown: ours (runs, ranked architectures) beside the paper for each dataset."""
    datasets = [c for c in t.columns if not c.endswith((" paper", " n", " archs"))]
    header = ["Metrics"] + [h for d in datasets for h in (f"{d} (ours)", f"{d} (paper)")]
    body = [[name] + [c for d in datasets for c in (f"{_num(r[d], 3)} (n={int(r[f'{d} n'])}{_archs(r, d)})",
                                                     _num(r[f"{d} paper"], 3))]
            for name, r in t.iterrows()]
    return _markdown(header, body)


def like_for_like_table(results: Results, point: str = "final") -> pd.DataFrame:
    """SE-NAS against each baseline over the same architectures at ``point`` (``final`` or ``epoch N``),
    over seeds: :func:`analysis.stats.like_for_like`, methods named by their labels."""
    t = like_for_like(results.paired, point)
    names = dict(zip(results.paired.get("method", []), results.paired.get("label", [])))
    t = t.assign(ranked=t["ranked"].map(lambda m: names.get(m, m)),
                 baseline=t["baseline"].map(lambda m: names.get(m, m)))
    t.attrs["provenance"] = f"like-for-like at {point}; " + results.provenance(results.paired_runs())
    return t


def like_for_like_markdown(t: pd.DataFrame) -> str:
    """The like-for-like table as markdown: taus, difference [95% CI over seeds], Wilcoxon p, ceiling."""
    header = ["Dataset", "Architectures of", "Baseline", "seeds", "archs", "tau (ranked)", "tau (baseline)",
              "baseline − ranked [95% CI]", "Wilcoxon p", "noise ceiling"]
    body = [[dataset_name(r["dataset"]), str(r["ranked"]), str(r["baseline"]), str(int(r["n_pairs"])),
             _num(r["n_ranked"], 0), _num(r["tau_ranked"], 3), _num(r["tau_baseline"], 3),
             f"{_num(r['diff'], 3)} [{_num(r['diff_ci_low'], 3)}, {_num(r['diff_ci_high'], 3)}]",
             _num(r["pvalue"], 3), _num(r["ceiling_median"], 2)] for _, r in t.iterrows()]
    return _markdown(header, body) if body else "No like-for-like pairs (sweep SE-NAS with spos or spos_avg)."


def table3_markdown(t: pd.DataFrame) -> str:
    """Table 3 as markdown: 'mean +- std' per metric, search cost in seconds, runs per row."""
    header = ["Method", "runs", "Time (s)", *TABLE3_METRICS]
    body = []
    for name, r in t.iterrows():
        cells = []
        for m in TABLE3_METRICS:
            mean, std = r[f"{m} mean"], r[f"{m} std"]
            cells.append(_num(mean, 2) + ("" if math.isnan(std) else f" ± {std:.2f}"))
        n = "-" if math.isnan(r["n"]) else str(int(r["n"]))
        body.append([str(name), n, _num(r["time_s"], 1), *cells])
    return _markdown(header, body)


def to_markdown(t: pd.DataFrame) -> str:
    """Render a :func:`table1` or :func:`table3` frame as markdown, with its provenance and notes below."""
    if "baseline" in t.columns:
        text = like_for_like_markdown(t)
    else:
        text = table3_markdown(t) if "source" in t.columns else table1_markdown(t)
    if t.attrs.get("provenance"):
        text += f"\n\nOurs: {t.attrs['provenance']}."
    for ds, note in t.attrs.get("notes", {}).items():
        text += f"\nStandalone {dataset_name(ds)}: {note}."
    return text


def save_markdown(t: pd.DataFrame, path: str | Path) -> Path:
    """Write :func:`to_markdown` of a table to ``path`` (atomically); returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(to_markdown(t) + "\n")
    return path


# The file each table is saved to by :func:`save_tables`, and its heading on the overview page.
TABLE_TITLES: dict[str, str] = {
    "table1.md": "SE-NAS Table 1: mean Kendall's tau of supernet and standalone accuracy",
    "table3.md": "SE-NAS Table 3: ground-truth accuracy of the searched architecture, and search cost",
    "like_for_like.md": "Like-for-like: every method ranks the architectures of SE-NAS's final space",
}


def save_tables(results: Results, out_dir: str | Path, groundtruth: GroundTruth | None = None) -> list[Path]:
    """Tables 1 and 3 and the like-for-like table (final space) as markdown in ``out_dir``, named as in
    :data:`TABLE_TITLES`."""
    tables = {"table1.md": table1(results, groundtruth), "table3.md": table3(results),
              "like_for_like.md": like_for_like_table(results)}
    return [save_markdown(t, Path(out_dir) / name) for name, t in tables.items()]
