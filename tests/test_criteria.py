"""Operator criteria (SE-NAS Eq. 5-7, BS-NAS Eq. 1, oracle, random) on planted accuracies.

Planted truth: accuracy = 50 + sum of per-slot op qualities (additive), so the exact SI of op o in
slot e is 50 + q_e(o) + sum_{f != e} mean(q_f); the best op of a slot is its highest-quality op.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.criteria import (
    CRITERIA,
    CriterionContext,
    accuracy_table,
    bsnas_rating,
    create_criterion,
    draw_samples,
    fair_groups,
    normalize,
)
from benchmark.errors import NasBenchError
from benchmark.shrinking import shrink
from benchmark.spaces.base import Arch, SearchSpace

OPS = ("o0", "o1", "o2", "o3")
# Best op per slot at different canonical positions (o2, o0, o3, o1), so tie-breaking cannot pass for it.
QUALITY = (
    {"o0": 2.0, "o1": -6.0, "o2": 5.0, "o3": -1.0},
    {"o0": 3.5, "o1": 1.5, "o2": -0.5, "o3": -4.5},
    {"o0": -3.0, "o1": 0.0, "o2": 1.0, "o3": 2.5},
    {"o0": 0.5, "o1": 4.0, "o2": -7.5, "o3": 2.5},
)
BEST: Arch = ("o2", "o0", "o3", "o1")


def planted_space() -> SearchSpace:
    return SearchSpace("planted", ("e0", "e1", "e2", "e3"), tuple(OPS for _ in QUALITY))


def planted_truth(arch: Arch) -> float:
    return 50.0 + sum(q[op] for q, op in zip(QUALITY, arch))


class PlantedEvaluator:
    """P(a) = planted truth + N(0, sigma) noise from a seeded rng; records every batch it is given."""

    def __init__(self, truth=planted_truth, sigma: float = 0.0, seed: int = 0):
        self.truth = truth
        self.sigma = sigma
        self.rng = np.random.default_rng(seed)
        self.batches: list[list[Arch]] = []

    def __call__(self, archs: list[Arch]) -> np.ndarray:
        self.batches.append(list(archs))
        clean = np.array([self.truth(a) for a in archs], dtype=float)
        return clean + self.sigma * self.rng.standard_normal(len(archs))


def exact_si(space: SearchSpace) -> dict[tuple[int, str], float]:
    """SI by the additive formula over the alive space."""
    means = [np.mean([QUALITY[s][op] for op in ops]) for s, ops in enumerate(space.alive)]
    return {
        (s, op): 50.0 + QUALITY[s][op] + sum(m for f, m in enumerate(means) if f != s)
        for s, op in space.alive_pairs()
    }


# A 2-slot toy space with an explicit accuracy table (hand-computed values below).
TOY_TABLE = {
    ("a", "x"): 60.0, ("a", "y"): 70.0,
    ("b", "x"): 80.0, ("b", "y"): 90.0,
    ("c", "x"): 50.0, ("c", "y"): 40.0,
}  # fmt: skip


def toy_space() -> SearchSpace:
    return SearchSpace("toy", ("e0", "e1"), (("a", "b", "c"), ("x", "y")))


def toy_eval(archs: list[Arch]) -> np.ndarray:
    return np.array([TOY_TABLE[a] for a in archs])


def toy_scores(name: str, space: SearchSpace | None = None, evaluate=toy_eval, **options) -> pd.DataFrame:
    """A criterion's scores of the toy space, every architecture evaluated once (exact SI)."""
    crit = create_criterion(name, sharing="exhaustive", **options)
    return crit.score(space or toy_space(), CriterionContext(evaluate=evaluate))


def by_pair(frame: pd.DataFrame, column: str) -> dict[tuple[int, str], float]:
    return {(s, o): v for s, o, v in zip(frame["slot"], frame["op"], frame[column])}


# -- every registered criterion ---------------------------------------------------------------------
# `magnitude` needs a DARTS relaxation of a real space; tests/test_magnitude.py covers it the same way
@pytest.mark.parametrize("name", [n for n in CRITERIA.names() if "relaxation" not in CRITERIA.get(n).needs])
def test_every_criterion_scores_alive_pairs_deterministically(name: str):
    space = planted_space()
    space.restrict([OPS, OPS[:2], OPS[1:], ("o3",)])
    ctx = CriterionContext(evaluate=PlantedEvaluator(), gt_accuracy=planted_truth, seed=3)
    crit = create_criterion(name, **({} if name in ("random", "groundtruth") else {"M": 20}))
    first, second = crit.score(space, ctx), crit.score(space, ctx)
    assert list(zip(first["slot"], first["op"])) == space.alive_pairs()
    assert list(first.columns[:3]) == ["slot", "op", "score"]
    pd.testing.assert_frame_equal(first, second)
    assert isinstance(first.attrs["n_evaluations"], int)


def test_missing_context_and_bad_options_are_one_line_errors():
    with pytest.raises(NasBenchError, match="needs evaluate"):
        create_criterion("senas").score(toy_space(), CriterionContext())
    with pytest.raises(NasBenchError, match="needs gt_accuracy"):
        create_criterion("groundtruth").score(toy_space(), CriterionContext(evaluate=toy_eval))
    for name, options in [
        ("accuracy", {"M": 0}),
        ("accuracy", {"sharing": "pairs"}),
        ("bsnas", {"batch_size": 0}),
        ("senas", {"normalization": "median"}),
        ("senas", {"magic": 1}),
        ("nope", {}),
    ]:
        with pytest.raises(NasBenchError):
            create_criterion(name, **options)


@pytest.mark.parametrize("name", CRITERIA.names())
def test_declared_options_are_the_constructor_options(name: str):
    """``Criterion.options`` is what the run passes and what an unknown option is checked against."""
    factory = CRITERIA.get(name)
    params = [p for p in inspect.signature(factory).parameters if p != "self"]
    assert sorted(factory.options) == sorted(params)


def test_an_option_the_criterion_does_not_take_is_an_error_not_dropped():
    with pytest.raises(NasBenchError, match="criterion 'accuracy' takes no option normalization") as e:
        create_criterion("accuracy", M=2, normalization="range")
    assert "M, sharing, batch_size" in e.value.fix
    with pytest.raises(NasBenchError, match="takes no option M") as e:
        create_criterion("random", M=2)
    assert "it takes no options" in e.value.fix
    with pytest.raises(NasBenchError, match="takes no option Mm"):
        create_criterion("senas", Mm=2)


def test_bad_evaluator_output_is_rejected():
    ctx = CriterionContext(evaluate=lambda archs: np.zeros(len(archs) + 1))
    with pytest.raises(NasBenchError, match="shape"):
        create_criterion("accuracy", M=2).score(toy_space(), ctx)
    ctx = CriterionContext(evaluate=lambda archs: -np.ones(len(archs)))
    with pytest.raises(NasBenchError, match="negative"):
        create_criterion("accuracy", M=2).score(toy_space(), ctx)


# -- SI, SC and S by hand (Eq. 5-7) ---------------------------------------------------------------------
def test_si_and_sc_match_hand_values_on_toy_table():
    frame = toy_scores("senas")
    si, sc, n = by_pair(frame, "SI"), by_pair(frame, "SC"), by_pair(frame, "n_samples")
    assert si == pytest.approx(
        {(0, "a"): 65, (0, "b"): 85, (0, "c"): 45, (1, "x"): 190 / 3, (1, "y"): 200 / 3}
    )
    # Population variance of the slot's SI values: Var(65, 85, 45) and Var(190/3, 200/3).
    assert sc == pytest.approx({(0, o): 800 / 3 for o in "abc"} | {(1, o): 25 / 9 for o in "xy"})
    assert n == {(0, "a"): 2, (0, "b"): 2, (0, "c"): 2, (1, "x"): 3, (1, "y"): 3}
    assert frame.attrs["n_evaluations"] == 6


def test_senas_score_mean_normalization_by_hand_and_direction():
    frame = toy_scores("senas")
    # mean SI = 65, mean SC over the five ops = 1450 / 9; S = (SI / 65) / (SC / (1450 / 9)).
    k0, k1 = (1450 / 9) / (800 / 3), (1450 / 9) / (25 / 9)
    expected = {(0, "a"): k0, (0, "b"): 85 / 65 * k0, (0, "c"): 45 / 65 * k0,
                (1, "x"): 190 / 195 * k1, (1, "y"): 200 / 195 * k1}  # fmt: skip
    assert by_pair(frame, "score") == pytest.approx(expected)
    # Slot 0 has the larger variance (confidence), so its low-SI ops rank lowest: a (SI 65) falls
    # below x (SI 63.3), whereas SI alone would drop x first.
    acc = toy_scores("accuracy")
    space_s, space_a = toy_space(), toy_space()
    shrink(space_s, frame, 2)
    shrink(space_a, acc, 2)
    assert space_s.alive == [("b",), ("x", "y")]
    assert space_a.alive == [("a", "b"), ("y",)]


def test_senas_score_range_normalization_by_hand():
    frame = toy_scores("senas", normalization="range")
    # norm(SI) = 1 + (SI - 65) / 40; norm(SC) = 1 + (SC - 1450/9) / (800/3 - 25/9) = 1.4 | 0.4 (slot 0 | 1).
    expected = {(0, "a"): 1 / 1.4, (0, "b"): 1.5 / 1.4, (0, "c"): 0.5 / 1.4,
                (1, "x"): (23 / 24) / 0.4, (1, "y"): (25 / 24) / 0.4}  # fmt: skip
    assert by_pair(frame, "score") == pytest.approx(expected)


def test_normalize_readings_and_degenerate_inputs():
    x = np.array([1.0, 2.0, 3.0, 6.0])
    assert normalize(x, "mean") == pytest.approx(x / 3)
    assert normalize(x, "range") == pytest.approx(1 + (x - 3) / 5)
    # (x - mean) / range alone can be negative; the +1 shift keeps every value > 0.
    skewed = np.array([0.0, 1.0, 1.0, 1.0])
    assert (normalize(skewed, "range") > 0).all()
    for how in ("mean", "range"):
        assert normalize(np.zeros(3), how) == pytest.approx(np.ones(3))
    with pytest.raises(NasBenchError):
        normalize(x, "median")


def test_single_op_slot_gets_nan_and_is_left_out_of_normalization():
    space = toy_space()
    space.restrict([("a", "b", "c"), ("y",)])
    frame = toy_scores("senas", space)
    score = by_pair(frame, "score")
    assert np.isnan(score[1, "y"]) and by_pair(frame, "SC")[1, "y"] == 0
    # Only slot 0 is normalized: SI (70, 90, 40) / mean 200/3; all its SC are equal, so norm(SC) = 1.
    assert [score[0, o] for o in "abc"] == pytest.approx([70 * 3 / 200, 90 * 3 / 200, 40 * 3 / 200])
    record = shrink(space, frame, 2)
    assert space.alive == [("b",), ("y",)] and not record["removed"].iloc[-1]


def test_zero_variance_slot_is_pruned_last_and_constant_accuracy_ties():
    only_slot0 = lambda archs: np.array([{"a": 60, "b": 80, "c": 50}[a[0]] for a in archs])  # noqa: E731
    frame = toy_scores("senas", evaluate=only_slot0)
    score = by_pair(frame, "score")
    # Slot 1's ops share one SI (SC = 0): S = norm(SI) / EPS, finite but above every op of slot 0.
    assert np.isfinite(frame["score"]).all() and min(score[1, "x"], score[1, "y"]) > 1e6 * score[0, "b"]
    const = toy_scores("senas", evaluate=lambda archs: np.full(len(archs), 70.0))
    assert const["score"].to_numpy() == pytest.approx(np.ones(5))


# -- BS-NAS R_i (Eq. 1) ----------------------------------------------------------------------------------
def test_bsnas_rating_by_hand():
    space = SearchSpace("toy3", ("e0", "e1"), (("a", "b", "c"), ("x", "y", "z")))
    table = {("a", "x"): 90, ("a", "y"): 20, ("a", "z"): 50,
             ("b", "x"): 80, ("b", "y"): 70, ("b", "z"): 10,
             ("c", "x"): 30, ("c", "y"): 60, ("c", "z"): 40}  # fmt: skip
    ctx = CriterionContext(evaluate=lambda archs: np.array([table[a] for a in archs], dtype=float))
    frame = create_criterion("bsnas", sharing="exhaustive").score(space, ctx)
    # Sorted: ax bx by | cy az cz | cx ay bz -> top third {ax, bx, by}, bottom third {cx, ay, bz}.
    assert by_pair(frame, "score") == pytest.approx(
        {(0, "a"): 0, (0, "b"): 1 / 3, (0, "c"): -1 / 3, (1, "x"): 1 / 3, (1, "y"): 0, (1, "z"): -1 / 3}
    )
    n_top = {(0, "a"): 1, (0, "b"): 2, (0, "c"): 0, (1, "x"): 2, (1, "y"): 1, (1, "z"): 0}
    assert by_pair(frame, "n_top") == n_top


def test_bsnas_rating_thirds_round_down_and_ties_keep_sample_order():
    space = SearchSpace("one", ("e0",), (("a", "b", "c"),))
    # 7 models, third = 2; models 1 and 2 tie at 80 for the second top place and model 1 (earlier) wins it.
    samples = pd.DataFrame(
        {"sample": range(7), "slot": 0, "op": list("abcaabc"), "acc": [90, 80, 80, 50, 40, 30, 20]}
    )
    frame = bsnas_rating(space, samples)
    assert by_pair(frame, "n_top") == {(0, "a"): 1, (0, "b"): 1, (0, "c"): 0}
    assert by_pair(frame, "n_bottom") == {(0, "a"): 0, (0, "b"): 1, (0, "c"): 1}
    assert by_pair(frame, "R") == pytest.approx({(0, "a"): 1 / 3, (0, "b"): 0, (0, "c"): -1 / 2})


# -- oracle ----------------------------------------------------------------------------------------------
def test_groundtruth_is_exact_si_of_the_alive_space_from_callable_or_table():
    space = planted_space()
    table = accuracy_table(space, planted_truth)
    for alive in (None, [OPS, OPS[1:], ("o0", "o3"), OPS]):
        if alive:
            space.restrict(alive)
        for gt in (planted_truth, table):
            frame = create_criterion("groundtruth").score(space, CriterionContext(gt_accuracy=gt))
            assert by_pair(frame, "score") == pytest.approx(exact_si(space))
    with pytest.raises(NasBenchError, match="shape"):
        create_criterion("groundtruth").score(space, CriterionContext(gt_accuracy=table[:2]))


# -- shrinking with the criteria keeps the planted best ops ---------------------------------------------
@pytest.mark.parametrize(
    "name,options",
    [("groundtruth", {}), ("accuracy", {"M": 300}), ("senas", {"M": 300}),
     ("senas", {"M": 300, "normalization": "range"}), ("bsnas", {"M": 300})],
)  # fmt: skip
def test_shrinking_to_one_arch_keeps_every_best_op(name: str, options: dict):
    space = planted_space()
    crit = create_criterion(name, **options)
    stage = 0
    while space.removable():
        ctx = CriterionContext(evaluate=PlantedEvaluator(), gt_accuracy=planted_truth, seed=stage)
        shrink(space, crit.score(space, ctx), min(2, space.removable()))
        assert all(best in ops for best, ops in zip(BEST, space.alive)), f"stage {stage}: {space.alive}"
        stage += 1
    assert next(space.enumerate()) == BEST


def test_accuracy_removes_exactly_the_lowest_planted_ops():
    space = planted_space()
    frame = create_criterion("accuracy", M=1000).score(space, CriterionContext(evaluate=PlantedEvaluator()))
    truth = exact_si(space)
    assert by_pair(frame, "SI") == pytest.approx(truth, abs=0.8)
    record = shrink(space, frame, 3)
    lowest = sorted(truth, key=truth.get)[:3]
    assert set(zip(record["slot"][record["removed"]], record["op"][record["removed"]])) == set(lowest)


def test_random_scores_are_seeded_and_sometimes_remove_a_best_op():
    space = planted_space()
    crit = create_criterion("random")
    a = crit.score(space, CriterionContext(seed=1))["score"]
    assert a.equals(crit.score(space, CriterionContext(seed=1))["score"])
    assert not a.equals(crit.score(space, CriterionContext(seed=2))["score"])
    lost_best = 0
    for seed in range(10):
        space = planted_space()
        shrink(space, crit.score(space, CriterionContext(seed=seed)), 4)
        lost_best += any(best not in ops for best, ops in zip(BEST, space.alive))
    assert lost_best >= 1


# -- the fair sharing scheme -----------------------------------------------------------------------------
def uneven_space() -> SearchSpace:
    space = planted_space()
    space.restrict([OPS[:2], OPS[:3], OPS, OPS])  # sizes 2, 3, 4, 4 -> L = 4
    return space


def test_fair_sharing_gives_every_op_at_least_M_samples_with_M_times_L_evaluations():
    space, M = uneven_space(), 25
    fair = draw_samples(space, PlantedEvaluator(), "fair", M, 64, seed=0)
    counts = fair.groupby(["slot", "op"]).size()
    assert counts.min() >= M
    assert (counts.loc[[2, 3]] == M).all() and (counts.loc[0] == 2 * M).all()
    assert (counts.groupby(level="slot").sum() == M * 4).all()
    assert fair["sample"].nunique() == M * 4
    independent = draw_samples(space, PlantedEvaluator(), "independent", M, 64, seed=0)
    assert independent["sample"].nunique() == M * (2 + 3 + 4 + 4)
    assert (independent.groupby(["slot", "op"]).size() == M).all()


def test_fair_groups_are_seed_deterministic_and_uniform():
    space = SearchSpace("small", ("e0", "e1"), (("a", "b"), ("x", "y", "z")))
    one = fair_groups(space, 3000, np.random.default_rng(5))
    assert one == fair_groups(space, 3000, np.random.default_rng(5))
    assert one != fair_groups(space, 3000, np.random.default_rng(6))
    counts = pd.Series(one).value_counts().reindex(list(space.enumerate()), fill_value=0)
    assert stats.chisquare(counts.to_numpy()).pvalue > 1e-3


def test_fair_and_independent_si_are_unbiased_on_an_interacting_table():
    space = SearchSpace("mixed", ("e0", "e1", "e2"), (OPS[:2], OPS[:3], OPS))
    values = np.random.default_rng(11).uniform(20, 100, size=(2, 3, 4))  # non-additive, arch by arch
    truth_fn = lambda a: values[int(a[0][1]), int(a[1][1]), int(a[2][1])]  # noqa: E731
    oracle = create_criterion("groundtruth").score(space, CriterionContext(gt_accuracy=truth_fn))
    truth = by_pair(oracle, "SI")
    for sharing in ("fair", "independent"):
        # Noise is drawn per evaluation; each distinct architecture is evaluated once per score() call,
        # so average over independent calls (seeds) to check unbiasedness of the whole estimate.
        crit, estimates = create_criterion("accuracy", M=400, sharing=sharing), []
        for seed in range(8):
            ctx = CriterionContext(evaluate=PlantedEvaluator(truth_fn, sigma=2.0, seed=seed), seed=seed)
            estimates.append(by_pair(crit.score(space, ctx), "SI"))
        mean = {p: np.mean([e[p] for e in estimates]) for p in truth}
        # Standard error per op <= 23 / sqrt(8 * 400) ~ 0.4 (+ noise); a biased scheme misses by points.
        assert mean == pytest.approx(truth, abs=2.0), sharing


def test_evaluations_are_batched_and_each_distinct_arch_is_evaluated_once():
    space = planted_space()
    evaluator = PlantedEvaluator()
    crit = create_criterion("accuracy", M=50, batch_size=7)
    frame = crit.score(space, CriterionContext(evaluate=evaluator))
    seen = [a for batch in evaluator.batches for a in batch]
    assert max(len(b) for b in evaluator.batches) <= 7
    assert len(seen) == len(set(seen)) == frame.attrs["n_evaluations"] <= 50 * 4
