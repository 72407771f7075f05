"""Statistics over a results directory (SE-NAS Sec. 3.2 and 4.2): tau per method and dataset with a
bootstrap interval, a paired Wilcoxon test of SE-NAS against SPOS across seeds, ranking distributions of
a fixed set of architectures over repeated runs (Fig. 1), operator retention by ground-truth rank
(Fig. 6) and the fraction of the top-k ground-truth operators a criterion keeps.

Every function takes the DataFrames of :class:`analysis.results.Results` and returns a DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.results import Results
from benchmark.errors import NasBenchError
from benchmark.groundtruth import GroundTruth
from benchmark.metrics.ranking import kendall_tau


# ------------------------------------------------------------------------------------- tau statistics
def bootstrap_ci(values: Sequence[float], level: float = 0.95, n_boot: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (numpy, seeded); NaN for fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if not 0 < level < 1:
        raise NasBenchError(f"confidence level {level} is not in (0, 1)", "pass e.g. level=0.95")
    if len(x) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def tau_statistics(runs: pd.DataFrame, value: str = "tau", by: Sequence[str] = ("label", "dataset"),
                   level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Mean, std (ddof 1), bootstrap interval and count of ``value`` per group of finished runs."""
    rows = []
    for key, group in runs.groupby(list(by), sort=True, dropna=False):
        x = group[value].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        lo, hi = bootstrap_ci(x, level, n_boot, seed)
        rows.append({**dict(zip(by, key)), "n": len(x), "mean": x.mean() if len(x) else np.nan,
                     "std": x.std(ddof=1) if len(x) > 1 else np.nan, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=[*by, "n", "mean", "std", "ci_low", "ci_high"])


def paired_wilcoxon(runs: pd.DataFrame, a: str = "SE-NAS", b: str = "SPOS", value: str = "tau",
                    alternative: str = "two-sided") -> pd.DataFrame:
    """Wilcoxon signed-rank test of ``a`` against ``b`` on runs paired by (dataset, seed).

    One row per dataset and one for all datasets pooled ('all'): pairs, means, median difference a - b,
    statistic and p-value (``scipy.stats.wilcoxon``). With no non-zero difference the test is undefined
    and both are NaN.
    """
    def side(label: str) -> pd.DataFrame:
        part = runs[runs["label"] == label][["dataset", "seed", value]]
        dup = part.duplicated(["dataset", "seed"])
        if dup.any():
            first = tuple(part[dup].iloc[0, :2])
            raise NasBenchError(f"{label} has several runs for (dataset, seed) {first}",
                                "pass one run per dataset and seed (filter the index first)")
        return part.set_index(["dataset", "seed"])[value]

    pairs = pd.concat({"a": side(a), "b": side(b)}, axis=1).dropna()
    groups = [(ds, g) for ds, g in pairs.groupby(level="dataset", sort=True)] + [("all", pairs)]
    rows = []
    for dataset, g in groups:
        d = (g["a"] - g["b"]).to_numpy(dtype=float)
        stat = p = np.nan
        if np.any(d != 0):
            res = stats.wilcoxon(g["a"].to_numpy(dtype=float), g["b"].to_numpy(dtype=float),
                                 alternative=alternative)
            stat, p = float(res.statistic), float(res.pvalue)
        rows.append({"dataset": dataset, "a": a, "b": b, "n_pairs": len(d),
                     "mean_a": g["a"].mean(), "mean_b": g["b"].mean(),
                     "median_diff": float(np.median(d)) if len(d) else np.nan,
                     "statistic": stat, "pvalue": p})
    return pd.DataFrame(rows, columns=["dataset", "a", "b", "n_pairs", "mean_a", "mean_b", "median_diff",
                                       "statistic", "pvalue"])


def tau_curves(tau_curve: pd.DataFrame, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Fig. 7: mean and std of tau over runs at each epoch, per label and dataset."""
    df = tau_curve if labels is None else tau_curve[tau_curve["label"].isin(labels)]
    g = df.groupby(["dataset", "label", "epoch"], sort=True)["tau"]
    out = pd.concat({"mean": g.mean(), "std": g.std(ddof=1), "n": g.count()}, axis=1).reset_index()
    return out[["dataset", "label", "epoch", "n", "mean", "std"]]


# --------------------------------------------------------------------------- ranking distributions
@dataclass
class RankingDistribution:
    """Fig. 1 data: ``frame`` has arch, gt_acc, gt_rank (1 = best of the chosen archs), source
    ('supernet' | 'standalone'), seed, rank (1 = best in that run); ``notes`` says what was missing."""

    frame: pd.DataFrame
    archs: list[str]
    notes: dict[str, str]

    def ranks(self, source: str) -> pd.DataFrame:
        return self.frame[self.frame["source"] == source]


def _rank_desc(x: Sequence[float]) -> np.ndarray:
    """Rank 1 = highest value; ties share the average rank."""
    return stats.rankdata(-np.asarray(x, dtype=float), method="average")


def common_archs(ranking: pd.DataFrame) -> list[str]:
    """Architectures ranked in every run of ``ranking`` (sorted)."""
    if ranking.empty:
        return []
    sets = [set(g["arch"]) for _, g in ranking.groupby("run_id")]
    return sorted(set.intersection(*sets))


def standalone_accuracies(results: Results, dataset: str, archs: Sequence[str] | None = None,
                          groundtruth: GroundTruth | None = None) -> tuple[pd.DataFrame, str]:
    """Standalone accuracy of architectures per training seed, and a note ('' when found).

    From all standalone runs of ``results`` on ``dataset`` when there are any (their validation
    accuracy; ``gt_acc`` as the runs recorded it when every run did, else from ``groundtruth`` when
    given, else NaN). Otherwise from a ground-truth
    source with per-seed results (official .pth or NATS-tss), looked up for ``archs``: each NB201
    training seed's accuracy, with the seed mean as ``gt_acc``. Columns: arch, seed, standalone_acc, gt_acc.
    """
    cols = ["arch", "seed", "standalone_acc", "gt_acc"]
    own = results.standalone[results.standalone["dataset"] == dataset]
    if len(own):
        frame = pd.DataFrame({"arch": own["arch"], "seed": own["seed"].astype(int),
                              "standalone_acc": own["val_acc"].astype(float)})
        recorded = own["gt_acc"].astype(float)
        frame["gt_acc"] = (recorded if recorded.notna().all() else
                           groundtruth.accuracies(list(frame["arch"]), dataset) if groundtruth is not None
                           else np.nan)
        return frame[cols].reset_index(drop=True), ""
    if groundtruth is None:
        return pd.DataFrame(columns=cols), (f"no standalone runs for {dataset} in the results and no "
                                            "per-seed ground truth given")
    if groundtruth.kind == "table":
        return pd.DataFrame(columns=cols), (f"no standalone runs for {dataset} in the results, and "
                                            f"{groundtruth.source} holds seed means only")
    if not archs:
        return pd.DataFrame(columns=cols), (f"no standalone runs for {dataset} in the results and no "
                                            f"architectures to look up in {groundtruth.source}")
    rows, why = [], ""
    for arch in archs:
        try:
            per_seed = groundtruth.seed_accuracies(arch, dataset)
        except NasBenchError as e:
            why = e.problem
            continue
        mean = groundtruth.accuracy(arch, dataset)
        rows += [{"arch": arch, "seed": s, "standalone_acc": acc, "gt_acc": mean}
                 for s, acc in per_seed.items()]
    if not rows:
        return pd.DataFrame(columns=cols), f"no per-seed ground truth for these architectures ({why})"
    return pd.DataFrame(rows, columns=cols), ""


def _complete_seeds(frame: pd.DataFrame, archs: set[str]) -> pd.DataFrame:
    """Rows of the seeds that trained every one of ``archs`` (ranks over a seed compare like with like)."""
    frame = frame[frame["arch"].isin(archs)]
    full = [s for s, g in frame.groupby("seed") if set(g["arch"]) == archs]
    return frame[frame["seed"].isin(full)]


def _seeded_order(archs: set[str], seed: int) -> list[str]:
    """The architectures in a seeded random order (the sample of Fig. 1 is a prefix of it)."""
    return [str(a) for a in np.random.default_rng(seed).permutation(sorted(archs))]


def _per_seed_sample(results: Results, dataset: str, order: list[str], n_archs: int,
                     groundtruth: GroundTruth | None) -> tuple[pd.DataFrame, str]:
    """Standalone rows of the first ``n_archs`` of ``order`` that the ground truth has, in the seeds of the
    first such architecture (so every seed ranks the same architectures); queried one at a time."""
    if groundtruth is None or groundtruth.kind == "table":  # no per-seed results at all: say why
        return standalone_accuracies(results, dataset, order, groundtruth)
    rows, seeds = [], None
    for arch in order:
        one, note = standalone_accuracies(results, dataset, [arch], groundtruth)
        if note:  # this architecture has no per-seed results
            continue
        seeds = set(one["seed"]) if seeds is None else seeds
        if seeds <= set(one["seed"]):
            rows.append(one[one["seed"].isin(seeds)])
        if len(rows) == n_archs:
            break
    if len(rows) < 2:
        return pd.DataFrame(columns=["arch", "seed", "standalone_acc", "gt_acc"]), \
            "fewer than 2 of the supernet's architectures have per-seed results in the same seeds"
    return pd.concat(rows, ignore_index=True), ""


def ranking_distribution(results: Results, label: str = "SPOS", dataset: str = "cifar10", n_archs: int = 30,
                         seed: int = 0, groundtruth: GroundTruth | None = None) -> RankingDistribution:
    """SE-NAS Sec. 3.2, Fig. 1: ranks of ``n_archs`` random architectures in each repeated run.

    The architectures are a seeded sample of those ranked by every ``label`` run on ``dataset``. With
    standalone runs in the results, the sample is drawn from the architectures trained standalone in
    every seed; else, with a per-seed ground truth, from those it has results for. In each run they are
    ranked among themselves by supernet accuracy, in each standalone seed by standalone accuracy;
    ``gt_rank`` orders them by ground truth (1 = best).
    """
    notes: dict[str, str] = {}
    sup = results.ranking[(results.ranking["label"] == label) & (results.ranking["dataset"] == dataset)]
    candidates = set(common_archs(sup))
    if sup.empty:
        notes["supernet"] = f"no finished {label} runs on {dataset}"
    elif len(candidates) < 2:
        notes["supernet"] = (f"fewer than 2 architectures are ranked in every {label} run on {dataset}: "
                             "rank the same architectures in each run (e.g. rank_archs=none)")
    cols = ["arch", "gt_acc", "gt_rank", "source", "seed", "rank"]
    if len(candidates) < 2:
        notes.setdefault("standalone", "no architectures to rank (see the supernet panel)")
        return RankingDistribution(pd.DataFrame(columns=cols), [], notes)
    own = (results.standalone["dataset"] == dataset).any()
    if own:
        solo, note = standalone_accuracies(results, dataset, None, groundtruth)
        per_arch = solo.groupby("arch")["seed"].nunique()
        trained = set(per_arch[per_arch == solo["seed"].nunique()].index)
        if len(candidates & trained) >= 2:
            candidates &= trained
        else:
            note = "fewer than 2 of the supernet's architectures were trained standalone in every seed"
    else:
        solo, note = _per_seed_sample(results, dataset, _seeded_order(candidates, seed), n_archs, groundtruth)
        if not note:
            candidates = set(solo["arch"])
    if note:
        notes["standalone"] = note
        solo = solo.iloc[:0]
    chosen = _seeded_order(candidates, seed)[:n_archs]
    sup = sup[sup["arch"].isin(set(chosen))]
    gt = sup.groupby("arch")["gt_acc"].first().loc[chosen]
    order = sorted(chosen, key=lambda a: (-gt[a], a))
    gt_rank = {a: i + 1 for i, a in enumerate(order)}
    parts = []
    for _, g in sup.groupby("run_id"):
        parts.append(pd.DataFrame({"arch": g["arch"], "source": "supernet", "seed": g["seed"].iloc[0],
                                   "rank": _rank_desc(g["supernet_acc"])}))
    for solo_seed, g in _complete_seeds(solo, set(chosen)).groupby("seed"):
        parts.append(pd.DataFrame({"arch": g["arch"], "source": "standalone", "seed": solo_seed,
                                   "rank": _rank_desc(g["standalone_acc"])}))
    frame = pd.concat(parts, ignore_index=True)
    frame["gt_acc"] = frame["arch"].map(gt)
    frame["gt_rank"] = frame["arch"].map(gt_rank)
    return RankingDistribution(frame[cols].sort_values(["source", "gt_rank", "seed"]).reset_index(drop=True),
                               order, notes)


def standalone_tau(results: Results, dataset: str, groundtruth: GroundTruth | None = None,
                   archs: Sequence[str] | None = None) -> tuple[pd.Series, str]:
    """Table 1, standalone row: Kendall's tau between standalone and ground-truth accuracy per seed.

    Over all standalone runs on ``dataset``; without any, over ``archs`` in a per-seed ground truth.
    """
    solo, note = standalone_accuracies(results, dataset, archs, groundtruth)
    if note:
        return pd.Series(dtype=float), note
    if solo["gt_acc"].isna().any():
        return pd.Series(dtype=float), "standalone runs found but no ground truth given to rank them against"
    taus = {s: kendall_tau(g["standalone_acc"], g["gt_acc"]) for s, g in solo.groupby("seed") if len(g) >= 2}
    if not taus:
        return pd.Series(dtype=float), "fewer than 2 standalone architectures per seed"
    return pd.Series(taus, name="tau", dtype=float).rename_axis("seed"), ""


# ------------------------------------------------------------------------------ operator retention
def operator_retention(operators: pd.DataFrame) -> pd.DataFrame:
    """SE-NAS Sec. 4.2, Fig. 6: for each (dataset, label, stage) and each of the 30 NB201 (edge, op)
    pairs, in how many runs it was kept at that stage, removed at it, or already gone before it.

    ``operators`` holds the scored (alive) pairs of every stage of every run; a pair missing from a
    stage's rows was removed at an earlier stage. ``frac_kept = kept / n_runs``.
    """
    cols = ["dataset", "label", "criterion", "stage", "edge", "op", "gt_rank", "n_runs", "kept", "removed",
            "gone", "frac_kept"]
    if operators.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (dataset, label), df in operators.groupby(["dataset", "label"], sort=True):
        pairs = df[["edge", "op", "gt_rank"]].drop_duplicates().sort_values(["gt_rank", "edge", "op"])
        if pairs.duplicated(["edge", "op"]).any():
            raise NasBenchError(
                f"{label} runs on {dataset} disagree on the ground-truth rank of an operation",
                "analyse runs that used the same ground-truth source together")
        criterion = df["criterion"].iloc[0]
        for stage, st in df.groupby("stage", sort=True):
            n_runs = st["run_id"].nunique()
            counts = st.groupby(["edge", "op"])["removed"].agg(["sum", "count"])
            for p in pairs.itertuples(index=False):
                removed, present = counts.loc[(p.edge, p.op)] if (p.edge, p.op) in counts.index else (0, 0)
                rows.append({"dataset": dataset, "label": label, "criterion": criterion, "stage": int(stage),
                             "edge": int(p.edge), "op": p.op, "gt_rank": int(p.gt_rank), "n_runs": n_runs,
                             "kept": int(present - removed), "removed": int(removed),
                             "gone": int(n_runs - present), "frac_kept": (present - removed) / n_runs})
    return pd.DataFrame(rows, columns=cols)


def topk_retention(operators: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Fraction of the top-k ground-truth (edge, op) pairs still alive after each stage, per run, then
    mean, std and count over runs per (dataset, label, stage)."""
    if not 1 <= k <= 30:
        raise NasBenchError(f"k={k} is outside 1..30 NB201 (edge, op) pairs", "choose k in 1..30")
    cols = ["dataset", "label", "criterion", "stage", "k", "n", "mean", "std"]
    if operators.empty:
        return pd.DataFrame(columns=cols)
    keys = ["dataset", "label", "criterion", "stage", "run_id"]
    top = operators[operators["gt_rank"] <= k]
    kept = top.assign(kept=~top["removed"].astype(bool)).groupby(keys, dropna=False)["kept"].sum()
    every_run = pd.MultiIndex.from_frame(operators[keys].drop_duplicates())
    per_run = kept.reindex(every_run, fill_value=0) / k  # a run whose top-k pairs are all gone kept 0
    g = per_run.groupby(keys[:-1], dropna=False)
    out = pd.concat({"n": g.count(), "mean": g.mean(), "std": g.std(ddof=1)}, axis=1).reset_index()
    out.insert(4, "k", k)
    return out[cols]


# ------------------------------------------------------------------------------------ like-for-like
def like_for_like(paired: pd.DataFrame, point: str = "final", level: float = 0.95) -> pd.DataFrame:
    """Paired statistics over seeds from ``paired.parquet`` (:mod:`benchmark.pairing`): for each dataset,
    shrinking method and baseline, both taus over the *same* architectures of ``point`` in every seed.

    Columns: dataset, ranked (the method whose architectures are ranked), baseline, n_pairs, n_ranked
    (mean architectures per pair), mean taus, mean difference baseline - ranked with a bootstrap interval
    over seeds, the Wilcoxon signed-rank p-value (NaN below two non-zero differences) and the mean noise
    ceiling of those sets.
    """
    cols = ["dataset", "ranked", "baseline", "n_pairs", "n_ranked", "tau_ranked", "tau_baseline", "diff",
            "diff_ci_low", "diff_ci_high", "pvalue", "ceiling_median"]
    if paired is None or paired.empty:
        return pd.DataFrame(columns=cols)
    at = paired[paired["point"] == point]
    rows = []
    for (dataset, ranked_run, baseline_run), g in at.groupby(["dataset", "ranked_run", "baseline_run"]):
        own = g[g["role"] == "ranked"].iloc[0]
        base = g[g["role"] == "baseline"].iloc[0]
        rows.append({"dataset": dataset, "ranked": own["method"], "baseline": base["method"],
                     "seed": own["seed"], "n_ranked": own["n_ranked"], "tau_ranked": own["tau"],
                     "tau_baseline": base["tau"], "ceiling_median": own["ceiling_median"]})
    pairs = pd.DataFrame(rows)
    out = []
    for (dataset, ranked, baseline), g in pairs.groupby(["dataset", "ranked", "baseline"], sort=True):
        g = g.dropna(subset=["tau_ranked", "tau_baseline"])
        d = (g["tau_baseline"] - g["tau_ranked"]).to_numpy(dtype=float)
        p = float(stats.wilcoxon(d).pvalue) if np.count_nonzero(d) >= 2 else float("nan")
        lo, hi = bootstrap_ci(d, level)
        out.append({"dataset": dataset, "ranked": ranked, "baseline": baseline, "n_pairs": len(g),
                    "n_ranked": float(g["n_ranked"].mean()) if len(g) else np.nan,
                    "tau_ranked": g["tau_ranked"].mean(), "tau_baseline": g["tau_baseline"].mean(),
                    "diff": d.mean() if len(d) else np.nan, "diff_ci_low": lo, "diff_ci_high": hi,
                    "pvalue": p, "ceiling_median": g["ceiling_median"].mean()})
    return pd.DataFrame(out, columns=cols)


def method_rows(paired: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, point) of ``paired.parquet``: the ranked method's rows appear once per baseline
    there and are kept once; every baseline row is kept."""
    own = paired[paired["role"] == "ranked"].drop_duplicates(subset=["ranked_run", "point"])
    return pd.concat([own, paired[paired["role"] == "baseline"]], ignore_index=True)


def paired_curves(paired: pd.DataFrame) -> pd.DataFrame:
    """Like-for-like Fig. 7: mean and std over seeds of each method's tau at every ranking point (tau
    epochs, then ``final``) over the same architectures, with the mean noise ceiling of those sets
    (each run counted once, :func:`method_rows`)."""
    cols = ["dataset", "label", "point", "epoch", "order", "n", "n_ranked", "mean", "std", "ceiling_median",
            "ceiling_low", "ceiling_high"]
    if paired is None or paired.empty:
        return pd.DataFrame(columns=cols)
    df = method_rows(paired)
    df = df.assign(order=[np.inf if p == "final" else e for p, e in df[["point", "epoch"]].itertuples(index=False)])
    g = df.groupby(["dataset", "label", "point", "order"], sort=True)
    out = pd.concat({"epoch": g["epoch"].max(), "n": g["tau"].count(), "n_ranked": g["n_ranked"].mean(),
                     "mean": g["tau"].mean(), "std": g["tau"].std(ddof=1),
                     "ceiling_median": g["ceiling_median"].mean(), "ceiling_low": g["ceiling_low"].mean(),
                     "ceiling_high": g["ceiling_high"].mean()}, axis=1).reset_index()
    return out.sort_values(["dataset", "label", "order"])[cols].reset_index(drop=True)
