"""SE-NAS operator scores: selection importance SI (Eq. 5), selection confidence SC (Eq. 6), S (Eq. 7).

``accuracy`` ranks operations by SI alone (the supernet-accuracy baseline of Sec. 3.3); ``senas``
by S = normalize(SI) / normalize(SC), which ranks low-SI operations of high-variance slots lowest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.criteria.base import CRITERIA, pairs_frame
from benchmark.criteria.sampling import SampledCriterion
from benchmark.spaces.base import SearchSpace
from benchmark.vocabulary import check_normalization

EPS = 1e-12
"""Floor of normalize(SC) in Eq. 7: a slot whose ops all share one SI (SC = 0) scores norm(SI) / EPS."""


def selection_importance(space: SearchSpace, samples: pd.DataFrame) -> pd.DataFrame:
    """SI_o (Eq. 5): mean accuracy of the samples counting for each alive (slot, op), and their number."""
    stats = samples.groupby(["slot", "op"])["acc"].agg(["mean", "size"])
    frame = pairs_frame(space)
    stats = stats.reindex(pd.MultiIndex.from_frame(frame))
    if stats["size"].isna().any():
        raise ValueError("some alive operation has no sample")
    frame["SI"] = stats["mean"].to_numpy()
    frame["n_samples"] = stats["size"].to_numpy().astype(int)
    return frame


def selection_confidence(frame: pd.DataFrame) -> pd.Series:
    """SC_o (Eq. 6): the population variance of SI over the alive ops of o's slot (equal within a slot)."""
    return frame.groupby("slot")["SI"].transform(lambda si: si.var(ddof=0))


def normalize(x: np.ndarray, how: str) -> np.ndarray:
    """Eq. 7's "mean normalization", read two ways; both map a constant (or empty) vector to ones.

    ``mean``: x / mean(x) (for x >= 0, not all zero). ``range``: 1 + (x - mean(x)) / (max(x) - min(x)),
    the textbook (x - mean) / range shifted by +1, which is > 0 whenever max > min.
    """
    check_normalization(how)
    if how == "mean":
        m = x.mean() if x.size else 0.0
        return x / m if m > 0 else np.ones_like(x)
    r = np.ptp(x) if x.size else 0.0
    return 1.0 + (x - x.mean()) / r if r > 0 else np.ones_like(x)


def senas_score(frame: pd.DataFrame, normalization: str) -> np.ndarray:
    """S_o = normalize(SI_o) / normalize(SC_o) (Eq. 7) over ops of slots with >= 2 alive ops, else NaN."""
    scored = (frame.groupby("slot")["op"].transform("size") >= 2).to_numpy()
    si = frame["SI"].to_numpy(dtype=float)[scored]
    sc = frame["SC"].to_numpy(dtype=float)[scored]
    score = np.full(len(frame), np.nan)
    score[scored] = normalize(si, normalization) / np.maximum(normalize(sc, normalization), EPS)
    return score


@CRITERIA.register("accuracy")
class AccuracyCriterion(SampledCriterion):
    """Score = SI (Eq. 5): mean supernet accuracy P(a) of sampled architectures holding the op; SC (Eq. 6)
    beside it."""

    name = "accuracy"
    windowed = True

    def from_samples(self, space: SearchSpace, samples: pd.DataFrame) -> pd.DataFrame:
        frame = selection_importance(space, samples)
        frame.insert(3, "SC", selection_confidence(frame))
        frame.insert(2, "score", frame["SI"])
        return frame


@CRITERIA.register("senas")
class SENASCriterion(SampledCriterion):
    """Score = S (Eq. 7) from SI (Eq. 5) and SC (Eq. 6); ops of single-op slots get NaN (never removable)."""

    name = "senas"
    options = (*SampledCriterion.options, "normalization")
    windowed = True

    def __init__(
        self, M: int = 100, sharing: str = "fair", batch_size: int = 256, normalization: str = "mean"
    ):
        check_normalization(normalization)
        super().__init__(M=M, sharing=sharing, batch_size=batch_size)
        self.normalization = normalization

    def from_samples(self, space: SearchSpace, samples: pd.DataFrame) -> pd.DataFrame:
        frame = selection_importance(space, samples)
        frame.insert(3, "SC", selection_confidence(frame))
        frame.insert(2, "score", senas_score(frame, self.normalization))
        return frame
