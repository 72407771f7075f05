"""Ranking metrics: hand-computed Kendall tau-b with ties, sparse tau rounding, top-k and precision@k."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.errors import NasBenchError
from benchmark.metrics.ranking import (
    kendall_tau,
    non_isomorphic,
    precision_at_k,
    ranking_metrics,
    sparse_kendall_tau,
    spearman_rho,
    topk_kendall_tau,
)


def test_perfect_and_reversed_order():
    gt = [61.2, 70.5, 85.0, 90.1, 93.4]
    assert kendall_tau([1, 2, 3, 4, 5], gt) == pytest.approx(1.0)
    assert spearman_rho([1, 2, 3, 4, 5], gt) == pytest.approx(1.0)
    assert kendall_tau([5, 4, 3, 2, 1], gt) == pytest.approx(-1.0)
    assert spearman_rho([5, 4, 3, 2, 1], gt) == pytest.approx(-1.0)


def test_kendall_tau_by_hand():
    # pairs (0,1) D, (0,2) D, (1,2) C: (1 - 2) / 3
    assert kendall_tau([3, 1, 2], [1, 2, 3]) == pytest.approx(-1 / 3)
    # one tie in gt, none in est: C=5, D=0, tau_b = 5 / sqrt(6 * 5)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 2, 3]) == pytest.approx(5 / math.sqrt(30))
    # one tie on each side (different pairs): C=4, D=0, tau_b = 4 / sqrt(5 * 5)
    assert kendall_tau([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8)


def test_spearman_by_hand():
    # ranks (3,1,2) vs (1,2,3): d = (2,-1,-1), rho = 1 - 6*6 / (3*8)
    assert spearman_rho([3, 1, 2], [1, 2, 3]) == pytest.approx(-0.5)


def test_constant_side_is_undefined():
    assert math.isnan(kendall_tau([0.5, 0.5, 0.5], [1, 2, 3]))
    assert math.isnan(spearman_rho([1, 2, 3], [7, 7, 7]))


def test_sparse_tau_rounds_before_ranking():
    est, gt = [90.01, 90.04, 85.0], [90.03, 90.02, 80.0]
    # exact values: pair (0,1) is discordant -> (2 - 1) / 3
    assert kendall_tau(est, gt) == pytest.approx(1 / 3)
    # to 0.1 pp both sides of pair (0,1) tie: C=2, D=0, tau_b = 2 / sqrt(2 * 2)
    assert sparse_kendall_tau(est, gt) == pytest.approx(1.0)
    # to 0.01 pp the discordance survives
    assert sparse_kendall_tau(est, gt, decimals=2) == pytest.approx(1 / 3)
    # ties created by rounding only on one side: 90.04 vs 90.06 round apart, 90.01/90.04 together
    assert sparse_kendall_tau([90.01, 90.04, 90.06], [1, 2, 3]) == pytest.approx(2 / math.sqrt(2 * 3))


def test_precision_at_k_planted():
    gt = np.arange(10.0)
    est = gt.copy()
    est[[7, 6]] = est[[6, 7]]  # true top-3 {9,8,7}; estimated top-3 {9,8,6}
    assert precision_at_k(est, gt, 3) == pytest.approx(2 / 3)
    assert precision_at_k(est, gt, 2) == 1.0 and precision_at_k(est, gt, 10) == 1.0
    assert precision_at_k(-gt, gt, 5) == 0.0


def test_topk_tau_looks_at_true_best_only():
    gt = [10, 9, 8, 1, 2]
    est = [3, 2, 1, 100, 99]  # the true top-3 are ordered right, the rest are wildly wrong
    assert topk_kendall_tau(est, gt, 3) == pytest.approx(1.0)
    assert kendall_tau(est, gt) < 0


def test_ranking_metrics_keys_and_values():
    rng = np.random.default_rng(0)
    gt = rng.uniform(80, 95, size=200)
    est = gt + rng.normal(0, 1, size=200)
    m = ranking_metrics(est, gt, ks=(10, 100, 500))
    assert m["n"] == 200 and "precision@500" not in m
    assert m["kendall_tau"] == kendall_tau(est, gt) and m["precision@10"] == precision_at_k(est, gt, 10)
    assert m["topk_kendall_tau@100"] == topk_kendall_tau(est, gt, 100)
    assert 0.5 < m["kendall_tau"] < m["spearman_rho"] < 1


@pytest.mark.parametrize("est, gt, match", [
    ([1, 2, 3], [1, 2], "3 estimates but 2"),
    ([1], [1], "at least 2"),
    ([1, float("nan"), 3], [1, 2, 3], r"estimates hold NaN or inf at position\(s\) \[1\]"),
    ([1, 2, 3], [1, 2, float("inf")], "ground truth hold NaN"),
    ([[1, 2]], [[1, 2]], "1-D"),
])
def test_bad_inputs(est, gt, match):
    with pytest.raises(NasBenchError, match=match):
        kendall_tau(est, gt)


def test_bad_k():
    with pytest.raises(NasBenchError, match="k=4 is outside 1..3"):
        precision_at_k([1, 2, 3], [1, 2, 3], 4)
    with pytest.raises(NasBenchError, match="k=1 is outside 2..3"):
        topk_kendall_tau([1, 2, 3], [1, 2, 3], 1)


def test_non_isomorphic_keeps_first_of_each_class():
    archs = ["a", "b", "c", "d", "e"]
    classes = {"a": "x", "b": "y", "c": "x", "d": "z", "e": "y"}
    assert non_isomorphic(archs, classes) == ["a", "b", "d"]
    with pytest.raises(NasBenchError, match="1 architecture"):
        non_isomorphic(["a", "q"], classes)
