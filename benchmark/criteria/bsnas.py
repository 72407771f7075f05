"""BS-NAS operation rating R_i = (N_top - N_bottom) / N (BS-NAS Sec. 3.2, Eq. 1).

The sampled models (fair sampling: each operation taken at least M times) are sorted by accuracy;
N_top / N_bottom count an operation's occurrences in the top / bottom third of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.criteria.base import CRITERIA, pairs_frame
from benchmark.criteria.sampling import SampledCriterion
from benchmark.spaces.base import SearchSpace


def bsnas_rating(space: SearchSpace, samples: pd.DataFrame) -> pd.DataFrame:
    """R_i (Eq. 1) of every alive (slot, op) with n_samples (N), n_top and n_bottom.

    Models are sorted by accuracy, best first; ties keep sample order (a stable sort). Each third
    holds floor(#models / 3) models.
    """
    acc = samples.groupby("sample")["acc"].first()
    order = acc.index.to_numpy()[np.argsort(-acc.to_numpy(), kind="stable")]
    third = len(order) // 3
    top, bottom = set(order[:third].tolist()), set(order[len(order) - third :].tolist())
    flags = samples.assign(
        n_top=samples["sample"].isin(top).astype(int), n_bottom=samples["sample"].isin(bottom).astype(int)
    )
    stats = flags.groupby(["slot", "op"]).agg(
        n_samples=("sample", "size"), n_top=("n_top", "sum"), n_bottom=("n_bottom", "sum")
    )
    frame = pairs_frame(space)
    stats = stats.reindex(pd.MultiIndex.from_frame(frame))
    if stats["n_samples"].isna().any():
        raise ValueError("some alive operation has no sample")
    for col in ("n_samples", "n_top", "n_bottom"):
        frame[col] = stats[col].to_numpy().astype(int)
    frame.insert(2, "R", (frame["n_top"] - frame["n_bottom"]) / frame["n_samples"])
    return frame


@CRITERIA.register("bsnas")
class BSNASCriterion(SampledCriterion):
    """Score = R_i (BS-NAS Eq. 1) over fairly sampled models; shrink with ``step_shrink`` as BS-NAS does."""

    name = "bsnas"

    def from_samples(self, space: SearchSpace, samples: pd.DataFrame) -> pd.DataFrame:
        frame = bsnas_rating(space, samples)
        frame.insert(2, "score", frame["R"])
        return frame
