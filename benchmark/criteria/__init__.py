"""Operator criteria for search-space shrinking, registered by name in ``CRITERIA`` (see docs/criteria.md).

``random`` (baseline), ``accuracy`` (SI, SE-NAS Eq. 5), ``senas`` (S, Eq. 7), ``bsnas`` (R_i, BS-NAS
Eq. 1) and ``groundtruth`` (oracle). Build one with ``create_criterion(name, **options)`` and call
``criterion.score(space, CriterionContext(evaluate=..., gt_accuracy=..., seed=...))``.
"""

from benchmark.criteria import baseline, bsnas, groundtruth, magnitude, selection  # noqa: F401 - fill CRITERIA
from benchmark.criteria.base import (
    CRITERIA,
    Criterion,
    CriterionContext,
    Evaluator,
    check_normalization_taken,
    configured_criterion,
    create_criterion,
    takes_normalization,
    windowed_criteria,
)
from benchmark.criteria.bsnas import bsnas_rating
from benchmark.criteria.groundtruth import accuracy_table
from benchmark.criteria.sampling import SHARING, draw_samples, fair_groups, window_samples
from benchmark.criteria.selection import normalize, selection_confidence, selection_importance, senas_score

__all__ = [
    "CRITERIA",
    "SHARING",
    "Criterion",
    "CriterionContext",
    "Evaluator",
    "accuracy_table",
    "bsnas_rating",
    "check_normalization_taken",
    "configured_criterion",
    "create_criterion",
    "takes_normalization",
    "draw_samples",
    "fair_groups",
    "window_samples",
    "normalize",
    "selection_confidence",
    "selection_importance",
    "senas_score",
    "windowed_criteria",
]
