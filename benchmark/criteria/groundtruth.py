"""Oracle operator score: the exact SI of Eq. 5 with P(a) replaced by the ground-truth accuracy.

score_o = mean ground-truth accuracy over ALL architectures of the *current alive* space holding o.
Eq. 5 samples from the current space A, so this is exactly the value ``accuracy`` estimates when
P(a) is the ground truth: comparing a criterion with it isolates the supernet's error, and it judges
an operation by the partners it can still be combined with, not by ones already removed.
Sec. 4.2's fixed ground-truth ranking of operators (Fig. 6) is this criterion on the unshrunk space.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from benchmark.criteria.base import CRITERIA, Criterion, CriterionContext, GroundTruth, pairs_frame
from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch, SearchSpace


def accuracy_table(space: SearchSpace, gt_accuracy: Callable[[Arch], float]) -> np.ndarray:
    """Ground truth of the FULL space as an array, axis e indexing ``space.choices[e]`` (build once)."""
    full = SearchSpace(space.name, space.slots, space.choices)
    values = np.fromiter((gt_accuracy(a) for a in full.enumerate()), dtype=float, count=full.size())
    return values.reshape([len(c) for c in space.choices])


def alive_table(space: SearchSpace, gt: GroundTruth) -> np.ndarray:
    """Ground truth of the alive space as an array: axis e indexes ``space.alive[e]``."""
    if isinstance(gt, np.ndarray):
        shape = tuple(len(c) for c in space.choices)
        if gt.shape != shape:
            raise NasBenchError(
                f"ground-truth table has shape {gt.shape}, the {space.name} space needs {shape}",
                "build it with benchmark.criteria.accuracy_table(space, gt_accuracy)",
            )
        index = [[space.choices[e].index(op) for op in ops] for e, ops in enumerate(space.alive)]
        table = gt[np.ix_(*index)].astype(float)
    else:
        table = np.fromiter((gt(a) for a in space.enumerate()), dtype=float, count=space.size())
        table = table.reshape([len(ops) for ops in space.alive])
    if not np.all(np.isfinite(table)):
        raise NasBenchError("the ground truth has a non-finite accuracy", "give every architecture one")
    return table


@CRITERIA.register("groundtruth")
class GroundTruthCriterion(Criterion):
    """Score = exact mean ground-truth accuracy of the alive architectures holding the op (oracle)."""

    name = "groundtruth"
    needs = ("gt_accuracy",)

    def _score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        assert ctx.gt_accuracy is not None
        table = alive_table(space, ctx.gt_accuracy)
        axes = range(table.ndim)
        si = [table.mean(axis=tuple(a for a in axes if a != e)) for e in axes]
        frame = pairs_frame(space)
        frame["score"] = np.concatenate(si)
        frame["SI"] = frame["score"]
        frame["n_archs"] = [space.size() // len(space.alive[s]) for s in frame["slot"]]
        frame.attrs["n_evaluations"] = 0
        return frame
