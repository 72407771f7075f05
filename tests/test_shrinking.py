"""Shrinking (SE-NAS Sec. 3.3 / BS-NAS Sec. 3.2) and the expanding merge rule (SE-NAS Sec. 3.4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.errors import NasBenchError
from benchmark.expanding import merge_groups, partial_key
from benchmark.shrinking import shrink, step_shrink
from benchmark.spaces.base import SearchSpace
from benchmark.spaces.nb201 import nb201_space


def space3() -> SearchSpace:
    return SearchSpace("s3", ("e0", "e1", "e2"), (("a", "b", "c"), ("a", "b"), ("a", "b", "c", "d")))


def table(space: SearchSpace, scores: dict[tuple[int, str], float]) -> pd.DataFrame:
    pairs = space.alive_pairs()
    slots, ops = [s for s, _ in pairs], [o for _, o in pairs]
    return pd.DataFrame({"slot": slots, "op": ops, "score": [scores[p] for p in pairs]})


SCORES = {(0, "a"): 5.0, (0, "b"): 1.0, (0, "c"): 7.0,
          (1, "a"): 0.5, (1, "b"): 0.7,
          (2, "a"): 3.0, (2, "b"): 2.0, (2, "c"): 9.0, (2, "d"): 4.0}  # fmt: skip


def removed(record: pd.DataFrame) -> set[tuple[int, str]]:
    return set(zip(record["slot"][record["removed"]], record["op"][record["removed"]]))


# -- shrink ----------------------------------------------------------------------------------------------
def test_shrink_removes_the_k_lowest_and_skips_a_slots_last_op():
    space = space3()
    record = shrink(space, table(space, SCORES), 3)
    # Lowest: (1,a) 0.5, (1,b) 0.7 -> slot 1's last op, skipped; then (0,b) 1.0, (2,b) 2.0.
    assert removed(record) == {(1, "a"), (0, "b"), (2, "b")}
    assert space.alive == [("a", "c"), ("b",), ("a", "c", "d")]
    assert list(record.columns) == ["slot", "op", "score", "removed"] and record["removed"].sum() == 3


def test_shrink_to_the_limit_never_empties_a_slot():
    space = nb201_space()
    scores = np.random.default_rng(0).random(30)
    frame = table(space, dict(zip(space.alive_pairs(), scores)))
    shrink(space, frame, space.removable())
    assert [len(ops) for ops in space.alive] == [1] * 6
    # What survives in each slot is its best-scoring op.
    best = frame.loc[frame.groupby("slot")["score"].idxmax(), "op"].tolist()
    assert [ops[0] for ops in space.alive] == best


def test_shrink_ties_break_by_slot_then_canonical_order():
    space = space3()
    record = shrink(space, table(space, {p: 1.0 for p in space.alive_pairs()}), 3)
    assert removed(record) == {(0, "a"), (0, "b"), (1, "a")}


def test_shrink_ignores_nan_in_single_op_slots_and_keeps_infinite_scores_sortable():
    space = space3()
    space.restrict([("a", "b", "c"), ("b",), ("a", "b", "c", "d")])
    scores = {**SCORES, (1, "b"): float("nan"), (0, "c"): float("inf"), (2, "c"): float("-inf")}
    record = shrink(space, table(space, scores), 2)
    assert removed(record) == {(2, "c"), (0, "b")}


@pytest.mark.parametrize("k", [0, -1, 6, True, 1.5])
def test_shrink_refuses_impossible_k_before_changing_anything(k):
    space = space3()  # removable = 2 + 1 + 3 = 6
    space.remove(2, "d")  # now 5
    before = list(space.alive)
    with pytest.raises(NasBenchError, match="cannot remove"):
        shrink(space, table(space, SCORES), k)
    assert space.alive == before


def test_shrink_refuses_a_stale_or_incomplete_score_table():
    space = space3()
    frame = table(space, SCORES)
    for bad in (
        frame.iloc[1:],  # an alive op unscored
        pd.concat([frame, frame.iloc[:1]]),  # duplicated
        frame.drop(columns="score"),
        frame.assign(score=[np.nan] + [1.0] * 8),  # NaN on a removable op
    ):
        with pytest.raises(NasBenchError):
            shrink(space, bad, 1)
    space.remove(0, "a")
    with pytest.raises(NasBenchError, match="not alive"):
        shrink(space, frame, 1)  # scores of the space before the removal
    assert space.alive == [("b", "c"), ("a", "b"), ("a", "b", "c", "d")]


# -- BS-NAS step shrink ----------------------------------------------------------------------------------
def test_step_shrink_keeps_the_best_positive_ratings_at_least_one():
    space = space3()
    ratings = {(0, "a"): 0.2, (0, "b"): -0.1, (0, "c"): 0.6,
               (1, "a"): -0.3, (1, "b"): 0.0,
               (2, "a"): 0.5, (2, "b"): 0.5, (2, "c"): 0.1, (2, "d"): 0.9}  # fmt: skip
    record = step_shrink(space, table(space, ratings), 2)
    # Slot 0: two positives c > a. Slot 1: none positive -> the top one (b, rating 0). Slot 2: d, then the
    # tie a = b resolved by canonical order -> a.
    assert space.alive == [("a", "c"), ("b",), ("a", "d")]
    assert removed(record) == {(0, "b"), (1, "a"), (2, "b"), (2, "c")}


def test_step_shrink_keeps_fewer_than_keep_n_when_few_are_positive():
    space = space3()
    ratings = {p: -1.0 for p in space.alive_pairs()} | {(2, "c"): 0.3}
    step_shrink(space, table(space, ratings), 3)
    assert space.alive == [("a",), ("a",), ("c",)]


@pytest.mark.parametrize("keep_n", [0, -2, 1.0, True])
def test_step_shrink_refuses_bad_keep_n(keep_n):
    space = space3()
    with pytest.raises(NasBenchError, match="keep_n"):
        step_shrink(space, table(space, SCORES), keep_n)
    assert space.alive == space3().alive


# -- expanding: merge rule (Sec. 3.4) ------------------------------------------------------------------------
def test_merge_groups_reproduces_fig3_toy_example():
    """Fig. 3: 6 layers of 5 ops shrunk, T = 6 -> child spaces over layers 2-4 and 5-6 (1-based).

    The figure's per-layer op counts are not in the text; [5, 2, 1, 3, 2, 3] is one choice consistent
    with it: layer 1 (5) cannot join layer 2 (5 * 2 > 6), layers 2-4 give 2 * 1 * 3 = 6 <= 6 and
    adding layer 5 would give 12, layers 5-6 give 2 * 3 = 6.
    """
    assert merge_groups([5, 2, 1, 3, 2, 3], 6) == [(1, 2, 3), (4, 5)]


def test_merge_groups_edge_cases():
    assert merge_groups([2, 3, 5], 1) == []
    assert merge_groups([1, 1, 1, 1], 1) == [(0, 1, 2, 3)]
    assert merge_groups([1, 1, 1, 1], 50) == [(0, 1, 2, 3)]
    assert merge_groups([7, 1, 1, 7, 2], 6) == [(1, 2)]  # layers above T stay alone
    assert merge_groups([5, 5, 2, 5, 5, 2], 50) == [(0, 1, 2), (3, 4, 5)]  # successive, no overlap
    assert merge_groups([4], 50) == [] and merge_groups([], 6) == []
    for T in (0, -3, 2.5):
        with pytest.raises(NasBenchError, match="T="):
            merge_groups([2, 2], T)
    with pytest.raises(NasBenchError, match="sizes"):
        merge_groups([2, 0], 6)


def test_partial_key_names_the_group_ops():
    arch = ("none", "skip_connect", "nor_conv_3x3", "none", "avg_pool_3x3", "nor_conv_1x1")
    assert partial_key(arch, (1, 2, 3)) == "1,2,3:skip_connect|nor_conv_3x3|none"
    assert partial_key(arch, (4, 5)) != partial_key(arch[:4] + arch[5:3:-1], (4, 5))
    same_ops = ("none",) * 6
    assert partial_key(same_ops, (0, 1)) != partial_key(same_ops, (1, 2))  # groups never collide
    for group in ((), (5, 6)):
        with pytest.raises(NasBenchError):
            partial_key(arch, group)
