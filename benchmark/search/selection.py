"""The final selection of a FLOPs-constrained one-shot search: the architecture of a budget's window with the
best supernet accuracy (SE-NAS Eq. 2, ``argmax ACC_val(N(a, W*(a))) s.t. Cost(a) < C``).

Two ways to look for it, both inside the window and with the same evaluation budget at the paper's scale:

* ``evolution``: SPOS's evolutionary search (Guo et al. 2020, Sec. 3.4; BS-NAS Sec. 3.3 follows it) with
  :func:`benchmark.search.evolution.evolutionary_search`; random members are uniform window draws
  (:meth:`WindowSampler.sample_arch`), crossover and mutation children outside the window are rejected
  and redrawn.
* ``sample``: the best of ``n`` distinct architectures drawn uniformly in the window (random search).

:class:`CachedFitness` evaluates each distinct architecture once, across budgets and methods. The same two
methods without a window (:func:`evolve`, :func:`best_of`) serve the DARTS search, whose candidates only
have to fit an optional FLOPs budget. :class:`SelectionPreset` holds the preset fields the MobileNet and
DARTS searches share, :class:`EvolutionPreset` the evolution's, which BS-NAS shares too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.search.constrained_sampling import WindowSampler
from benchmark.search.evolution import Constraint, Fitness, check_settings, evolutionary_search, settings_of
from benchmark.settings import check_positive
from benchmark.spaces.base import Arch, SearchSpace

SELECTIONS = ("evolution", "sample")


@dataclass(frozen=True, kw_only=True)
class EvolutionPreset:
    """The settings of SPOS's evolutionary search (Guo et al. 2020, Sec. 3.4) as the presets name them
    (:data:`benchmark.search.evolution.SETTINGS`), shared by the BS-NAS, MobileNet and DARTS search presets;
    the values are SPOS's (its search code and its FLOPs-465M MobileNet search; neither SE-NAS nor the DARTS
    papers give any). Keyword-only and without a ``name``, so a preset's own fields, ``name`` first, keep
    their constructor positions."""

    population: int = 50
    iterations: int = 20
    topk: int = 10
    n_crossover: int = 25
    n_mutation: int = 25
    mutation_prob: float = 0.1

    def check_evolution(self) -> None:
        """Refuse impossible evolution settings in one line."""
        check_settings(**settings_of(self))


@dataclass(frozen=True, kw_only=True)
class SelectionPreset(EvolutionPreset):
    """The final selection's preset fields, shared by the MobileNet and DARTS search presets: SPOS's
    evolution (:class:`EvolutionPreset`) or the best of ``selection_samples`` sampled paths."""

    selection: str = "evolution"  # 'evolution' (SPOS's, under the budget) or 'sample' (random search)
    selection_samples: int = 1000  # 'sample': architectures evaluated (ours: evolution's count)

    def check_selection(self) -> None:
        """Refuse an unknown selection or impossible selection settings in one line."""
        if self.selection not in SELECTIONS:
            raise NasBenchError(f"unknown selection {self.selection!r}", f"choose one of: {', '.join(SELECTIONS)}")
        check_positive(self, ("selection_samples",))
        self.check_evolution()


class CachedFitness:
    """``fitness`` with a cache: each distinct architecture is evaluated once; ``evaluations`` counts them.
    With ``key``, architectures of equal key are one (e.g. DARTS paths of one edge view)."""

    def __init__(self, fitness: Fitness, key: Callable[[Arch], Hashable] | None = None):
        self.fitness = fitness
        self.key = key or (lambda arch: arch)
        self.cache: dict[Hashable, float] = {}

    def __call__(self, archs: list[Arch]) -> np.ndarray:
        new: dict[Hashable, Arch] = {}
        for arch in archs:
            if (k := self.key(arch)) not in self.cache and k not in new:
                new[k] = arch
        if new:
            values = np.asarray(self.fitness(list(new.values())), dtype=float)
            self.cache.update(zip(new, (float(v) for v in values)))
        return np.array([self.cache[self.key(a)] for a in archs], dtype=float)

    @property
    def evaluations(self) -> int:
        return len(self.cache)


@dataclass
class Selection:
    """A budget's choice: the best architecture, its fitness, and every distinct candidate compared
    (``history``: ``arch`` and ``fitness``, plus evolution's ``iteration``, ``origin`` and ``topk``)."""

    method: str
    best: Arch
    fitness: float
    history: pd.DataFrame = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def evaluated(self) -> int:
        return len(self.history)

    def record(self) -> dict[str, Any]:
        """How it was selected, for the exported architecture file."""
        return {"method": self.method, "evaluated": self.evaluated, **self.settings}


def best_of(candidates: list[Arch], fitness: Fitness, samples: int) -> Selection:
    """``sample``: the best of distinct ``candidates``, drawn for ``samples`` wanted (first one on ties)."""
    acc = np.asarray(fitness(candidates), dtype=float)
    best = int(np.argmax(acc))
    return Selection("sample", candidates[best], float(acc[best]),
                     pd.DataFrame({"arch": candidates, "fitness": acc}), {"samples": samples})


def select_by_sampling(window: WindowSampler, fitness: Fitness, n: int, rng: np.random.Generator) -> Selection:
    """The best of the first ``n`` distinct architectures of ``2 n`` uniform window draws."""
    return best_of(list(dict.fromkeys(window.sample(2 * n, rng)))[:n], fitness, n)


def evolve(space: SearchSpace, fitness: Fitness, settings: Mapping[str, Any], seed: int,
           constraints: Sequence[Constraint] = (), sample: Callable[[random.Random], Arch] | None = None,
           key: Callable[[Arch], Hashable] | None = None) -> Selection:
    """``evolution``: SPOS's evolution over ``space`` (its alive operations) under ``constraints``;
    ``settings``: the keyword arguments of :func:`evolutionary_search` named in
    :data:`benchmark.search.evolution.SETTINGS`; ``sample`` and ``key`` as there."""
    found = evolutionary_search(space, fitness, constraints, seed=seed, sample=sample, key=key, **settings)
    return Selection("evolution", found.best, found.best_fitness, found.history, dict(settings))


def select_by_evolution(space: SearchSpace, window: WindowSampler, fitness: Fitness, settings: Mapping[str, Any],
                        seed: int) -> Selection:
    """SPOS's evolution inside ``window``, its random members drawn uniformly there (:func:`evolve`)."""
    return evolve(space, fitness, settings, seed, [window.constraint], window.sample_arch)


def select_in_window(method: str, space: SearchSpace, window: WindowSampler, fitness: Fitness, samples: int,
                     settings: Mapping[str, Any], seed: int, rng: np.random.Generator) -> Selection:
    """``method`` (one of :data:`SELECTIONS`): ``sample`` draws from ``rng``, ``evolution`` is seeded by ``seed``."""
    if method == "evolution":
        return select_by_evolution(space, window, fitness, settings, seed)
    if method == "sample":
        return select_by_sampling(window, fitness, samples, rng)
    raise NasBenchError(f"unknown selection {method!r}", f"choose one of: {', '.join(SELECTIONS)}")
