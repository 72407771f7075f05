"""The text ``nasbench compare`` prints: like-for-like taus first (every method over the same
architectures, images and BatchNorm batches), then the paper's comparison (Sec. 4.2, Figs. 7-8: each
method over its own space), labelled as such. Every tau carries its architecture count, bootstrap CI and
noise ceiling; the bias diagnostics follow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.results import METHOD_NAMES
from analysis.stats import bootstrap_ci, like_for_like
from benchmark.metrics.precision import describe


def _name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def _diff(row: pd.Series) -> str:
    if not np.isfinite(row.get("diff", np.nan)):
        return ""
    return f"; minus SE-NAS {row['diff']:+.3f} [95% CI {row['diff_ci_low']:+.2f}, {row['diff_ci_high']:+.2f}]"


def _diagnostics(row: pd.Series | dict[str, Any]) -> str:
    return (f"tau vs params {row['tau_supernet_params']:+.2f} (ground truth {row['tau_gt_params']:+.2f}), "
            f"tau within equal conv counts {row['tau_within_conv']:+.2f}")


def like_for_like_lines(paired: pd.DataFrame | None) -> list[str]:
    """Per seed, each point's taus over the shrinking method's architectures; then the mean over seeds."""
    if paired is None or paired.empty:
        return ["like-for-like: no pairs (a shrinking run and a spos/spos_avg run of the same seed and preset)"]
    lines = ["LIKE-FOR-LIKE: each method ranks exactly the architectures SE-NAS ranked, on the same "
             "validation images and BatchNorm recalibration batches"]
    for (dataset, seed, ranked_run), g in paired.groupby(["dataset", "seed", "ranked_run"], sort=True):
        lines.append(f"  {dataset}, seed {seed}:")
        for point, p in g.groupby("point", sort=False):
            own = p[p["role"] == "ranked"].iloc[0]
            lines.append(f"    {point} (SE-NAS space of {own['space_size']:,}; {own['n_ranked']} ranked):")
            lines.append(f"      {_name(own['method']):<13}{describe(own)}")
            for _, base in p[p["role"] == "baseline"].iterrows():
                lines.append(f"      {_name(base['method']):<13}{describe(base)}{_diff(base)}")
    stats = like_for_like(paired)
    if len(stats) and stats["n_pairs"].max() >= 2:
        lines.append("  over seeds (final space):")
        for _, s in stats.iterrows():
            lines.append(f"    {_name(s['baseline'])} - {_name(s['ranked'])}: {s['diff']:+.3f} "
                         f"[95% CI {s['diff_ci_low']:+.2f}, {s['diff_ci_high']:+.2f}] over {s['n_pairs']} seeds, "
                         f"Wilcoxon p = {s['pvalue']:.3g}; mean taus {s['tau_ranked']:+.3f} vs "
                         f"{s['tau_baseline']:+.3f} over {s['n_ranked']:.0f} architectures each")
    return lines


def _mean_text(method: str, runs: pd.DataFrame) -> str:
    """``SE-NAS tau -0.222 [95% CI -0.76, +0.29] over 3 runs of 5-9 archs; ceiling 0.88``: the mean over
    runs with its bootstrap CI over runs (none for one run), the architectures each covers, the mean
    noise ceiling."""
    taus = runs["tau"].astype(float)
    lo, hi = bootstrap_ci(taus)
    ci = f" [95% CI {lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else ""
    low, high = int(runs["n_ranked"].min()), int(runs["n_ranked"].max())
    archs = f"{low}" if low == high else f"{low}-{high}"
    n, undefined = int(taus.notna().sum()), int(taus.isna().sum())
    return (f"{_name(method)} tau {taus.mean():+.3f}{ci} over {n} run{'s' * (n != 1)} of {archs} archs"
            f"{f' ({undefined} undefined left out)' if undefined else ''}; "
            f"ceiling {runs['ceiling'].astype(float).mean():.2f}")


def paper_lines(results_dir: Path, index: pd.DataFrame) -> list[str]:
    """Each run's final tau over its own space, as the paper compares (not like-for-like)."""
    done = index[index["status"] == "done"].sort_values(["method", "seed"])
    lines = ["PAPER'S COMPARISON (SE-NAS Sec. 4.2, Figs. 7-8): each method over its own final space -- "
             "different architecture sets, not like-for-like"]
    scale, ceilings = "", []
    for row in done.itertuples():
        result = json.loads((Path(results_dir) / row.run_dir / "result.json").read_text())
        scale = result["scale"]
        report = {"tau": result["tau"], "n_ranked": result["n_ranked"], **result["precision"]}
        ceilings.append(report["ceiling_median"])
        lines.append(f"  {_name(row.method):<13}seed {row.seed}: {describe(report)} "
                     f"(final space {row.final_space_size:,})")
        lines.append(f"  {'':<13}{_diagnostics(result['diagnostics'])}")
    lines.append("  mean over seeds: " + "; ".join(
        _mean_text(method, g) for method, g in done.assign(ceiling=ceilings).groupby("method")))
    if scale:
        lines.append(f"scale: {scale}")
    return lines


def compare_lines(results_dir: Path, index: pd.DataFrame, paired: pd.DataFrame | None) -> list[str]:
    """Everything ``nasbench compare`` prints, like-for-like first."""
    return [*like_for_like_lines(paired), "", *paper_lines(results_dir, index)]
