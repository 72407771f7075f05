"""The random operator score: the baseline criterion SE-NAS compares against (Sec. 4.2, Fig. 6)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.criteria.base import CRITERIA, Criterion, CriterionContext, pairs_frame
from benchmark.spaces.base import SearchSpace


@CRITERIA.register("random")
class RandomCriterion(Criterion):
    """Score = uniform random number in [0, 1) per alive op, seeded by ``ctx.seed``."""

    name = "random"

    def _score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        frame = pairs_frame(space)
        frame["score"] = np.random.default_rng(ctx.seed).random(len(frame))
        frame.attrs["n_evaluations"] = 0
        return frame
