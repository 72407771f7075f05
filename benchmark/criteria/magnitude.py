"""The magnitude operator score: DARTS architecture weights (SE-NAS Sec. 4.2; DARTS Sec. 2.4; P-DARTS).

score = softmax(alpha_e) of the op over the alive operations of its edge e, read from a DARTS
relaxation (:mod:`benchmark.relaxation`) that the run trains beside the supernet. The criterion only
reads: training belongs to the run, so it is checkpointed and resumed with the run's other state.
"""

from __future__ import annotations

import pandas as pd

from benchmark.criteria.base import CRITERIA, Criterion, CriterionContext
from benchmark.errors import NasBenchError
from benchmark.relaxation import RELAXATIONS, missing_relaxation
from benchmark.spaces.base import SearchSpace


@CRITERIA.register("magnitude")
class MagnitudeCriterion(Criterion):
    """Score = the op's softmax weight in its edge's mixed operation (``alpha`` column: the raw alpha)."""

    name = "magnitude"
    needs = ("relaxation",)

    def score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        if ctx.relaxation is None:
            if space.name not in RELAXATIONS:
                raise missing_relaxation(space.name)
            raise NasBenchError(f"criterion 'magnitude' needs a DARTS relaxation of the space {space.name!r} "
                                "in its context",
                                "pass CriterionContext(relaxation=DartsRelaxation(...)) trained on the space")
        return super().score(space, ctx)

    def _score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        relaxation = ctx.relaxation
        if relaxation.epoch == 0:
            raise NasBenchError("criterion 'magnitude' was given an untrained DARTS relaxation",
                                "call relaxation.train_epochs(...) before scoring")
        frame = relaxation.weights(space)
        frame["score"] = frame.pop("weight")
        frame = frame[["slot", "op", "score", "alpha"]]
        frame.attrs["n_evaluations"] = 0
        return frame
