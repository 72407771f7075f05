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
from benchmark.vocabulary import DEFAULT_NORMALIZATION

if TYPE_CHECKING:
    from benchmark.relaxation import DartsRelaxation
    from benchmark.search.constrained_sampling import WindowSampler

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
    window: WindowSampler | None = None  # a FLOPs window the samples must stay in (SE-NAS Sec. 4.3)

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
    windowed: ClassVar[bool] = False  # whether it can score inside a FLOPs window (``ctx.window``)

    def score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        """One row per alive (slot, op) pair with a ``score`` (higher = better) and extra columns."""
        ctx.require(self.needs, self.name)
        if ctx.window is not None and not self.windowed:
            raise NasBenchError(f"criterion {self.name!r} cannot score inside a FLOPs window",
                                f"use one that can: {', '.join(windowed_criteria())}")
        return self._score(space, ctx)

    @abstractmethod
    def _score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame: ...


def pairs_frame(space: SearchSpace) -> pd.DataFrame:
    """The ``slot``/``op`` columns of every alive pair, slot-major, in canonical operation order."""
    pairs = space.alive_pairs()
    return pd.DataFrame({"slot": [s for s, _ in pairs], "op": [o for _, o in pairs]})


def windowed_criteria() -> list[str]:
    """The registered criteria that can score inside a FLOPs window."""
    return [n for n in CRITERIA.names() if CRITERIA.get(n).windowed]


def takes_normalization(name: str) -> bool:
    """Whether criterion ``name`` normalises its scores (Eq. 7), i.e. takes a ``normalization`` option."""
    return "normalization" in CRITERIA.get(name).options


def check_normalization_taken(name: str, normalization: str) -> None:
    """Refuse a non-default Eq. 7 normalisation for a criterion that does not normalise (it would change
    nothing but the run's name)."""
    if normalization != DEFAULT_NORMALIZATION and not takes_normalization(name):
        raise NasBenchError(f"criterion {name!r} takes no normalization (Eq. 7 is SE-NAS's score), got "
                            f"--normalization {normalization}", "drop --normalization, or use --criterion senas")


def configured_criterion(name: str, normalization: str = DEFAULT_NORMALIZATION, **sampling: object) -> Criterion:
    """The criterion a run configures: the ``sampling`` options (``M``, ``sharing``, ``batch_size``) when it
    samples, the run's Eq. 7 ``normalization`` when it normalises (any other is refused,
    :func:`check_normalization_taken`)."""
    check_normalization_taken(name, normalization)
    takes = CRITERIA.get(name).options
    options: dict[str, object] = dict(sampling) if "M" in takes else {}
    if "normalization" in takes:
        options["normalization"] = normalization
    return create_criterion(name, **options)


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
