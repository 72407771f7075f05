"""The operator-criterion interface: score every alive (slot, operation) pair of a space (SE-NAS Sec. 3.3).

A criterion is a small object built by name from ``CRITERIA`` (``create_criterion("senas", M=100)``).
``score(space, ctx)`` returns one row per alive pair, slot-major in canonical operation order, with
columns ``slot`` (int), ``op`` (str), ``score`` (float, higher = better) and criterion-specific ones.
Everything a criterion reads from the run (the supernet accuracy P(a), a ground-truth table, a seed)
travels in a :class:`CriterionContext`; a criterion names the fields it needs and gets a one-line
error when one is missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Callable, ClassVar, Sequence

import numpy as np
import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.registry import Registry
from benchmark.spaces.base import Arch, SearchSpace

if TYPE_CHECKING:
    from benchmark.relaxation import DartsRelaxation

Evaluator = Callable[[list[Arch]], np.ndarray]
"""P(a) of Eq. 4 for a batch of architectures: one accuracy (>= 0) per architecture."""

GroundTruth = Callable[[Arch], float] | np.ndarray
"""A ground-truth accuracy per architecture, or a table indexed like the full space (see groundtruth.py)."""

CRITERIA: Registry = Registry("criterion")


@dataclass
class CriterionContext:
    """What a criterion may read from the run; criteria needing more (a supernet) extend this with fields."""

    evaluate: Evaluator | None = None
    gt_accuracy: GroundTruth | None = None
    seed: int = 0
    relaxation: DartsRelaxation | None = None  # trained DARTS relaxation of the space (``magnitude``)

    def require(self, names: Sequence[str], criterion: str) -> None:
        """Raise NasBenchError if any field in ``names`` is unset."""
        known = {f.name for f in fields(self)}
        missing = [n for n in names if n not in known or getattr(self, n) is None]
        if missing:
            raise NasBenchError(
                f"criterion {criterion!r} needs {', '.join(missing)} in its context",
                f"pass CriterionContext({missing[0]}=...)",
            )


class Criterion(ABC):
    """Scores alive operations; subclasses implement :meth:`_score` and list the context fields they need."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[tuple[str, ...]] = ()  # the keyword options its constructor takes

    def score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        """One row per alive (slot, op) pair with a ``score`` (higher = better) and extra columns."""
        ctx.require(self.needs, self.name)
        return self._score(space, ctx)

    @abstractmethod
    def _score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame: ...


def pairs_frame(space: SearchSpace) -> pd.DataFrame:
    """The ``slot``/``op`` columns of every alive pair, slot-major, in canonical operation order."""
    pairs = space.alive_pairs()
    return pd.DataFrame({"slot": [s for s, _ in pairs], "op": [o for _, o in pairs]})


def create_criterion(name: str, **options: object) -> Criterion:
    """Build the criterion registered as ``name`` with its options (e.g. ``M``, ``sharing``); an option
    the criterion does not take is an error, never dropped."""
    factory = CRITERIA.get(name)
    unknown = sorted(set(options) - set(factory.options))
    if unknown:
        takes = f"its options: {', '.join(factory.options)}" if factory.options else "it takes no options"
        raise NasBenchError(f"criterion {name!r} takes no option {', '.join(unknown)}",
                            f"drop {', '.join(unknown)} ({takes}; docs/criteria.md)")
    return factory(**options)
