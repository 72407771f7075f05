"""Evolutionary architecture search under constraints (BS-NAS Sec. 3.3, following SPOS and FairNAS).

Population P = 75, tau = 20 iterations, top-k = 10; each new population holds 25 children by crossover
(two random top-k parents), 25 by mutation (a random top-k parent, every choice redrawn with probability
rho = 0.1) and the rest drawn at random. Every candidate satisfies every constraint (a FLOPs window is a
constraint object, Archai style) and is new to the search, so no architecture is evaluated twice.

A space may define ``mutate(arch, prob, rng)`` and ``crossover(a, b, rng)`` (Archai's evolutionary-space
capability; :class:`benchmark.spaces.mobilenet_bsnas.SpringSpace` does, to keep a cluster's width
shared); otherwise choices are slots, mutated and crossed slot by slot. Random members are uniform draws
of the space (``space.sample``) kept when they meet the constraints, or come from ``sample`` when given:
a narrow FLOPs window of a large space is drawn directly
(:meth:`benchmark.search.constrained_sampling.WindowSampler.sample_arch`), as rejection would hardly ever
hit it. Children that break a constraint are rejected and redrawn in both cases. With ``key``, architectures
of equal key are one candidate (a DARTS path whose unused edge slots differ is the same network,
:func:`benchmark.spaces.darts.edge_view`), evaluated at most once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch, SearchSpace

Fitness = Callable[[list[Arch]], np.ndarray]
"""Fitness of a batch of architectures, higher is better (BS-NAS: supernet top-1 on the held-out split)."""

SETTINGS = ("population", "iterations", "topk", "n_crossover", "n_mutation", "mutation_prob")
"""The evolution's settings as the BS-NAS and MobileNet presets name them (:func:`settings_of`)."""


class Constraint(Protocol):
    """A predicate on architectures with a ``name`` (e.g. ``benchmark.search.constraints.FlopsConstraint``)."""

    name: str

    def __call__(self, arch: Arch) -> bool: ...


@dataclass
class EvolutionResult:
    """The best architecture found, its fitness, and one row per evaluated candidate.

    ``history`` columns: ``iteration`` (0-based), ``arch`` (tuple), ``fitness``, ``origin``
    (``random`` | ``crossover`` | ``mutation``) and ``topk`` (in the final top-k).
    """

    best: Arch
    best_fitness: float
    history: pd.DataFrame = field(repr=False)

    def top(self, n: int) -> pd.DataFrame:
        """The ``n`` fittest candidates, best first (ties: earliest evaluated first)."""
        return self.history.sort_values("fitness", ascending=False, kind="stable").head(n)


def history_table(history: pd.DataFrame, sep: str = ",") -> pd.DataFrame:
    """A search ``history`` with each architecture as one ``sep``-joined string (``evolution_<budget>M.parquet``
    of the BS-NAS and MobileNet drivers, ``evolution.parquet`` of the DARTS search with ``|``)."""
    return history.assign(arch=[sep.join(a) for a in history["arch"]])


def settings_of(preset: Any) -> dict[str, Any]:
    """The :data:`SETTINGS` a driver's preset holds, as keyword arguments of :func:`evolutionary_search`."""
    return {key: getattr(preset, key) for key in SETTINGS}


def slot_mutation(space: SearchSpace, arch: Arch, prob: float, rng: random.Random) -> Arch:
    """Every slot redrawn from its alive operations with probability ``prob``."""
    return tuple(rng.choice(ops) if rng.random() < prob else op for op, ops in zip(arch, space.alive))


def slot_crossover(space: SearchSpace, a: Arch, b: Arch, rng: random.Random) -> Arch:
    """Every slot taken from either parent with probability 1/2."""
    return tuple(rng.choice(pair) for pair in zip(a, b))


def check_settings(population: int, iterations: int, topk: int, n_crossover: int, n_mutation: int,
                   mutation_prob: float, max_tries: int = 10_000) -> None:
    """Refuse impossible evolution settings in one line (also used by the presets' validation)."""
    for name, value, least in (("population", population, 1), ("iterations", iterations, 1), ("topk", topk, 1),
                               ("n_crossover", n_crossover, 0), ("n_mutation", n_mutation, 0),
                               ("max_tries", max_tries, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise NasBenchError(f"evolution: {name}={value!r} is invalid", f"use an integer {name} >= {least}")
    if n_crossover + n_mutation > population:
        raise NasBenchError(f"evolution: {n_crossover} crossover + {n_mutation} mutation children exceed the "
                            f"population of {population}", "lower n_crossover/n_mutation or raise population")
    if topk > population:
        raise NasBenchError(f"evolution: topk={topk} exceeds the population of {population}",
                            "use topk <= population")
    if not 0.0 <= mutation_prob <= 1.0:
        raise NasBenchError(f"evolution: mutation_prob={mutation_prob} is not a probability", "use 0..1")


def evolutionary_search(space: SearchSpace, fitness: Fitness, constraints: Sequence[Constraint] = (),
                        population: int = 75, iterations: int = 20, topk: int = 10, n_crossover: int = 25,
                        n_mutation: int = 25, mutation_prob: float = 0.1, seed: int = 0,
                        max_tries: int = 10_000, sample: Callable[[random.Random], Arch] | None = None,
                        key: Callable[[Arch], Hashable] | None = None) -> EvolutionResult:
    """Search ``space`` (its alive operations) for the fittest architecture meeting ``constraints``.

    ``max_tries`` bounds the draws spent filling one population's random part; a population that cannot
    be filled at all is a one-line error naming the constraints (crossover and mutation merely give up
    after ``max_tries`` draws, as in SPOS, and random draws fill in). ``sample(rng)`` draws the random
    members instead of ``space.sample(rng)`` (e.g. uniformly inside a FLOPs window). ``key(arch)`` names
    the candidate ``arch`` is (default: ``arch`` itself); a child whose key was seen is rejected and redrawn.
    """
    check_settings(population, iterations, topk, n_crossover, n_mutation, mutation_prob, max_tries)
    rng = random.Random(seed)
    draw_random = sample or space.sample
    mutate = getattr(space, "mutate", None) or (lambda a, p, r: slot_mutation(space, a, p, r))
    cross = getattr(space, "crossover", None) or (lambda a, b, r: slot_crossover(space, a, b, r))
    name = key or (lambda arch: arch)
    seen: set[Hashable] = set()

    def admissible(arch: Arch) -> bool:
        return name(arch) not in seen and space.contains(arch) and all(c(arch) for c in constraints)

    def draw(make: Callable[[], Arch], n: int, batch: list[Arch], origin: list[str], label: str) -> None:
        found, tries = 0, 0
        while found < n and tries < max_tries:
            tries += 1
            arch = make()
            if admissible(arch):
                seen.add(name(arch))
                batch.append(arch)
                origin.append(label)
                found += 1

    rows: list[dict] = []
    elite: list[tuple[float, int, Arch]] = []  # (fitness, evaluation order, arch)
    for it in range(iterations):
        batch: list[Arch] = []
        origin: list[str] = []
        if elite:
            parents = [a for _, _, a in elite]
            draw(lambda: cross(rng.choice(parents), rng.choice(parents), rng), n_crossover, batch, origin,
                 "crossover")
            draw(lambda: mutate(rng.choice(parents), mutation_prob, rng), n_mutation, batch, origin, "mutation")
        draw(lambda: draw_random(rng), population - len(batch), batch, origin, "random")
        if not batch:
            if it == 0:
                names = ", ".join(getattr(c, "name", repr(c)) for c in constraints) or "none"
                raise NasBenchError(
                    f"evolution: no architecture of {space.name} (size {space.size()}) met the constraints "
                    f"({names}) in {max_tries} draws", "widen the constraint window or raise max_tries")
            break  # the admissible space is exhausted
        scores = np.asarray(fitness(batch), dtype=float)
        if scores.shape != (len(batch),) or not np.all(np.isfinite(scores)):
            raise NasBenchError(f"evolution: the fitness returned shape {scores.shape} or non-finite values for "
                                f"{len(batch)} architectures", "return one finite score per architecture")
        start = len(rows)
        for i, (arch, score, how) in enumerate(zip(batch, scores, origin)):
            rows.append({"iteration": it, "arch": arch, "fitness": float(score), "origin": how, "topk": False})
            elite.append((float(score), start + i, arch))
        elite = sorted(elite, key=lambda e: (-e[0], e[1]))[:topk]
    for _, index, _ in elite:
        rows[index]["topk"] = True
    history = pd.DataFrame(rows, columns=["iteration", "arch", "fitness", "origin", "topk"])
    best_fitness, _, best = elite[0]
    return EvolutionResult(best=best, best_fitness=best_fitness, history=history)
