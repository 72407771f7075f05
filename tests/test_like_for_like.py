"""Like-for-like comparison and the precision of tau: the baseline ranks exactly the architectures SE-NAS
ranked, from its own weights of the same epoch, on the same images and BatchNorm batches; every tau comes
with its bootstrap CI, noise ceiling and (when undefined) the reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.errors import NasBenchError
from benchmark.groundtruth import load_groundtruth
from benchmark.harness.runs import Runtime, build_run
from benchmark.methods.base import RunConfig
from benchmark.methods.ranking import ranking_path, snapshot_path
from benchmark.methods.registry import METHODS
from benchmark.metrics.diagnostics import bias_diagnostics, within_conv_tau
from benchmark.metrics.precision import (
    describe,
    noise_ceiling,
    paired_difference_ci,
    tau_bootstrap_ci,
    tau_report,
    undefined_reason,
)
from benchmark.pairing import check_partners, pair
from benchmark.presets import get_preset
from tests.conftest import FAST


# ------------------------------------------------------------------------------- precision of one tau
def test_noise_ceiling_of_two_architectures_matches_the_binomial_closed_form():
    """Two architectures at 60% and 50% on n images: a perfect estimator ranks them right (tau = +1) with
    probability P(X1 > X2), wrong (-1) with P(X1 < X2), and ties them (undefined) with P(X1 = X2)."""
    n, p1, p2, draws = 20, 0.6, 0.5, 4000
    k = np.arange(n + 1)
    pmf1, pmf2 = stats.binom.pmf(k, n, p1), stats.binom.pmf(k, n, p2)
    joint = np.outer(pmf1, pmf2)
    p_tie, p_wrong = np.trace(joint), np.triu(joint, 1).sum()
    ceiling = noise_ceiling([60.0, 50.0], n, n_draws=draws, seed=3)
    sd = np.sqrt(p_tie * (1 - p_tie) / draws)
    assert abs(ceiling.undefined_draws / draws - p_tie) < 4 * sd
    assert ceiling.median == 1.0  # P(right | no tie) = 0.75 > 1/2
    assert p_wrong / (1 - p_tie) > 0.025 and ceiling.low == -1.0 and ceiling.high == 1.0


def test_noise_ceiling_grows_with_validation_images_to_the_stated_scale(root):
    """Over 60 random NB201 architectures: about 0.65 with 250 images, 0.80 with 1,000, 0.89 with 5,000."""
    gt = load_groundtruth(root)
    table = gt.table()
    archs = table["arch"].sample(60, random_state=0)
    acc = gt.accuracies(list(archs), "cifar10")
    medians = [noise_ceiling(acc, n, n_draws=400).median for n in (250, 1000, 5000)]
    assert 0.55 < medians[0] < 0.75 and 0.7 < medians[1] < 0.87 and 0.82 < medians[2] < 0.95
    assert medians[0] < medians[1] < medians[2]
    assert noise_ceiling(acc, 10**9, n_draws=50).median > 0.99


def test_bootstrap_ci_brackets_tau_and_narrows_with_more_architectures():
    rng = np.random.default_rng(0)
    gt = rng.uniform(50, 90, 400)
    est = gt + rng.normal(0, 8, 400)
    lo_small, hi_small = tau_bootstrap_ci(est[:30], gt[:30])
    lo_big, hi_big = tau_bootstrap_ci(est, gt)
    tau = stats.kendalltau(est, gt).statistic
    assert lo_big < tau < hi_big and hi_big - lo_big < hi_small - lo_small
    assert tau_bootstrap_ci(gt, gt) == pytest.approx((1.0, 1.0))
    assert tau_bootstrap_ci(est, gt) == tau_bootstrap_ci(est, gt)  # seeded


def test_paired_ci_is_exactly_zero_for_identical_estimators_and_excludes_zero_for_a_clear_gap():
    rng = np.random.default_rng(1)
    gt = rng.uniform(50, 90, 200)
    good, bad = gt + rng.normal(0, 2, 200), gt + rng.normal(0, 30, 200)
    assert paired_difference_ci(good, good, gt) == (0.0, 0.0)
    lo, hi = paired_difference_ci(good, bad, gt)
    assert 0 < lo < hi


def test_undefined_tau_says_why_and_is_never_zero():
    report = tau_report([40.0, 40.0, 40.0], [70.0, 80.0, 90.0], n_images=250)
    assert np.isnan(report["tau"]) and np.isnan(report["ci_low"]) and report["n_ranked"] == 3
    assert "same supernet accuracy" in report["undefined"] and "undefined over 3 archs" in describe(report)
    assert "at least two" in undefined_reason([1.0], [2.0])
    assert "same ground-truth" in undefined_reason([1.0, 2.0], [5.0, 5.0])
    defined = tau_report([1.0, 2.0, 3.0], [70.0, 80.0, 90.0], n_images=250)
    assert defined["tau"] == 1.0 and defined["undefined"] is None and "over 3 archs" in describe(defined)


def test_bias_diagnostics_on_planted_data():
    """A supernet that ranks only by size: tau vs params is 1, and inside each conv-count group it is
    exactly what the planted within-group order gives."""
    archs = ["|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
             "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|",
             "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|",
             "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|"]
    params = [1.0, 2.0, 3.0, 4.0]
    est = [10.0, 20.0, 30.0, 40.0]
    gt = [50.0, 40.0, 60.0, 70.0]  # group 1 conv: gt disagrees (-1); group 2 convs: gt agrees (+1)
    d = bias_diagnostics(est, gt, params, archs)
    assert d["tau_supernet_params"] == 1.0 and d["conv_groups"] == 2
    assert d["tau_within_conv"] == 0.0  # one pair each, -1 and +1
    assert within_conv_tau(est, [40.0, 50.0, 60.0, 70.0], archs)["tau_within_conv"] == 1.0


# ------------------------------------------------------------------------------- pairing of real runs
def _cfg(method: str) -> RunConfig:
    return RunConfig(method=method, dataset="cifar10", preset=get_preset("tiny", FAST), seed=0, device="cpu")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, root) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pairs")
    dirs = {}
    for method in ("spos", "spos_avg", "senas"):
        dirs[method] = base / method
        METHODS.get(method).oneshot(_cfg(method), dirs[method], progress=False, log=lambda s: None).run()
    return dirs


def _build(config, run_dir):
    return build_run(config, Runtime(device="cpu"), run_dir, log=lambda s: None)


@pytest.mark.slow
def test_a_baseline_re_ranks_its_own_architectures_exactly(runs, tmp_path):
    """The snapshot, validation images and recalibration batches reproduce the baseline's own recorded
    accuracies bit for bit: pairing SPOS with itself gives identical rows and a zero difference."""
    ranked = tmp_path / "as_ranked"
    shutil.copytree(runs["spos_avg"], ranked)
    result = json.loads((ranked / "result.json").read_text())
    result["config"]["method"] = "senas"  # the same run, in the role of the ranked method
    (ranked / "result.json").write_text(json.dumps(result))
    frame = pair(ranked, runs["spos_avg"], _build)
    mine, theirs = frame[frame.role == "ranked"], frame[frame.role == "baseline"]
    assert list(mine.tau) == list(theirs.tau) and (theirs["diff"] == 0).all()
    assert len(frame) == 2 * (len(result["tau_curve"]) + 1)


@pytest.mark.slow
def test_senas_and_spos_are_compared_over_the_same_architectures(runs):
    frame = pair(runs["senas"], runs["spos"], _build)
    senas = json.loads((runs["senas"] / "result.json").read_text())
    assert list(frame.point.unique()) == ["epoch 1", "epoch 2", "final"]
    for point, rows in frame.groupby("point"):
        assert rows.n_ranked.nunique() == 1 and set(rows.role) == {"ranked", "baseline"}
        assert rows.val_images.nunique() == 1 and rows.ceiling_median.nunique() == 1  # same archs, same images
    final = frame[(frame.point == "final") & (frame.role == "ranked")].iloc[0]
    assert final.n_ranked == senas["n_ranked"] and final.tau == pytest.approx(senas["tau"], nan_ok=True)
    base = frame[frame.role == "baseline"]
    assert np.allclose(base["diff"], base.tau - frame[frame.role == "ranked"].tau.values, equal_nan=True)


@pytest.mark.slow
def test_senas_before_its_first_shrink_is_spos_with_eq4_averaging(runs):
    """Up to the first shrink SE-NAS trains SPOS with Eq. 4 averaging: on the same architectures the two
    supernets give identical accuracies -- the strongest check that pairing is like-for-like."""
    frame = pair(runs["senas"], runs["spos_avg"], _build)
    first = frame[frame.point == "epoch 1"]
    assert first.tau.nunique() == 1 and first[first.role == "baseline"]["diff"].iloc[0] == 0


@pytest.mark.slow
def test_mismatched_or_incomplete_partners_are_refused_with_the_command_that_fixes_them(runs, tmp_path):
    senas = json.loads((runs["senas"] / "result.json").read_text())
    spos = json.loads((runs["spos"] / "result.json").read_text())
    other = {**spos, "config": {**spos["config"], "seed": 7}}
    with pytest.raises(NasBenchError, match="differs from the senas run in seed") as e:
        check_partners(senas, other, runs["spos"])
    assert "nasbench run spos" in e.value.fix and "--seed 0" in e.value.fix
    with pytest.raises(NasBenchError, match="baseline of a like-for-like pair"):
        check_partners(senas, senas, runs["senas"])
    foreign = {**spos, "data_fingerprint": "0" * 64}
    with pytest.raises(NasBenchError, match="validation images"):
        check_partners(senas, foreign, runs["spos"])
    broken = tmp_path / "spos"
    shutil.copytree(runs["spos"], broken)
    snapshot_path(broken, 1).unlink()
    with pytest.raises(NasBenchError, match=r"kept no weights of epoch\(s\) \[1\]"):
        pair(runs["senas"], broken, _build)
    snapshot_path(broken, 1).parent.joinpath("epoch_0002.pt").write_bytes(b"flipped")
    shutil.copy(snapshot_path(runs["spos"], 1), snapshot_path(broken, 1))
    with pytest.raises(NasBenchError, match="SHA-256"):
        pair(runs["senas"], broken, _build)
    ranking_path(runs["senas"], 1).rename(tmp_path / "moved.parquet")
    try:
        with pytest.raises(NasBenchError, match="predates kept rankings"):
            pair(runs["senas"], runs["spos"], _build)
    finally:
        (tmp_path / "moved.parquet").rename(ranking_path(runs["senas"], 1))


@pytest.mark.slow
def test_every_tau_is_stored_with_its_precision_and_the_set_it_covers(runs):
    for method, folder in runs.items():
        result = json.loads((folder / "result.json").read_text())
        precision = result["precision"]
        assert precision["val_images"] == 64
        assert precision["ci_low"] <= precision["ci_high"] or precision["undefined"]
        curve = pd.read_parquet(folder / "tau_curve.parquet")
        assert {"n_ranked", "ci_low", "ci_high", "ceiling_median", "tau_supernet_params"} <= set(curve.columns)
        for epoch in curve.epoch:
            ranking = pd.read_parquet(ranking_path(folder, int(epoch)))
            assert list(ranking.columns) == ["arch", "supernet_acc", "gt_acc", "params"]
            assert len(ranking) == int(curve.loc[curve.epoch == epoch, "n_ranked"].iloc[0])
        assert snapshot_path(folder, 2).exists() == (method != "senas")


# ------------------------------------------------------------------------------- paired statistics
def _planted_pairs(seeds: int = 6) -> pd.DataFrame:
    """paired.parquet rows: SE-NAS ranked, SPOS baseline, every seed; SPOS is 0.1 better at the final
    point in every seed, equal at epoch 1."""
    rows = []
    for seed in range(seeds):
        for point, epoch, own, other in (("epoch 1", 1, 0.2 + 0.01 * seed, 0.2 + 0.01 * seed),
                                         ("final", 2, 0.3 + 0.02 * seed, 0.4 + 0.02 * seed)):
            common = {"ranked_run": f"senas{seed}", "baseline_run": f"spos{seed}", "dataset": "cifar10",
                      "seed": seed, "preset": "tiny", "point": point, "epoch": epoch, "n_ranked": 12,
                      "ceiling_median": 0.6, "ceiling_low": 0.4, "ceiling_high": 0.8}
            rows += [{**common, "role": "ranked", "method": "senas", "label": "SE-NAS", "tau": own},
                     {**common, "role": "baseline", "method": "spos", "label": "SPOS", "tau": other,
                      "diff": other - own}]
    return pd.DataFrame(rows)


def test_like_for_like_statistics_over_seeds_on_planted_pairs():
    from analysis.stats import like_for_like, paired_curves

    paired = _planted_pairs()
    final = like_for_like(paired).iloc[0]
    assert final["n_pairs"] == 6 and final["n_ranked"] == 12
    assert final["diff"] == pytest.approx(0.1) and final["diff_ci_low"] == pytest.approx(0.1)
    assert final["pvalue"] == pytest.approx(stats.wilcoxon(np.full(6, 0.1)).pvalue)
    assert np.isnan(like_for_like(paired, point="epoch 1").iloc[0]["pvalue"])  # no non-zero differences
    curves = paired_curves(pd.concat([paired, paired.assign(baseline_run=lambda d: d.baseline_run + "b",
                                                            method="spos_avg", label="SPOS + Eq. 4")
                                      .query("role == 'baseline'")]))
    senas = curves[curves.label == "SE-NAS"]
    assert list(senas.point) == ["epoch 1", "final"] and (senas.n == 6).all()  # counted once per run
    assert senas["mean"].iloc[1] == pytest.approx(0.35) and (curves.ceiling_median == 0.6).all()
