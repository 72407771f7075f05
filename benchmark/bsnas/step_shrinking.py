"""BS-NAS step-shrinking training (Sec. 3.2, Algorithm 1), the parts every supernet shares.

Train T_f epochs with fair sampling (FairNAS strict fairness, BS-NAS's reference [8]: each batch trains one fair
group of L paths, gradients summed, one update; :func:`benchmark.training.group_step`); then every T_i epochs sample N_r x M architectures by fair sampling
(each operation at least M times), evaluate them, rate every operation by R_i (Eq. 1,
:func:`benchmark.criteria.bsnas.bsnas_rating`), reduce N_r and keep, per layer, the best N_r operations
with a positive rating, at least one (:func:`benchmark.shrinking.step_shrink`). After the last step the
supernet trains T_i more epochs. Paper schedule: N_r = 18, 9, 5, 3; T_f = 120; T_i = 40; M = 200.

In a :class:`~benchmark.spaces.mobilenet_bsnas.SpringSpace` the kept operations of a cluster's blocks
must also share a width (:meth:`SpringSpace.consistent_keep`), and fair groups keep it shared.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from benchmark.criteria.bsnas import bsnas_rating
from benchmark.criteria.sampling import evaluate_archs, fair_groups
from benchmark.errors import NasBenchError
from benchmark.samplers import FairSampler, Sampler
from benchmark.shrinking import step_shrink
from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.mobilenet_bsnas import SpringSpace

Evaluator = Callable[[list[Arch]], np.ndarray]


@dataclass(frozen=True)
class ShrinkSchedule:
    """Algorithm 1's schedule: ``keep`` = N_r before the first step (= O_N, line 1) and after each step;
    ``first_epochs`` = T_f, ``interval`` = T_i, ``M`` = samples per operation."""

    keep: tuple[int, ...]
    first_epochs: int
    interval: int
    M: int = 200

    @property
    def steps(self) -> int:
        return len(self.keep) - 1

    @property
    def total_epochs(self) -> int:
        """T_f + steps x T_i (paper: 120 + 3 x 40 = 240)."""
        return self.first_epochs + self.steps * self.interval

    def step_epochs(self) -> tuple[int, ...]:
        """The epochs after which the shrinking steps 1, 2, ... happen (paper: 120, 160, 200)."""
        return tuple(self.first_epochs + i * self.interval for i in range(self.steps))

    def check(self, space: SearchSpace) -> None:
        """One-line errors, before training, for a schedule ``space`` cannot follow."""
        keep = self.keep
        for name, value in (("T_f", self.first_epochs), ("T_i", self.interval), ("M", self.M)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NasBenchError(f"step-shrinking {name}={value!r} is invalid", f"use an integer {name} >= 1")
        if not keep or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in keep):
            raise NasBenchError(f"N_r schedule {list(keep)} must list positive integers",
                                "give e.g. 18,9,5,3 (N_r before the first step, then after each step)")
        ops = max(len(a) for a in space.alive)
        if keep[0] != ops:
            verb = "exceeds" if keep[0] > ops else "is below"
            raise NasBenchError(
                f"N_r schedule {list(keep)} starts at {keep[0]}, which {verb} the {ops} operations per layer of "
                f"{space.name}", f"start the schedule at N_r = O_N = {ops} (Algorithm 1, line 1)")
        rising = [(a, b) for a, b in zip(keep, keep[1:]) if b >= a]
        if rising:
            raise NasBenchError(f"N_r schedule {list(keep)} does not decrease ({rising[0][0]} -> {rising[0][1]})",
                                "give a strictly decreasing N_r per shrinking step")


def fair_archs(space: SearchSpace, M: int, seed: int) -> list[Arch]:
    """M fair groups: N_r x M architectures in which every alive operation appears at least M times."""
    if isinstance(space, SpringSpace):
        rng = random.Random(seed)
        return [a for _ in range(M) for a in space.fair_group(rng)]
    return fair_groups(space, M, np.random.default_rng(seed))


class SpringFairSampler(FairSampler):
    """FairNAS strict-fair training sampler whose groups keep every cluster's width shared: each batch trains
    one :meth:`SpringSpace.fair_group` (18 paths in the full Table 1 space) with summed gradients and one
    update (FairNAS Algorithm 1)."""

    def next_group(self) -> list[Arch]:
        return self.space.fair_group(self.rng)


def fair_sampler(space: SearchSpace, seed: int) -> Sampler:
    """The fair training sampler of Algorithm 1, line 2, for ``space``: one strict-fair group per batch."""
    return SpringFairSampler(space, seed) if isinstance(space, SpringSpace) else FairSampler(space, seed)


@dataclass
class StepResult:
    """One shrinking step: the evaluated architectures and the R_i table with ``removed``."""

    archs: list[Arch]
    acc: np.ndarray
    ratings: pd.DataFrame
    n_evaluations: int


def rate(space: SearchSpace, evaluate: Evaluator, M: int, seed: int, batch_size: int = 256
         ) -> tuple[list[Arch], np.ndarray, pd.DataFrame, int]:
    """Algorithm 1, lines 5-12: fair samples, their accuracies, R_i (Eq. 1) of every alive operation and
    the number of distinct architectures evaluated."""
    archs = fair_archs(space, M, seed)
    acc, n_evaluations = evaluate_archs(evaluate, archs, batch_size)
    n = space.num_slots
    samples = pd.DataFrame({"sample": np.repeat(np.arange(len(archs)), n),
                            "slot": np.tile(np.arange(n), len(archs)),
                            "op": [op for a in archs for op in a],
                            "acc": np.repeat(acc, n)})
    return archs, acc, bsnas_rating(space, samples), n_evaluations


def keep_best(space: SearchSpace, ratings: pd.DataFrame, keep_n: int) -> pd.DataFrame:
    """Algorithm 1, lines 10-16: keep the best ``keep_n`` operations with positive R_i per layer (at least
    one), widths kept shared in a spring space; in place. Returns ``ratings`` with ``score`` (= R) and
    ``removed``."""
    scores = ratings.assign(score=ratings["R"])
    selection = SearchSpace(space.name, space.slots, space.choices, list(space.alive))
    record = step_shrink(selection, scores, keep_n)
    keep = [list(ops) for ops in selection.alive]
    if isinstance(space, SpringSpace):
        keep = space.consistent_keep(keep, dict(zip(zip(record["slot"], record["op"]), record["score"])))
    space.restrict(keep)
    record["removed"] = [op not in space.alive[s] for s, op in zip(record["slot"], record["op"])]
    return record


def shrinking_step(space: SearchSpace, evaluate: Evaluator, keep_n: int, M: int, seed: int,
                   batch_size: int = 256) -> StepResult:
    """One step of Algorithm 1 (lines 4-16) on ``space``, in place. Layers may already hold fewer than
    ``keep_n`` operations (earlier steps keep only positive ratings); the step rates them all the same."""
    archs, acc, ratings, n_evaluations = rate(space, evaluate, M, seed, batch_size)
    return StepResult(archs, acc, keep_best(space, ratings, keep_n), n_evaluations)


def sample_rows(archs: list[Arch], acc: np.ndarray, *, step: int, epoch: int, phase: str, space_size: int,
                fmt: Callable[[Arch], str]) -> list[dict]:
    """Rows of ``samples.parquet`` (Fig. 5): ``step`` = shrinking steps applied before evaluation."""
    return [{"step": step, "epoch": epoch, "phase": phase, "arch": fmt(a), "acc": float(x),
             "space_size": space_size} for a, x in zip(archs, acc)]


SAMPLE_COLUMNS = ["step", "epoch", "phase", "arch", "acc", "space_size"]
