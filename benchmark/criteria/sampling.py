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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.criteria.base import Criterion, CriterionContext, Evaluator
from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch, SearchSpace

SHARING: tuple[str, ...] = ("fair", "independent", "exhaustive")
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


class SampledCriterion(Criterion):
    """A criterion estimated from evaluated samples: >= ``M`` per op, shared as ``sharing`` says."""

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

    def samples(self, space: SearchSpace, ctx: CriterionContext) -> pd.DataFrame:
        """The evaluated samples of this criterion's scheme (see :func:`draw_samples`)."""
        assert ctx.evaluate is not None
        return draw_samples(space, ctx.evaluate, self.sharing, self.M, self.batch_size, ctx.seed)
