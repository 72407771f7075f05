"""Analysis over a results directory: loading and version checks, tau statistics, the paired Wilcoxon
test, ranking distributions, operator retention, Tables 1 and 3, the figures and `nasbench figures`.

Every test runs on a small results directory written here in the exact sweep layout
(``index.parquet`` + ``runs/<run_id>/``), with planted values whose statistics are known by hand.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis.results import load_results, provenance, resolve_groundtruth, run_label
from analysis.stats import (
    bootstrap_ci,
    operator_retention,
    paired_wilcoxon,
    ranking_distribution,
    standalone_tau,
    tau_curves,
    tau_statistics,
    topk_retention,
)
from analysis.tables import PAPER_TABLE1, table1, table3, to_markdown
from benchmark.errors import NasBenchError
from benchmark.groundtruth import TableGroundTruth
from benchmark.groundtruth.metrics import REPORTED
from benchmark.harness.index import INDEX_COLUMNS
from benchmark.harness.sweep import LAYOUT_VERSION, VERSION_FILE
from benchmark.methods.base import RESULT_VERSION
from benchmark.spaces.nb201 import EDGES, OPS, format_arch

METRICS = tuple(REPORTED)
ARCHS = [format_arch(ops)
         for ops in itertools.islice(itertools.product(OPS, repeat=len(EDGES)), 0, 15625, 390)]
GT = {a: 60.0 + 30.0 * i / len(ARCHS) for i, a in enumerate(ARCHS)}  # distinct, increasing


def _tau(seed: int, method: str, criterion: str | None, dataset: str) -> float:
    """Planted final tau: SE-NAS beats SPOS by 0.1 plus a seed-dependent wiggle."""
    base = {"cifar10": 0.50, "cifar100": 0.45}[dataset] + 0.01 * seed
    gain = {"spos": 0.0, "senas": 0.10 + 0.003 * seed}[method]
    return base + gain - (0.05 if criterion == "random" else 0.0)


def _operators(rng: np.random.Generator, criterion: str, dataset: str) -> pd.DataFrame:
    """Two stages, 10 removals each, over the 30 (edge, op) pairs with gt_rank 1..30 (fixed per dataset)."""
    pairs = [(e, op) for e in range(len(EDGES)) for op in OPS]
    gt_rank = dict(zip(pairs, np.random.default_rng(len(dataset)).permutation(30) + 1))
    alive, rows = list(pairs), []
    for stage in (1, 2):
        score = {p: (-gt_rank[p] + rng.normal(0, 3) if criterion == "senas" else rng.normal()) for p in alive}
        removed = set(sorted(alive, key=score.get)[:10])
        rows += [{"stage": stage, "edge": p[0], "op": p[1], "score": score[p], "removed": p in removed,
                  "gt_score": 100.0 - gt_rank[p], "gt_rank": int(gt_rank[p])} for p in alive]
        alive = [p for p in alive if p not in removed]
    return pd.DataFrame(rows)


def write_results_dir(root: Path, seeds=(0, 1, 2), datasets=("cifar10", "cifar100"),
                      criteria=("senas", "random"), standalone: bool = True, preset: str = "tiny",
                      recorded_gt: bool = False) -> Path:
    """A results directory in the sweep layout: SPOS and SE-NAS (per criterion) runs per dataset and
    seed, standalone runs of 8 architectures per seed on cifar10 (with ``recorded_gt``, their result.json
    records the ground truth, as this toolkit's standalone runs do), and one failed run."""
    root = Path(root)
    rows = []
    for dataset, seed in itertools.product(datasets, seeds):
        for method, criterion in [("spos", None), *(("senas", c) for c in criteria)]:
            rng = np.random.default_rng([seed, len(rows)])
            run_id = f"{method}-{criterion or 'none'}-{dataset}-s{seed}"
            run = root / "runs" / run_id
            run.mkdir(parents=True)
            tau = _tau(seed, method, criterion, dataset)
            noise = 10.0 * (1.0 - tau)
            ranking = pd.DataFrame({"arch": ARCHS, "gt_acc": [GT[a] for a in ARCHS]})
            ranking["supernet_acc"] = ranking["gt_acc"] + rng.normal(0, noise, len(ARCHS))
            ranking[["arch", "supernet_acc", "gt_acc"]].to_parquet(run / "ranking.parquet")
            pd.DataFrame({"epoch": [2, 4], "stage": [1, 2], "space_size": [15625, 500], "n_ranked": [40, 40],
                          "tau": [tau - 0.2, tau], "spearman": [tau - 0.1, tau + 0.1]}).to_parquet(
                run / "tau_curve.parquet")
            ops = _operators(rng, criterion, dataset) if method == "senas" else pd.DataFrame(
                columns=["stage", "edge", "op", "score", "removed", "gt_score", "gt_rank"])
            ops.to_parquet(run / "operators.parquet")
            best_gt = {m: 90.0 + 0.5 * seed + (1.0 if method == "senas" else 0.0) + i
                       for i, m in enumerate(METRICS)}
            (run / "result.json").write_text(json.dumps({
                "version": RESULT_VERSION, "method": method, "seed": seed, "tau": tau,
                "config": {"method": method, "dataset": dataset, "seed": seed,
                           "preset": {"name": preset, "stages": 2, "epochs_per_stage": 2}}}))
            rows.append({"run_id": run_id, "status": "done", "method": method, "criterion": criterion,
                         "normalization": None if method == "spos" else "mean",
                         "expand": None if method == "spos" else True, "dataset": dataset, "seed": seed,
                         "preset": preset, "tau": tau, "spearman": tau + 0.1, "final_space_size": 500,
                         "n_ranked": len(ARCHS), "best_arch": ARCHS[-1],
                         **{f"best_gt.{m}": v for m, v in best_gt.items()},
                         "train_s": 10.0, "score_s": 1.0, "rank_s": 2.0, "total_s": 100.0 + seed,
                         "error": None, "run_dir": f"runs/{run_id}", "toolkit_version": "0.1.0"})
    if standalone:
        for seed, arch in itertools.product(seeds, ARCHS[:8]):
            run_id = f"standalone-{ARCHS.index(arch)}-s{seed}"
            run = root / "runs" / run_id
            run.mkdir(parents=True)
            acc = GT[arch] + (0.5 if (ARCHS.index(arch) + seed) % 3 == 0 else 0.0)  # < gap: gt order
            recorded = {"groundtruth": {"source": "planted", "metric": "cifar10-valid/x-valid"},
                        "gt_acc": GT[arch]} if recorded_gt else {}
            (run / "result.json").write_text(json.dumps({"version": RESULT_VERSION, "method": "standalone",
                                                         "arch": arch, "val_acc": acc, "test_acc": acc - 1,
                                                         **recorded}))
            rows.append({"run_id": run_id, "status": "done", "method": "standalone", "dataset": "cifar10",
                         "seed": seed, "preset": preset, "run_dir": f"runs/{run_id}",
                         "toolkit_version": "0.1.0", "arch": arch, "val_acc": acc, "test_acc": acc - 1})
    (root / "runs" / "spos-failed").mkdir(parents=True)
    (root / "runs" / "spos-failed" / "error.json").write_text(json.dumps({"error": "boom"}))
    rows.append({"run_id": "spos-failed", "status": "failed", "method": "spos", "dataset": "cifar10",
                 "seed": 99,
                 "preset": preset, "error": "RuntimeError: boom", "run_dir": "runs/spos-failed",
                 "toolkit_version": "0.1.0"})
    pd.DataFrame(rows, columns=list(INDEX_COLUMNS)).to_parquet(root / "index.parquet")
    (root / VERSION_FILE).write_text(f"{LAYOUT_VERSION}\n")
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return load_results(write_results_dir(tmp_path_factory.mktemp("results")))


@pytest.fixture(scope="module")
def groundtruth() -> TableGroundTruth:
    """A planted ground-truth table over ARCHS (NASLib-style dummy benchmark)."""
    df = pd.DataFrame({"index": range(len(ARCHS)), "arch": ARCHS})
    for col in REPORTED.values():
        df[col] = [GT[a] for a in ARCHS]
    return TableGroundTruth(df)


# ------------------------------------------------------------------------------------------- loading
def test_load_concatenates_runs_with_metadata(results):
    assert len(results.index) == 2 * 3 * 3 + 3 * 8 + 1
    assert len(results.done) == len(results.index) - 1
    assert set(results.tau_curve["label"]) == {"SPOS", "SE-NAS", "SE-NAS [random]"}
    assert len(results.tau_curve) == 18 * 2
    assert len(results.ranking) == 18 * len(ARCHS)
    assert len(results.operators) == 12 * (30 + 20)  # only SE-NAS runs have operator rows
    row = results.ranking[results.ranking["run_id"] == "senas-senas-cifar100-s2"]
    assert (row[["method", "criterion", "dataset", "seed", "preset"]].drop_duplicates().values.tolist()
            == [["senas", "senas", "cifar100", 2, "tiny"]])
    assert len(results.standalone) == 24 and set(results.standalone["arch"]) == set(ARCHS[:8])
    assert results.stage_ends("SE-NAS") == [2, 4]


def test_labels_and_provenance():
    assert run_label("spos") == "SPOS"
    assert run_label("senas", "senas", "mean", True) == "SE-NAS"
    assert run_label("senas", "random", "range", False) == "SE-NAS [random, norm=range, no expand]"
    runs = pd.DataFrame({"preset": ["tiny"] * 4, "seed": [0, 1, 2, 3]})
    assert provenance(runs) == ("preset tiny; seeds 0-3; 4 runs - reduced scale, not comparable with the "
                                "paper's numbers")
    paper = pd.DataFrame({"run_id": ["r"], "preset": ["paper"], "seed": [5]})
    assert provenance(paper) == "preset paper; seed 5; 1 run"
    scale = "preset paper: C=16, N=5, 40 epochs"
    assert provenance(paper, {"r": f"{scale}; more"}) == f"{scale}; seed 5; 1 run"


def test_incompatible_results_are_refused(tmp_path):
    root = write_results_dir(tmp_path / "r", seeds=(0,), datasets=("cifar10",), criteria=("senas",),
                             standalone=False)
    index = pd.read_parquet(root / "index.parquet")
    index.drop(columns=["best_gt.cifar100/x-test"]).to_parquet(root / "index.parquet")
    with pytest.raises(NasBenchError, match="incompatible toolkit version.*best_gt.cifar100/x-test"):
        load_results(root)
    index.to_parquet(root / "index.parquet")
    result = root / "runs" / "spos-none-cifar10-s0" / "result.json"
    result.write_text(json.dumps({**json.loads(result.read_text()), "version": RESULT_VERSION + 1}))
    with pytest.raises(NasBenchError, match=f"result version {RESULT_VERSION + 1}"):
        load_results(root)
    result.unlink()
    with pytest.raises(NasBenchError, match="marked done but .*result.json is missing"):
        load_results(root)
    (root / "index.parquet").unlink()
    with pytest.raises(NasBenchError, match="no index.parquet"):
        load_results(root)
    (root / VERSION_FILE).write_text(f"{LAYOUT_VERSION + 1}\n")
    with pytest.raises(NasBenchError, match=f"layout version '{LAYOUT_VERSION + 1}'"):
        load_results(root)
    with pytest.raises(NasBenchError, match="no VERSION file"):
        load_results(tmp_path)


# --------------------------------------------------------------------------------------------- stats
def test_bootstrap_ci_contains_mean_and_is_seeded():
    x = np.random.default_rng(1).normal(0.5, 0.1, size=10)
    lo, hi = bootstrap_ci(x, seed=3)
    assert lo < x.mean() < hi
    assert (lo, hi) == bootstrap_ci(x, seed=3)
    assert bootstrap_ci(x, level=0.5, seed=3)[1] - bootstrap_ci(x, level=0.5, seed=3)[0] < hi - lo
    assert all(np.isnan(bootstrap_ci([0.4])))


def test_tau_statistics_match_numpy(results):
    st = tau_statistics(results.runs()[lambda d: d["method"] != "standalone"]).set_index(["label", "dataset"])
    taus = [_tau(s, "senas", "senas", "cifar10") for s in (0, 1, 2)]
    row = st.loc[("SE-NAS", "cifar10")]
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(np.mean(taus))
    assert row["std"] == pytest.approx(np.std(taus, ddof=1))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_paired_wilcoxon_on_planted_pairs():
    # SE-NAS beats SPOS on all 6 (dataset, seed) pairs: W- = 0, exact p = 2 / 2^6 two-sided.
    rows = [{"label": lab, "dataset": ds, "seed": s,
             "tau": 0.5 + 0.01 * s + (0.1 + 0.01 * s if lab == "SE-NAS" else 0)}
            for lab in ("SE-NAS", "SPOS") for ds in ("cifar10", "cifar100") for s in range(3)]
    runs = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # pairing must not depend on row order
    w = paired_wilcoxon(runs).set_index("dataset")
    assert w.loc["all", "n_pairs"] == 6
    assert w.loc["all", "statistic"] == 0
    assert w.loc["all", "pvalue"] == pytest.approx(2 / 2 ** 6)
    assert w.loc["all", "median_diff"] == pytest.approx(0.11)
    assert w.loc["cifar10", "pvalue"] == pytest.approx(2 / 2 ** 3)
    greater = paired_wilcoxon(runs, alternative="greater").set_index("dataset")
    assert greater.loc["all", "pvalue"] == pytest.approx(1 / 64)
    # a planted swap in one pair: differences +0.1..+0.15 and one -0.05 -> scipy's answer
    d = np.array([0.1, 0.11, 0.12, 0.13, 0.14, -0.05])
    runs2 = pd.DataFrame({"label": ["SE-NAS"] * 6 + ["SPOS"] * 6, "dataset": ["cifar10"] * 12,
                          "seed": list(range(6)) * 2, "tau": list(0.5 + d) + [0.5] * 6})
    assert paired_wilcoxon(runs2).iloc[-1]["pvalue"] == pytest.approx(sps.wilcoxon(d).pvalue)
    equal = runs2.assign(tau=0.5)
    assert np.isnan(paired_wilcoxon(equal).iloc[-1]["pvalue"])


def test_wilcoxon_on_results_dir(results):
    w = paired_wilcoxon(results.done).set_index("dataset")
    assert w.loc["all", "n_pairs"] == 6 and w.loc["all", "mean_a"] > w.loc["all", "mean_b"]
    assert w.loc["all", "statistic"] == 0


def test_tau_curves(results):
    c = tau_curves(results.tau_curve, ["SPOS"]).set_index(["dataset", "label", "epoch"])
    taus = [_tau(s, "spos", None, "cifar100") for s in (0, 1, 2)]
    assert c.loc[("cifar100", "SPOS", 4), "mean"] == pytest.approx(np.mean(taus))
    assert c.loc[("cifar100", "SPOS", 2), "n"] == 3


def test_operator_retention_by_hand():
    # Two runs of one criterion. Stage 1 scores 3 pairs; run a removes A, run b removes B.
    # Stage 2: run a scores B, C and removes C; run b scores A, C and removes nothing.
    ops = pd.DataFrame([
        ("a", 1, 0, "none", True, 3), ("a", 1, 1, "none", False, 1), ("a", 1, 2, "none", False, 2),
        ("b", 1, 0, "none", False, 3), ("b", 1, 1, "none", True, 1), ("b", 1, 2, "none", False, 2),
        ("a", 2, 1, "none", False, 1), ("a", 2, 2, "none", True, 2),
        ("b", 2, 0, "none", False, 3), ("b", 2, 2, "none", False, 2),
    ], columns=["run_id", "stage", "edge", "op", "removed", "gt_rank"]).assign(
        dataset="cifar10", label="SE-NAS [random]", criterion="random")
    r = operator_retention(ops).set_index(["stage", "gt_rank"])
    assert r.loc[(1, 1), ["kept", "removed", "gone"]].tolist() == [1, 1, 0]
    assert r.loc[(1, 3), ["kept", "removed", "gone"]].tolist() == [1, 1, 0]
    assert r.loc[(2, 1), ["kept", "removed", "gone"]].tolist() == [1, 0, 1]
    assert r.loc[(2, 2), ["kept", "removed", "gone"]].tolist() == [1, 1, 0]
    assert r.loc[(2, 3), ["kept", "removed", "gone"]].tolist() == [1, 0, 1]
    assert r.loc[(2, 2), "frac_kept"] == 0.5
    t = topk_retention(ops, k=1).set_index("stage")  # top-1 = gt_rank 1: kept by a then a, removed by b
    assert t.loc[1, "mean"] == 0.5 and t.loc[2, "mean"] == 0.5 and t.loc[2, "n"] == 2
    t2 = topk_retention(ops, k=2).set_index("stage")  # ranks 1, 2: stage 2, a keeps 1 of 2, b keeps 1 of 2
    assert t2.loc[1, "mean"] == pytest.approx(0.75) and t2.loc[2, "mean"] == pytest.approx(0.5)


def test_operator_retention_on_results_dir(results):
    r = operator_retention(results.operators)
    stage1 = r[(r["stage"] == 1) & (r["label"] == "SE-NAS") & (r["dataset"] == "cifar10")]
    assert len(stage1) == 30 and (stage1["n_runs"] == 3).all()
    assert (stage1["removed"].sum(), stage1["gone"].sum()) == (30, 0)  # 10 per run, nothing earlier
    stage2 = r[(r["stage"] == 2) & (r["label"] == "SE-NAS") & (r["dataset"] == "cifar10")]
    assert (stage2["kept"].sum(), stage2["removed"].sum(), stage2["gone"].sum()) == (30, 30, 30)
    # the planted score follows the ground truth, so SE-NAS keeps more of the top 10 than random does
    t = topk_retention(results.operators, 10).set_index(["dataset", "label", "stage"])
    assert t.loc[("cifar10", "SE-NAS", 2), "mean"] > t.loc[("cifar10", "SE-NAS [random]", 2), "mean"]


def test_ranking_distribution(results, groundtruth):
    dist = ranking_distribution(results, "SPOS", "cifar10", n_archs=30, groundtruth=groundtruth)
    assert dist.notes == {}
    assert len(dist.archs) == 8  # the 8 standalone architectures, all ranked by every SPOS run
    assert dist.archs == sorted(ARCHS[:8], key=lambda a: -GT[a])
    sup = dist.ranks("supernet")
    assert len(sup) == 8 * 3 and sorted(sup[sup["seed"] == 0]["rank"]) == list(range(1, 9))
    assert sup.groupby("arch")["gt_rank"].first().loc[ARCHS[7]] == 1
    solo = dist.ranks("standalone")
    # seed 0: archs 0, 3, 6 get +0.5 but stay below the next one (gaps ~0.73): ranks equal gt ranks
    s0 = solo[solo["seed"] == 0]
    assert (s0["rank"].to_numpy() == s0["gt_rank"].to_numpy()).all()
    no_solo = ranking_distribution(results, "SPOS", "cifar100", n_archs=30)
    assert len(no_solo.archs) == 30 and no_solo.ranks("standalone").empty
    assert "no standalone runs for cifar100" in no_solo.notes["standalone"]
    assert ranking_distribution(results, "SPOS", "cifar100", n_archs=30, seed=0).archs == no_solo.archs


class PerSeedGroundTruth(TableGroundTruth):
    """Planted per-seed results: every 5th architecture has none, odd ones two seeds, even ones three."""

    kind = "planted"

    def _per_seed(self, index: int, metric: str) -> dict[int, float]:
        if index % 5 == 4:
            raise NasBenchError(f"no per-seed results for {index}")
        mean = self._mean(index, metric)
        return {777: mean + 0.1, 888: mean - 0.1} if index % 2 else {777: mean, 888: mean, 999: mean}


def test_ranking_distribution_from_per_seed_groundtruth(results, groundtruth):
    gt = PerSeedGroundTruth(groundtruth.compact())
    dist = ranking_distribution(results, "SPOS", "cifar100", n_archs=30, groundtruth=gt)
    assert "standalone" not in dist.notes and len(dist.archs) == 30
    assert all(ARCHS.index(a) % 5 != 4 for a in dist.archs)
    solo = dist.ranks("standalone")
    assert solo["seed"].nunique() in (2, 3) and len(solo) == 30 * solo["seed"].nunique()
    assert (solo["rank"].to_numpy() == solo["gt_rank"].to_numpy()).all()  # +-0.1 never crosses a 0.73 gap
    t = table1(results, gt)
    assert t.loc["standalone accuracy", "CIFAR-100"] == pytest.approx(1.0)
    table_only = ranking_distribution(results, "SPOS", "cifar100", groundtruth=groundtruth)
    assert "holds seed means only" in table_only.notes["standalone"] and table_only.ranks("standalone").empty


def test_standalone_tau_needs_groundtruth(results, groundtruth):
    taus, note = standalone_tau(results, "cifar10")
    assert taus.empty and "no ground truth" in note
    taus, note = standalone_tau(results, "cifar10", groundtruth)
    assert note == "" and len(taus) == 3 and (taus > 0.5).all()
    # own standalone runs are all used; ``archs`` only picks what to look up in a per-seed ground truth
    assert standalone_tau(results, "cifar10", groundtruth, archs=ARCHS[30:])[0].equals(taus)


# -------------------------------------------------------------------------------------------- tables
def test_table1_ranks_standalone_runs_by_the_groundtruth_they_recorded(tmp_path, results, groundtruth):
    recorded = load_results(write_results_dir(tmp_path / "recorded", recorded_gt=True))
    assert recorded.standalone["gt_acc"].tolist() == [GT[a] for a in recorded.standalone["arch"]]
    assert results.standalone["gt_acc"].isna().all()  # written before standalone runs recorded it
    row = "standalone accuracy"
    t = table1(recorded)  # no ground truth given: the recorded one ranks, as it does for supernet runs
    assert t.loc[row, "CIFAR-10"] == pytest.approx(table1(results, groundtruth).loc[row, "CIFAR-10"])
    assert t.loc[row, "CIFAR-10 n"] == 3 and "cifar10" not in t.attrs["notes"]
    reversed_gt = TableGroundTruth(groundtruth.compact().assign(
        **{c: lambda df, c=c: df[c].to_numpy()[::-1] for c in REPORTED.values()}))
    assert table1(recorded, reversed_gt).loc[row, "CIFAR-10"] == t.loc[row, "CIFAR-10"]  # recorded wins
    old = table1(results)  # old files without the field fall back as before
    assert np.isnan(old.loc[row, "CIFAR-10"]) and "no ground truth" in old.attrs["notes"]["cifar10"]
    one = next((tmp_path / "recorded" / "runs").glob("standalone-*")) / "result.json"
    one.write_text(json.dumps({k: v for k, v in json.loads(one.read_text()).items() if k != "gt_acc"}))
    mixed = load_results(tmp_path / "recorded")  # one run without it: all are ranked by the given one
    assert table1(mixed, reversed_gt).loc[row, "CIFAR-10"] == pytest.approx(-t.loc[row, "CIFAR-10"])


def test_table1_values(results, groundtruth):
    t = table1(results, groundtruth)
    spos10 = np.mean([_tau(s, "spos", None, "cifar10") for s in (0, 1, 2)])
    assert t.loc["supernet accuracy", "CIFAR-10"] == pytest.approx(spos10)
    assert t.loc["supernet accuracy", "CIFAR-10 n"] == 3
    assert t.loc["supernet accuracy", "CIFAR-10 paper"] == 0.543
    assert t.loc["standalone accuracy", "CIFAR-100 paper"] == 0.842
    solo, _ = standalone_tau(results, "cifar10", groundtruth)
    assert t.loc["standalone accuracy", "CIFAR-10"] == pytest.approx(solo.mean())
    assert np.isnan(t.loc["standalone accuracy", "CIFAR-100"])
    assert np.isnan(t.loc["supernet accuracy", "ImageNet-16-120"])
    assert {k: v for k, v in PAPER_TABLE1["supernet accuracy"].items()} == {
        "cifar10": 0.543, "cifar100": 0.532, "imagenet16-120": 0.539}
    archs = results.runs(label="SPOS", dataset="cifar10")["n_ranked"].mean()
    assert t.loc["supernet accuracy", "CIFAR-10 archs"] == archs  # the set each tau covers
    md = to_markdown(t)
    assert "| supernet accuracy | " in md and f"(n=3, {archs:.0f} archs) | 0.543" in md and "reduced scale" in md


def test_table3_values(results):
    t = table3(results, "cifar10")
    assert list(t.index) == ["SPOS", "SE-NAS", "SE-NAS [random]", "SE-NAS (paper)", "Optimal (paper)"]
    m = "cifar10-valid/x-valid"
    assert t.loc["SE-NAS", f"{m} mean"] == pytest.approx(91.5)  # 90 + 1 + mean(0, .5, 1)
    assert t.loc["SE-NAS", f"{m} std"] == pytest.approx(0.5)
    assert t.loc["SPOS", "time_s"] == pytest.approx(101.0)
    assert (t.loc["SE-NAS (paper)", f"{m} mean"], t.loc["SE-NAS (paper)", f"{m} std"]) == (90.50, 0.09)
    assert t.loc["SE-NAS (paper)", "time_s"] == 10561.1
    assert t.loc["Optimal (paper)", "imagenet16-120/x-test mean"] == 47.31
    md = to_markdown(t)
    assert "| SE-NAS | 3 | 101.0 | 91.50 ± 0.50 |" in md
    assert "| Optimal (paper) | - | - | 91.61 |" in md


# ------------------------------------------------------------------------------------- figures + CLI
def test_figures_cli_writes_every_figure_and_table(results, tmp_path):
    from typer.testing import CliRunner

    from benchmark.cli import app

    out = CliRunner().invoke(app, ["figures", str(results.root), "--out", str(tmp_path / "figs"),
                                   "--gt", "none-such.csv.gz"])
    assert out.exit_code != 0 and "does not exist" in str(out.exception)
    out = CliRunner().invoke(app, ["figures", str(results.root), "--out", str(tmp_path / "figs")])
    assert out.exit_code == 0, out.output
    written = {Path(line.split(" ", 1)[1]) for line in out.output.splitlines() if line.startswith("wrote ")}
    for stem in ("fig1_ranking_distribution", "fig6_operator_distribution", "fig7_tau_curve",
                 "fig8_tau_distribution", "fig7_like_for_like", "fig8_like_for_like", "bias_diagnostics", "tau_vs_budget",
                 "tau_comparison", "ranking_scatter", "criteria_retention"):
        for suffix, magic in ((".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-")):
            path = tmp_path / "figs" / f"{stem}{suffix}"
            assert path in written and path.read_bytes().startswith(magic) and path.stat().st_size > 5000
    assert "| SE-NAS (paper) | - | 10561.1 |" in (tmp_path / "figs" / "table3.md").read_text()
    assert "| supernet accuracy | 0.510 (n=3, 41 archs) | 0.543 |" in (tmp_path / "figs" / "table1.md").read_text()
    assert "No like-for-like pairs" in (tmp_path / "figs" / "like_for_like.md").read_text()
    out = CliRunner().invoke(app, ["figures", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    assert out.exit_code != 0 and "does not exist" in str(out.exception)


def test_resolve_groundtruth(root):
    assert resolve_groundtruth(None) is None
    assert resolve_groundtruth("auto").table().shape[0] == 15625
    with pytest.raises(NasBenchError, match="does not exist"):
        resolve_groundtruth(root / "missing.csv.gz")


def test_fig8_legend_counts_runs_with_an_undefined_tau_apart():
    from analysis.figures import _count_text

    runs = pd.DataFrame({"label": ["SE-NAS"] * 3 + ["SPOS"] * 2, "tau": [0.3, np.nan, -0.1, 0.2, 0.0]})
    assert _count_text(runs, "SE-NAS") == "n=2, 1 undefined"
    assert _count_text(runs, "SPOS") == "n=2"
