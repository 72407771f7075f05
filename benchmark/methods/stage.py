"""The SE-NAS stage, written once for every search space (SE-NAS Algorithm 1, lines 3-7).

At the end of a stage the configured criterion scores every alive operation (Sec. 3.3: Eq. 7 or another
registered criterion, inside a FLOPs window where the space has one), the k lowest are removed (or, in the
FairNAS variant of Sec. 4.3, the lowest of every slot), the table is recorded, the sampler is told the
space changed, and the supernet expands (Sec. 3.4: merged child spaces get their own weights). NB201, the
DARTS space and the MobileNet-like space run this same stage; a run mixes in :class:`SENASStage` and
supplies only what its space lays out differently: the criterion's context, an operator row, and what
it logs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import pandas as pd

from benchmark.criteria import Criterion, CriterionContext
from benchmark.shrinking import shrink, shrink_per_slot
from benchmark.spaces.base import SearchSpace


class SENASStage(ABC):
    """Algorithm 1 lines 3-7 for a run with a ``space``, a ``p`` (``remove_per_stage``) and an expandable
    ``model`` (:class:`~benchmark.models.expandable.ExpandableSupernet`); :meth:`senas_stage` is the stage.
    Mix it in after the run's base class, so the base's ``criterion`` and ``expand`` serve as hooks."""

    space: SearchSpace
    p: Any
    model: Any
    per_slot = False  # the FairNAS variant (Sec. 4.3): remove the lowest operation of every slot

    # ------------------------------------------------------------------------------------------- hooks
    @abstractmethod
    def criterion(self) -> Criterion:
        """The configured operator criterion."""

    @abstractmethod
    def stage_context(self, stage: int) -> CriterionContext:
        """What the criterion reads at the end of ``stage`` (P(a), a seed, and what the space has)."""

    @abstractmethod
    def operator_row(self, stage: int, row: Any) -> dict[str, Any]:
        """One row of ``operators.parquet`` from a row of the stage's table (``slot``, ``op``, ``score``,
        ``removed`` and the criterion's columns)."""

    @property
    @abstractmethod
    def operator_rows(self) -> list[dict[str, Any]]:
        """The run's recorded operator rows (checkpointed with it)."""

    @property
    @abstractmethod
    def expands(self) -> bool:
        """Whether merged child spaces get their own weights (``--no-expand``: the shrink-only ablation)."""

    @abstractmethod
    def space_changed(self) -> None:
        """Tell the path sampler the alive operations changed."""

    @abstractmethod
    def expand(self) -> None:
        """SE-NAS Sec. 3.4 on the run's supernet (and whatever follows its parameters)."""

    @abstractmethod
    def report_stage(self, stage: int, scores: pd.DataFrame, removed: list[str], groups_before: int) -> None:
        """Log (and keep) what the stage did; ``removed`` as ``slot:op``."""

    # ------------------------------------------------------------------------------------- the stage
    def stage_k(self) -> int:
        """k of Algorithm 1 line 3: ``remove_per_stage``, at most what can still go."""
        return min(self.p.remove_per_stage, self.space.removable())

    def remove_operators(self, scores: pd.DataFrame) -> pd.DataFrame:
        """Line 3: remove the k lowest (the lowest per slot in the FairNAS variant); the table with
        ``removed``."""
        if self.per_slot:
            return shrink_per_slot(self.space, scores)
        k = self.stage_k()
        return shrink(self.space, scores, k) if k > 0 else scores.assign(removed=False)

    def senas_stage(self, stage: int) -> pd.DataFrame:
        """Score, shrink, record, expand (lines 3-7); returns the stage's table with ``removed``."""
        groups_before = len(self.model.groups)
        scores = self.criterion().score(self.space, self.stage_context(stage))
        record = self.remove_operators(scores)
        self.operator_rows.extend(self.operator_row(stage, r) for r in record.itertuples())
        removed = [f"{self.space.slots[int(r.slot)]}:{r.op}" for r in record.itertuples() if r.removed]
        self.space_changed()
        if self.expands:
            self.expand()
        self.report_stage(stage, scores, removed, groups_before)
        return record
