"""SE-NAS operator scores under a FLOPs constraint (Sec. 4.3): Eq. 5-7 with samples drawn only inside the
FLOPs window ("SE-NAS dumps models that don't satisfy FLOPs constraint"), and the FairNAS variant's
removal of one operation per layer.

Two sample schemes, both giving every feasible operation at least M samples (Eq. 5):

* ``independent`` -- Eq. 5 literally: M architectures per (layer, op), uniform among the window's
  architectures holding it, each counting for that pair only (M x pairs evaluations).
* ``shared`` -- M x L architectures uniform in the window (L = most alive ops of a layer); each counts
  for every operation it holds, since a uniform window draw that holds o in layer e is a uniform draw of
  Eq. 5's set for (e, o). Pairs left with fewer than M are topped up with conditioned draws that count
  for their pair only. Far fewer evaluations, the same expectation.

An operation no architecture of the window can hold (e.g. a 7x7, expansion-6 block in a 56x56 layer
under 250M) has no Eq. 5 mean; it scores -inf and is removed first. If it leaves a single feasible
operation in its layer, that one scores +inf (it is the layer's only way to meet the budget).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.criteria.base import Evaluator, pairs_frame
from benchmark.criteria.sampling import evaluate_archs
from benchmark.criteria.selection import selection_confidence, selection_importance, senas_score
from benchmark.errors import NasBenchError
from benchmark.imagenet.presets import CRITERIA, SHARINGS
from benchmark.search.constrained_sampling import WindowSampler
from benchmark.spaces.base import Arch, SearchSpace


def draw_window_samples(space: SearchSpace, window: WindowSampler, M: int, sharing: str,
                        rng: np.random.Generator) -> tuple[list[Arch], list[tuple[int, int, str]], set[tuple[int, str]]]:
    """Architectures to evaluate, (sample, slot, op) rows saying which pairs each counts for, and the
    feasible pairs (some window architecture holds them)."""
    if sharing not in SHARINGS:
        raise NasBenchError(f"unknown sharing {sharing!r}", f"choose one of: {', '.join(SHARINGS)}")
    feasible = {(s, op) for s, op in space.alive_pairs() if window.feasible(s, op, rng)}
    archs: list[Arch] = []
    rows: list[tuple[int, int, str]] = []
    counts = dict.fromkeys(feasible, 0)
    if sharing == "shared":
        width = max(len(ops) for ops in space.alive)
        for arch in window.sample(M * width, rng):
            for s, op in enumerate(arch):
                rows.append((len(archs), s, op))
                counts[s, op] += 1
            archs.append(arch)
    for s, op in sorted(feasible, key=lambda p: (p[0], space.alive[p[0]].index(p[1]))):
        missing = M - counts[s, op]
        if missing > 0:
            for arch in window.sample_containing(s, op, missing, rng):
                rows.append((len(archs), s, op))
                archs.append(arch)
    return archs, rows, feasible


def constrained_scores(space: SearchSpace, window: WindowSampler, evaluate: Evaluator, M: int,
                       sharing: str = "shared", criterion: str = "senas", normalization: str = "mean",
                       seed: int = 0, batch_size: int = 256) -> pd.DataFrame:
    """One row per alive (slot, op): ``score`` (S of Eq. 7 for ``senas``, SI of Eq. 5 for ``accuracy``),
    ``SI``, ``SC`` (Eq. 6), ``n_samples``, ``feasible``; ``attrs['n_evaluations']`` distinct architectures."""
    if criterion not in CRITERIA:
        raise NasBenchError(f"unknown criterion {criterion!r}", f"choose one of: {', '.join(CRITERIA)}")
    rng = np.random.default_rng(seed)
    archs, rows, feasible = draw_window_samples(space, window, M, sharing, rng)
    acc, n_evaluations = evaluate_archs(evaluate, archs, batch_size)
    samples = pd.DataFrame({"sample": [r[0] for r in rows], "slot": [r[1] for r in rows],
                            "op": [r[2] for r in rows], "acc": acc[[r[0] for r in rows]]})
    alive = [tuple(op for op in ops if (s, op) in feasible) for s, ops in enumerate(space.alive)]
    scored_space = SearchSpace(space.name, space.slots, space.choices, alive)
    scored = selection_importance(scored_space, samples)  # a window architecture's ops are all feasible
    scored["SC"] = selection_confidence(scored)
    scored["score"] = senas_score(scored, normalization) if criterion == "senas" else scored["SI"]
    frame = pairs_frame(space).merge(scored, on=["slot", "op"], how="left")
    frame["feasible"] = [(s, op) in feasible for s, op in zip(frame["slot"], frame["op"])]
    frame["n_samples"] = frame["n_samples"].fillna(0).astype(int)
    multi = np.array([len(space.alive[s]) > 1 for s in frame["slot"]])
    lone = np.array([len(alive[s]) == 1 for s in frame["slot"]])
    frame.loc[~frame["feasible"] & multi, "score"] = -np.inf
    frame.loc[frame["feasible"].to_numpy() & lone & multi, "score"] = np.inf
    frame = frame[["slot", "op", "score", "SI", "SC", "n_samples", "feasible"]]
    frame.attrs["n_evaluations"] = n_evaluations
    return frame


def shrink_per_layer(space: SearchSpace, scores: pd.DataFrame) -> pd.DataFrame:
    """FairNAS variant (Sec. 4.3): remove the lowest-scoring operation of every layer with >= 2 alive,
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
