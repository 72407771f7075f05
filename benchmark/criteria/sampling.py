"""Sampling and evaluating the architectures behind SI (SE-NAS Eq. 5) and R_i (BS-NAS Eq. 1).

Three sharing schemes decide which architectures are evaluated and which (slot, op) estimates each
one counts for (the reasoning is in docs/criteria.md):

- ``fair``: M groups of L = max_e |alive_e| architectures. In a group, slot e's column is the first
  L entries of ceil(L/n_e) independent uniform permutations of its n_e alive ops (each op used
  floor(L/n_e) or ceil(L/n_e) times); columns are drawn independently. Every architecture counts
  for the op it holds in *every* slot, so each op gets >= M samples (exactly M in the largest
  slots) for M*L evaluations.
- ``independent``: Eq. 5 literally: M architectures per (slot, op), uniform given that op, each
  counting only for its own pair; M * sum_e |alive_e| evaluations.
- ``exhaustive``: every alive architecture once, counting for all its ops; SI is then exact.

Inside a FLOPs window (``ctx.window``, SE-NAS Sec. 4.3: "SE-NAS dumps models that don't satisfy FLOPs
constraint") samples are drawn only among the window's architectures, by :func:`window_samples`:

- ``shared``: M x L architectures uniform in the window; each counts for every operation it holds (a
  uniform window draw holding o in slot e is a uniform draw of Eq. 5's set for (e, o)); pairs left with
  fewer than M are topped up with conditioned draws that count for their pair only.
- ``independent``: Eq. 5 literally: M window architectures per (slot, op) holding it, each counting for
  that pair only.

An operation no architecture of the window can hold has no Eq. 5 mean: it scores -inf and is removed
first; if that leaves a single feasible operation in its slot, that one scores +inf (it is the slot's only
way to meet the budget).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from benchmark.criteria.base import Criterion, CriterionContext, Evaluator, pairs_frame
from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch, SearchSpace

if TYPE_CHECKING:
    from benchmark.search.constrained_sampling import WindowSampler

SHARING: tuple[str, ...] = ("fair", "independent", "exhaustive", "shared")
UNWINDOWED: tuple[str, ...] = ("fair", "independent", "exhaustive")  # schemes over the whole alive space
WINDOWED: tuple[str, ...] = ("shared", "independent")  # schemes inside a FLOPs window
EXHAUSTIVE_LIMIT = 100_000


def _arrangements(n: int, length: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """``groups`` rows of ``length`` indices into n ops: ceil(length/n) uniform permutations, cut."""
    reps = -(-length // n)
    return np.argsort(rng.random((groups, reps, n)), axis=2).reshape(groups, reps * n)[:, :length]


def fair_groups(space: SearchSpace, M: int, rng: np.random.Generator) -> list[Arch]:
    """M groups of L architectures, group-major; each architecture is uniform over the alive space."""
    L = max(len(ops) for ops in space.alive)
    columns = [_arrangements(len(ops), L, M, rng).reshape(-1) for ops in space.alive]
    return [tuple(space.alive[s][i] for s, i in enumerate(row)) for row in zip(*columns)]


def independent_samples(
    space: SearchSpace, M: int, rng: np.random.Generator
) -> tuple[list[Arch], list[tuple[int, str]]]:
    """M architectures per alive (slot, op), uniform over those holding it (Eq. 5), and that pair."""
    archs: list[Arch] = []
    targets: list[tuple[int, str]] = []
    for slot, op in space.alive_pairs():
        picks = [rng.integers(len(ops), size=M) for ops in space.alive]
        for row in zip(*picks):
            arch = [space.alive[s][i] for s, i in enumerate(row)]
            arch[slot] = op
            archs.append(tuple(arch))
            targets.append((slot, op))
    return archs, targets


def evaluate_archs(evaluate: Evaluator, archs: list[Arch], batch_size: int) -> tuple[np.ndarray, int]:
    """P(a) of every architecture, each distinct one evaluated once, in batches: (acc, n_distinct)."""
    unique = list(dict.fromkeys(archs))
    parts = []
    for start in range(0, len(unique), batch_size):
        batch = unique[start : start + batch_size]
        acc = np.asarray(evaluate(batch), dtype=float)
        if acc.shape != (len(batch),):
            raise NasBenchError(
                f"the evaluator returned shape {acc.shape} for {len(batch)} architectures",
                "return a 1-D array with one accuracy per architecture",
            )
        if not np.all(np.isfinite(acc)) or np.any(acc < 0):
            raise NasBenchError(
                "the evaluator returned a negative or non-finite accuracy", "return accuracies >= 0"
            )
        parts.append(acc)
    table = np.concatenate(parts)
    where = {a: i for i, a in enumerate(unique)}
    return table[[where[a] for a in archs]], len(unique)


def draw_samples(
    space: SearchSpace, evaluate: Evaluator, sharing: str, M: int, batch_size: int, seed: int
) -> pd.DataFrame:
    """Evaluated samples as rows (sample, slot, op, acc): one per (architecture, pair it counts for).

    ``attrs["n_evaluations"]`` holds the number of distinct architectures passed to ``evaluate``.
    """
    rng = np.random.default_rng(seed)
    if sharing == "independent":
        archs, targets = independent_samples(space, M, rng)
        ids = list(range(len(archs)))
    else:
        if sharing == "exhaustive" and space.size() > EXHAUSTIVE_LIMIT:
            raise NasBenchError(
                f"sharing='exhaustive' would evaluate {space.size()} architectures (> {EXHAUSTIVE_LIMIT})",
                "use sharing='fair'",
            )
        archs = list(space.enumerate()) if sharing == "exhaustive" else fair_groups(space, M, rng)
        targets = [(s, op) for a in archs for s, op in enumerate(a)]
        ids = [i for i in range(len(archs)) for _ in range(space.num_slots)]
    acc, n_evaluations = evaluate_archs(evaluate, archs, batch_size)
    frame = pd.DataFrame(
        {"sample": ids, "slot": [s for s, _ in targets], "op": [o for _, o in targets], "acc": acc[ids]}
    )
    frame.attrs["n_evaluations"] = n_evaluations
    return frame


def window_samples(space: SearchSpace, window: WindowSampler, M: int, sharing: str, rng: np.random.Generator
                   ) -> tuple[list[Arch], list[tuple[int, int, str]], set[tuple[int, str]]]:
    """Architectures of the window to evaluate, (sample, slot, op) rows saying which pairs each counts for,
    and the feasible pairs (some window architecture holds them)."""
    feasible = {(s, op) for s, op in space.alive_pairs() if window.feasible(s, op, rng)}
    archs: list[Arch] = []
    rows: list[tuple[int, int, str]] = []
    counts = dict.fromkeys(feasible, 0)
    if sharing == "shared":
        width = max(len(ops) for ops in space.alive)
        for arch in window.sample(M * width, rng):
            for s, op in enumerate(arch):
                rows.append((len(archs), s, op))
                counts[s, op] += 1
            archs.append(arch)
    for s, op in sorted(feasible, key=lambda p: (p[0], space.alive[p[0]].index(p[1]))):
        missing = M - counts[s, op]
        if missing > 0:
            for arch in window.sample_containing(s, op, missing, rng):
                rows.append((len(archs), s, op))
                archs.append(arch)
    return archs, rows, feasible


class SampledCriterion(Criterion):
    """A criterion estimated from evaluated samples: >= ``M`` per op, shared as ``sharing`` says.

    Subclasses turn the samples into scores (:meth:`from_samples`); those that set ``windowed`` can also
    score inside a FLOPs window (``ctx.window``; the window's schemes ``shared`` or ``independent``).
    """

    needs = ("evaluate",)
    options = ("M", "sharing", "batch_size")

    def __init__(self, M: int = 100, sharing: str = "fair", batch_size: int = 256):
        if not isinstance(M, int) or M < 1:
            raise NasBenchError(f"M={M!r} samples per operation is invalid", "use an integer M >= 1")
        if sharing not in SHARING:
            raise NasBenchError(f"unknown sharing {sharing!r}", f"choose one of: {', '.join(SHARING)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise NasBenchError(f"batch_size={batch_size!r} is invalid", "use an integer batch_size >= 1")
        self.M = M
        self.sharing = sharing
        self.batch_size = batch_size

    @abstractmethod
    def from_samples(self, space: SearchSpace, samples: pd.DataFrame) -> pd.DataFrame:
        """The score table of ``space`` from evaluated samples (rows sample, slot, op, acc)."""

    def _score(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        if ctx.window is not None:
            return self.window_scores(space, ctx)
        self.check_sharing(UNWINDOWED, "over the whole space")
        samples = self.samples(space, ctx)
        frame = self.from_samples(space, samples)
        frame.attrs["n_evaluations"] = samples.attrs["n_evaluations"]
        return frame

    def check_sharing(self, allowed: tuple[str, ...], where: str) -> None:
        """Refuse a sharing scheme that cannot be drawn ``where``."""
        if self.sharing not in allowed:
            raise NasBenchError(f"sharing {self.sharing!r} cannot be drawn {where}",
                                f"choose one of: {', '.join(allowed)}")

    def samples(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        """The evaluated samples of this criterion's scheme (see :func:`draw_samples`)."""
        assert ctx.evaluate is not None
        return draw_samples(space, ctx.evaluate, self.sharing, self.M, self.batch_size, ctx.seed)

    def window_scores(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        """Scores from samples inside ``ctx.window`` (:func:`window_samples`): one row per alive pair with
        ``score``, ``SI``, ``SC`` (Eq. 6), ``n_samples`` and ``feasible``; infeasible pairs score -inf, a
        slot's lone feasible operation +inf."""
        assert ctx.evaluate is not None and ctx.window is not None
        self.check_sharing(WINDOWED, "inside a FLOPs window")
        archs, rows, feasible = window_samples(space, ctx.window, self.M, self.sharing,
                                               np.random.default_rng(ctx.seed))
        acc, n_evaluations = evaluate_archs(ctx.evaluate, archs, self.batch_size)
        samples = pd.DataFrame({"sample": [r[0] for r in rows], "slot": [r[1] for r in rows],
                                "op": [r[2] for r in rows], "acc": acc[[r[0] for r in rows]]})
        alive = [tuple(op for op in ops if (s, op) in feasible) for s, ops in enumerate(space.alive)]
        # a window architecture's operations are all feasible: score the feasible part of the space
        scored = self.from_samples(SearchSpace(space.name, space.slots, space.choices, alive), samples)
        frame = pairs_frame(space).merge(scored, on=["slot", "op"], how="left")
        frame["feasible"] = [(s, op) in feasible for s, op in zip(frame["slot"], frame["op"])]
        frame["n_samples"] = frame["n_samples"].fillna(0).astype(int)
        multi = np.array([len(space.alive[s]) > 1 for s in frame["slot"]])
        lone = np.array([len(alive[s]) == 1 for s in frame["slot"]])
        frame.loc[~frame["feasible"] & multi, "score"] = -np.inf
        frame.loc[frame["feasible"].to_numpy() & lone & multi, "score"] = np.inf
        frame = frame[["slot", "op", "score", *(c for c in scored.columns if c not in ("slot", "op", "score")),
                       "feasible"]]
        frame.attrs["n_evaluations"] = n_evaluations
        return frame
