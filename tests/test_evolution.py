"""Evolutionary search under constraints (BS-NAS Sec. 3.3): finds a planted optimum, never evaluates an
architecture that breaks a constraint or twice, is seeded, and refuses impossible settings in one line.
The final selection of the MobileNet search (SPOS's evolution inside a FLOPs window, or window sampling):
stays in the window, evaluates each candidate once, is seeded, and evolution beats sampling. Candidates
named by a key (the DARTS search's edge views) are evaluated once; the selection's preset fields are shared
by the MobileNet and DARTS searches."""

from __future__ import annotations

import dataclasses
import itertools
import random

import numpy as np
import pytest

from benchmark.darts.presets import SEARCH_PRESETS as DARTS_PRESETS
from benchmark.darts.presets import get_search_preset as get_darts_preset
from benchmark.errors import NasBenchError
from benchmark.imagenet.presets import PRESETS as MOBILENET_PRESETS
from benchmark.imagenet.presets import get_preset as get_mobilenet_preset
from benchmark.search.constrained_sampling import WindowSampler
from benchmark.search.constraints import FlopsConstraint
from benchmark.search.evolution import evolutionary_search, slot_crossover, slot_mutation
from benchmark.search.selection import (
    CachedFitness,
    SelectionPreset,
    best_of,
    evolve,
    select_by_evolution,
    select_by_sampling,
    select_in_window,
)
from benchmark.spaces.base import SearchSpace
from benchmark.spaces.mobilenet import MobileNetSkeleton, mobilenet_space
from benchmark.spaces.mobilenet_bsnas import Cluster, SpringConfig, arch_flops, op_width, spring_space
from benchmark.spaces.mobilenet_flops import FlopsTable

OPS = ("a", "b", "c", "d")
SLOTS = 8  # 4^8 = 65,536 architectures, 14,266 within the cost budget: evolution evaluates at most 1,500


def small_space() -> SearchSpace:
    return SearchSpace("toy", tuple(f"s{i}" for i in range(SLOTS)), (OPS,) * SLOTS)


class Cost:
    """A planted additive cost with a budget: a FLOPs-like constraint object."""

    def __init__(self, budget: float = 9.0):
        self.table = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0}
        self.budget = budget
        self.name = f"cost <= {budget:g}"

    def __call__(self, arch) -> bool:
        return sum(self.table[o] for o in arch) <= self.budget


class Recorder:
    """A planted fitness (an op value per slot, with one interaction) that records every call."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.values = {(s, o): float(v)
                       for (s, o), v in zip(itertools.product(range(SLOTS), OPS), rng.random(4 * SLOTS) * 3)}
        self.calls: list[tuple] = []

    def score(self, arch) -> float:
        bonus = 2.0 if arch[0] == arch[-1] == "d" else 0.0
        return sum(self.values[s, o] for s, o in enumerate(arch)) + bonus

    def __call__(self, archs):
        self.calls += archs
        return np.array([self.score(a) for a in archs])


def test_finds_the_planted_optimum_and_never_violates_the_constraint():
    space, cost, fit = small_space(), Cost(), Recorder()
    feasible = [a for a in space.enumerate() if cost(a)]
    optimum = max(feasible, key=fit.score)
    result = evolutionary_search(space, fit, [cost], seed=1)
    assert result.best == optimum and result.best_fitness == pytest.approx(fit.score(optimum))
    assert all(cost(a) for a in fit.calls)  # nothing infeasible was ever evaluated
    assert len(set(fit.calls)) == len(fit.calls)  # nothing evaluated twice
    h = result.history
    assert len(h) == len(fit.calls) <= 75 * 20 and set(h["origin"]) == {"random", "crossover", "mutation"}
    assert h["topk"].sum() == 10 and h.loc[h["topk"], "fitness"].min() >= h.loc[~h["topk"], "fitness"].max()
    first = h[h["iteration"] == 0]
    assert len(first) == 75 and set(first["origin"]) == {"random"}
    later = h[h["iteration"] == 1]
    assert (later["origin"] == "crossover").sum() == 25 and (later["origin"] == "mutation").sum() == 25


def test_same_seed_same_search():
    a = evolutionary_search(small_space(), Recorder(), [Cost()], iterations=3, seed=4)
    b = evolutionary_search(small_space(), Recorder(), [Cost()], iterations=3, seed=4)
    assert a.history.equals(b.history)


def test_spring_space_keeps_widths_shared_and_meets_a_flops_window():
    cfg = SpringConfig((Cluster((4, 6), 2, 2), Cluster((8, 10), 1, 1)), stem=4, separable=4,
                       kernels=(3, 5), expansions=(3, 6), last=16)
    space = spring_space(cfg, "toy-spring")
    flops = {a: arch_flops(cfg, a, 16, 3) for a in space.enumerate()}
    lo, hi = np.quantile(list(flops.values()), [0.3, 0.6])
    window = type("Window", (), {"name": "flops window", "__call__": lambda self, a: lo <= flops[a] <= hi})()
    value = {op: random.Random(op).random() for ops in space.choices for op in ops}
    calls = []

    def fitness(archs):
        calls.extend(archs)
        return np.array([sum(value[o] for o in a) for a in archs])

    result = evolutionary_search(space, fitness, [window], population=20, iterations=10, topk=5, n_crossover=6,
                                 n_mutation=6, seed=0, max_tries=300)
    feasible = [a for a in flops if window(a)]
    assert result.best == max(feasible, key=lambda a: sum(value[o] for o in a))
    assert all(window(a) and space.contains(a) for a in calls)


def test_impossible_settings_are_one_line_errors():
    space = small_space()
    with pytest.raises(NasBenchError, match="exceed the population"):
        evolutionary_search(space, Recorder(), population=40)
    with pytest.raises(NasBenchError, match="mutation_prob"):
        evolutionary_search(space, Recorder(), mutation_prob=1.5)
    with pytest.raises(NasBenchError, match=r"no architecture of toy .* met the constraints \(cost <= -1\)") as e:
        evolutionary_search(space, Recorder(), [Cost(budget=-1.0)], max_tries=200)
    assert "\n" not in str(e.value)


def test_slot_operators_draw_from_alive_operations_only():
    space = small_space()
    space.restrict([("a", "b")] * SLOTS)
    rng = random.Random(0)
    arch = ("a",) * SLOTS
    assert slot_mutation(space, arch, 0.0, rng) == arch
    assert all(set(slot_mutation(space, arch, 1.0, rng)) <= {"a", "b"} for _ in range(20))
    child = slot_crossover(space, ("a",) * SLOTS, ("b",) * SLOTS, rng)
    assert set(child) <= {"a", "b"} and len(child) == SLOTS
    spring = spring_space(SpringConfig((Cluster((4, 6), 3, 2),), stem=4, separable=4, last=8))
    a, b = spring.sample(rng), spring.sample(rng)
    for _ in range(50):
        assert spring.contains(spring.mutate(a, 0.5, rng)) and spring.contains(spring.crossover(a, b, rng))
    assert len({op_width(o) for o in spring.crossover(a, b, rng)}) == 1


# ------------------------------------------------------------- the final selection inside a FLOPs window
def mobilenet_window(lo: float = 465.0, hi: float = 470.0):
    """The MobileNet-like space at 224 px and a narrow FLOPs window of it (SE-NAS Table 4's 470M budget)."""
    space, table = mobilenet_space(), FlopsTable(MobileNetSkeleton())
    return space, WindowSampler(space, table.per_slot_m(space), table.fixed_m, FlopsConstraint(lo, hi, table.flops_m))


class Planted:
    """A planted supernet accuracy: a seeded value per (layer, operation), summed; records every call."""

    def __init__(self, space: SearchSpace, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.values = {(s, op): float(rng.random()) for s, ops in enumerate(space.choices) for op in ops}
        self.calls: list[tuple] = []

    def score(self, arch) -> float:
        return sum(self.values[s, op] for s, op in enumerate(arch))

    def __call__(self, archs):
        self.calls += archs
        return np.array([self.score(a) for a in archs])


SMALL = {"population": 20, "iterations": 10, "topk": 5, "n_crossover": 8, "n_mutation": 8, "mutation_prob": 0.1}


def test_window_evolution_stays_in_the_window_evaluates_once_and_is_seeded():
    space, window = mobilenet_window()
    fit = Planted(space)
    found = select_by_evolution(space, window, fit, SMALL, seed=0)
    assert found.method == "evolution" and found.evaluated == len(fit.calls) == 200
    assert all(window.constraint(a) and space.contains(a) for a in fit.calls)  # random, crossover, mutation
    assert len(set(fit.calls)) == len(fit.calls)  # no candidate evaluated twice
    assert set(found.history["origin"]) == {"random", "crossover", "mutation"}
    assert found.fitness == pytest.approx(max(map(fit.score, fit.calls))) and window.constraint(found.best)
    assert found.record() == {"method": "evolution", "evaluated": 200, **SMALL}
    again = select_by_evolution(space, window, Planted(space), SMALL, seed=0)
    assert again.history.equals(found.history)
    other = select_by_evolution(space, window, Planted(space), SMALL, seed=1)
    assert not other.history["arch"].equals(found.history["arch"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_evolution_beats_window_sampling_with_the_same_evaluations(seed):
    space, window = mobilenet_window()
    evolved = select_by_evolution(space, window, Planted(space, seed), SMALL, seed=seed)
    sampled = select_by_sampling(window, Planted(space, seed), evolved.evaluated, np.random.default_rng(seed))
    assert sampled.evaluated == evolved.evaluated == 200 and sampled.record()["samples"] == 200
    assert all(window.constraint(a) for a in sampled.history["arch"])
    assert evolved.fitness > sampled.fitness + 1.0  # planted: about 16 against 14 (of at most 21)


def test_window_evolution_reaches_the_planted_optimum_of_a_small_space():
    costs = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0}
    space = small_space()  # 65,536 architectures; the window holds 27,876 of them (cost 9 to 12)
    def flops(a):
        return sum(costs[o] for o in a)

    window = WindowSampler(space, [costs] * SLOTS, 0.0, FlopsConstraint(9.0, 12.0, flops))
    fit = Recorder()
    inside = [a for a in space.enumerate() if window.constraint(a)]
    found = select_by_evolution(space, window, fit, {**SMALL, "iterations": 20}, seed=0)
    assert found.best == max(inside, key=fit.score) and len(fit.calls) <= 400 < len(inside)
    assert all(window.constraint(a) for a in fit.calls) and len(set(fit.calls)) == len(fit.calls)


def test_cached_fitness_evaluates_each_architecture_once():
    fit = Recorder()
    cached = CachedFitness(fit)
    a, b, c = ("a",) * SLOTS, ("b",) * SLOTS, ("c",) * SLOTS
    first = cached([a, b, a])
    assert first[0] == first[2] and fit.calls == [a, b]
    assert list(cached([b, c])) == [first[1], fit.score(c)] and fit.calls == [a, b, c] and cached.evaluations == 3


def test_unknown_selection_is_a_one_line_error():
    space, window = mobilenet_window()
    with pytest.raises(NasBenchError, match="unknown selection 'grid' -- choose one of: evolution, sample"):
        select_in_window("grid", space, window, Planted(space), 10, SMALL, 0, np.random.default_rng(0))


# ------------------------------------------------------------- candidates named by a key (DARTS edge views)
def first_six(arch) -> tuple:
    """A key under which the last two slots are unused, as a DARTS path's ignored edge slots."""
    return arch[:SLOTS - 2]


def as_used(arch) -> tuple:
    """The architecture the key names (the unused slots at ``a``)."""
    return first_six(arch) + ("a", "a")


def test_keyed_evolution_evaluates_each_candidate_once_and_finds_its_optimum():
    fit, cost = Recorder(), Cost(6.0)
    in_budget = type("Budget", (), {"name": cost.name, "__call__": lambda self, a: cost(as_used(a))})()
    found = evolve(small_space(), CachedFitness(lambda archs: fit([as_used(a) for a in archs]), key=first_six),
                   {**SMALL, "iterations": 20}, seed=0, constraints=[in_budget], key=first_six)
    assert len(set(fit.calls)) == len(fit.calls) == found.evaluated <= 400  # 4^6 = 4,096 candidates
    assert all(cost(a) for a in fit.calls)
    best = max((a for a in small_space().enumerate() if a == as_used(a) and cost(a)), key=fit.score)
    assert as_used(found.best) == best and found.fitness == pytest.approx(fit.score(best))
    plain = evolutionary_search(small_space(), Recorder(), [Cost()], iterations=3, seed=4)
    same = evolutionary_search(small_space(), Recorder(), [Cost()], iterations=3, seed=4, key=lambda a: a)
    assert same.history.equals(plain.history)  # the default key is the architecture itself


def test_cached_fitness_with_a_key_evaluates_each_candidate_once():
    fit = Recorder()
    cached = CachedFitness(fit, key=first_six)
    a, b = ("a",) * SLOTS, ("b",) * SLOTS
    twin = a[:-1] + ("d",)  # the same candidate as a under the key
    assert list(cached([a, b, twin])) == [fit.score(a), fit.score(b), fit.score(a)]
    assert fit.calls == [a, b] and cached.evaluations == 2 and list(cached([twin])) == [fit.score(a)]


def test_best_of_candidates_keeps_the_first_best():
    a, b, c = ("a",) * SLOTS, ("b",) * SLOTS, ("c",) * SLOTS
    found = best_of([a, b, c], lambda archs: np.array([1.0, 3.0, 3.0]), samples=5)
    assert (found.method, found.best, found.fitness, found.evaluated) == ("sample", b, 3.0, 3)
    assert found.record() == {"method": "sample", "evaluated": 3, "samples": 5}


def test_selection_preset_fields_are_shared_by_the_mobilenet_and_darts_searches():
    shared = [f.name for f in dataclasses.fields(SelectionPreset)]
    spos = {"selection": "evolution", "selection_samples": 1000, "population": 50, "iterations": 20, "topk": 10,
            "n_crossover": 25, "n_mutation": 25, "mutation_prob": 0.1}
    assert {k: getattr(MOBILENET_PRESETS["paper"], k) for k in shared} == spos
    assert {k: getattr(DARTS_PRESETS["paper"], k) for k in shared} == spos
    tiny = {k: getattr(MOBILENET_PRESETS["tiny"], k) for k in shared}
    assert tiny == {k: getattr(DARTS_PRESETS["tiny"], k) for k in shared} and tiny["population"] == 4
    for overrides, needle in (({"selection": "grid"}, "unknown selection 'grid' -- choose one of: evolution, sample"),
                              ({"n_mutation": "50"}, "exceed the population of 50")):
        with pytest.raises(NasBenchError, match=needle):
            get_mobilenet_preset("paper", overrides)
        with pytest.raises(NasBenchError, match=needle):
            get_darts_preset("paper", overrides)
