"""The final selection of a FLOPs-constrained one-shot search: the architecture of a budget's window with the
best supernet accuracy (SE-NAS Eq. 2, ``argmax ACC_val(N(a, W*(a))) s.t. Cost(a) < C``).

Two ways to look for it, both inside the window and with the same evaluation budget at the paper's scale:

* ``evolution``: SPOS's evolutionary search (Guo et al. 2020, Sec. 3.4; BS-NAS Sec. 3.3 follows it) with
  :func:`benchmark.search.evolution.evolutionary_search`; random members are uniform window draws
  (:meth:`WindowSampler.sample_arch`), crossover and mutation children outside the window are rejected
  and redrawn.
* ``sample``: the best of ``n`` distinct architectures drawn uniformly in the window (random search).

:class:`CachedFitness` evaluates each distinct architecture once, across budgets and methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.search.constrained_sampling import WindowSampler
from benchmark.search.evolution import Fitness, evolutionary_search
from benchmark.spaces.base import Arch, SearchSpace

SELECTIONS = ("evolution", "sample")


class CachedFitness:
    """``fitness`` with a cache: each distinct architecture is evaluated once; ``evaluations`` counts them."""

    def __init__(self, fitness: Fitness):
        self.fitness = fitness
        self.cache: dict[Arch, float] = {}

    def __call__(self, archs: list[Arch]) -> np.ndarray:
        new = [a for a in dict.fromkeys(archs) if a not in self.cache]
        if new:
            self.cache.update(zip(new, (float(v) for v in np.asarray(self.fitness(new), dtype=float))))
        return np.array([self.cache[a] for a in archs], dtype=float)

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


def select_by_sampling(window: WindowSampler, fitness: Fitness, n: int, rng: np.random.Generator) -> Selection:
    """The best of the first ``n`` distinct architectures of ``2 n`` uniform window draws."""
    candidates = list(dict.fromkeys(window.sample(2 * n, rng)))[:n]
    acc = np.asarray(fitness(candidates), dtype=float)
    best = int(np.argmax(acc))
    return Selection("sample", candidates[best], float(acc[best]),
                     pd.DataFrame({"arch": candidates, "fitness": acc}), {"samples": n})


def select_by_evolution(space: SearchSpace, window: WindowSampler, fitness: Fitness, settings: Mapping[str, Any],
                        seed: int) -> Selection:
    """SPOS's evolution over ``space`` (its alive operations) inside ``window``; ``settings``: the keyword
    arguments of :func:`evolutionary_search` named in :data:`benchmark.search.evolution.SETTINGS`."""
    found = evolutionary_search(space, fitness, [window.constraint], seed=seed, sample=window.sample_arch,
                                **settings)
    return Selection("evolution", found.best, found.best_fitness, found.history, dict(settings))


def select_in_window(method: str, space: SearchSpace, window: WindowSampler, fitness: Fitness, samples: int,
                     settings: Mapping[str, Any], seed: int, rng: np.random.Generator) -> Selection:
    """``method`` (one of :data:`SELECTIONS`): ``sample`` draws from ``rng``, ``evolution`` is seeded by ``seed``."""
    if method == "evolution":
        return select_by_evolution(space, window, fitness, settings, seed)
    if method == "sample":
        return select_by_sampling(window, fitness, samples, rng)
    raise NasBenchError(f"unknown selection {method!r}", f"choose one of: {', '.join(SELECTIONS)}")
