"""Search-space shrinking from operator scores: SE-NAS (Sec. 3.3, Algorithm 1 line 3), its FairNAS variant
(Sec. 4.3, one operation per slot) and BS-NAS (Sec. 3.2).

Both take a criterion's table (``slot``, ``op``, ``score``; one row per alive pair), change the space
in place and return the table with a ``removed`` column. Inputs are checked before anything changes.
Ties are broken deterministically: lower slot first, then the operation's canonical position.
"""

from __future__ import annotations

import math

import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.spaces.base import SearchSpace


def _checked(space: SearchSpace, scores: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``scores`` after checking it scores exactly the alive pairs, NaN only in single-op slots."""
    missing_cols = [c for c in ("slot", "op", "score") if c not in scores.columns]
    if missing_cols:
        raise NasBenchError(
            f"the score table lacks column(s) {', '.join(missing_cols)}", "pass a criterion's score() output"
        )
    pairs = list(zip(scores["slot"].tolist(), scores["op"].tolist()))
    alive = space.alive_pairs()
    if len(set(pairs)) != len(pairs) or set(pairs) != set(alive):
        stale = sorted(set(pairs) - set(alive))
        unscored = sorted(set(alive) - set(pairs))
        raise NasBenchError(
            f"the score table does not match the alive operations of {space.name}: "
            f"{len(stale)} not alive, {len(unscored)} unscored, {len(pairs) - len(set(pairs))} duplicated",
            "score the current space right before shrinking it",
        )
    record = scores.copy()
    record["score"] = pd.to_numeric(record["score"], errors="raise").astype(float)
    nan = record["score"].isna().to_numpy()
    multi = [len(space.alive[s]) > 1 for s, _ in pairs]
    bad = [p for p, n, m in zip(pairs, nan, multi) if n and m]
    if bad:
        slot, op = bad[0]
        raise NasBenchError(
            f"operation {op!r} of slot {space.slots[slot]} has no score (NaN) but could be removed",
            "give every operation of a slot with >= 2 alive operations a score",
        )
    return record


def _tie_key(space: SearchSpace, slot: int, op: str) -> tuple[int, int]:
    return slot, space.choices[slot].index(op)


def shrink(space: SearchSpace, scores: pd.DataFrame, k: int) -> pd.DataFrame:
    """Remove the k lowest-scoring alive operations (SE-NAS Algorithm 1, line 3), in place.

    The last alive operation of a slot is never removed: it is skipped and the next lowest taken.
    NaN scores (single-op slots, see ``senas``) are never removed.
    """
    record = _checked(space, scores)
    removable = space.removable()
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= removable:
        raise NasBenchError(
            f"cannot remove k={k!r} operations from {space.name}: {removable} can be removed "
            "while keeping one per slot",
            f"use an integer k in 1..{removable}" if removable else "stop: the space is one architecture",
        )
    candidates = [
        (score, *_tie_key(space, slot, op), slot, op)
        for slot, op, score in zip(record["slot"], record["op"], record["score"])
        if not math.isnan(score)
    ]
    left = [len(ops) for ops in space.alive]
    chosen: set[tuple[int, str]] = set()
    for *_, slot, op in sorted(candidates):
        if len(chosen) == k:
            break
        if left[slot] > 1:
            chosen.add((slot, op))
            left[slot] -= 1
    for slot, op in sorted(chosen, key=lambda p: _tie_key(space, *p)):
        space.remove(slot, op)
    record["removed"] = [(s, o) in chosen for s, o in zip(record["slot"], record["op"])]
    return record


def shrink_per_slot(space: SearchSpace, scores: pd.DataFrame) -> pd.DataFrame:
    """FairNAS variant (Sec. 4.3): remove the lowest-scoring operation of every slot (layer) with >= 2 alive,
    in place (ties: canonical operation order). Returns ``scores`` with a ``removed`` column."""
    record = scores.copy()
    removed: set[tuple[int, str]] = set()
    for slot, ops in enumerate(space.alive):
        if len(ops) < 2:
            continue
        table = record[record["slot"] == slot].set_index("op")["score"]
        worst = min(ops, key=lambda op: (table[op], space.choices[slot].index(op)))
        removed.add((slot, worst))
    for slot, op in sorted(removed):
        space.remove(slot, op)
    record["removed"] = [(s, o) in removed for s, o in zip(record["slot"], record["op"])]
    return record


def step_shrink(space: SearchSpace, ratings: pd.DataFrame, keep_n: int) -> pd.DataFrame:
    """BS-NAS step (Sec. 3.2, Algorithm 1 line 14): per slot keep the best ``keep_n`` (N_r) ops with positive
    rating; if none is positive keep the top-rated one. In place.
    """
    record = _checked(space, ratings)
    if isinstance(keep_n, bool) or not isinstance(keep_n, int) or keep_n < 1:
        raise NasBenchError(f"keep_n={keep_n!r} operations per slot is invalid", "use an integer keep_n >= 1")
    score = dict(zip(zip(record["slot"], record["op"]), record["score"]))
    keep: list[list[str]] = []
    for slot, ops in enumerate(space.alive):
        if len(ops) == 1:
            keep.append(list(ops))
            continue
        ranked = sorted(ops, key=lambda op: (-score[slot, op], _tie_key(space, slot, op)))
        positive = [op for op in ranked if score[slot, op] > 0]
        keep.append((positive or ranked[:1])[:keep_n])
    space.restrict(keep)
    record["removed"] = [o not in keep[s] for s, o in zip(record["slot"], record["op"])]
    return record
