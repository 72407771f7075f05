"""BS-NAS step-shrinking (Shen et al., Sec. 3.2, Algorithm 1) on NB201, in the shared one-shot pipeline.

The supernet trains with FairNAS strict fairness (Algorithm 1, line 2; the preset's ``sampler`` does not
apply): each batch trains one fair group of L paths (L = the most alive operations of an edge; 5 before the
first step), each forward and backward on that batch, gradients summed and one optimizer step at the step's
cosine learning rate (:func:`benchmark.training.group_step`). Stages are equal, so T_f = T_i = ``epochs_per_stage``; at the end of each stage but the last, N_r x M
fairly sampled architectures (M = ``criterion_samples``) are evaluated, every operation is rated by R_i
(Eq. 1) and each edge keeps its best N_r operations with positive R_i (at least one). NB201 has five
operations per edge, so N_r follows 5, 4, 3, 2 (``NB201_KEEP``): ``stages`` = 4 runs the three steps of
the paper, ``stages`` = 1 trains without shrinking (the baseline of BS-NAS Fig. 5). The last stage trains
the shrunk supernet, then the final space is ranked like every other method. R_i > 0 holds for about half
of the operations, so three steps can leave one architecture; a step that would do so gives back its
best-rated removed operation (recorded as ``kept_for_ranking``), as ranking needs two architectures.

Besides the shared outputs (``result.json``, ``ranking.parquet``, ``tau_curve.parquet``,
``operators.parquet``; ``score`` there is R_i) the run writes ``samples.parquet``: every architecture
evaluated at a shrinking step and every ranked one at the end, with its supernet accuracy (Fig. 5).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchmark.bsnas.step_shrinking import (
    SAMPLE_COLUMNS,
    ShrinkSchedule,
    fair_sampler,
    sample_rows,
    shrinking_step,
)
from benchmark.errors import NasBenchError
from benchmark.io import write_parquet
from benchmark.methods.base import OneShotRun
from benchmark.spaces import SPACES
from benchmark.spaces.nb201 import format_arch, parse_arch

NB201_KEEP: tuple[int, ...] = (5, 4, 3, 2)  # N_r before the first step (O_N = 5 operations per edge), then after each


class BSNAS(OneShotRun):
    """Fair sampling and step-shrinking by R_i; no weight averaging (K = 1), as SPOS."""

    method = "bsnas"
    default_weight_avg_k = 1
    spaces = ("nb201",)  # N_r and the final two-operation rule are NB201's (Sec. 4.1)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.samples: list[dict] = []
        self.steps: list[dict] = []

    def schedule(self) -> ShrinkSchedule:
        """N_r = 5, 4, ... over ``stages``; T_f = T_i = ``epochs_per_stage``; M = ``criterion_samples``."""
        p = self.p
        return ShrinkSchedule(keep=NB201_KEEP[:p.stages], first_epochs=p.epochs_per_stage,
                              interval=p.epochs_per_stage, M=p.criterion_samples)

    def validate(self) -> None:
        if self.p.stages > len(NB201_KEEP):
            raise NasBenchError(
                f"stages={self.p.stages} asks for {self.p.stages - 1} shrinking steps; N_r = "
                f"{', '.join(map(str, NB201_KEEP))} on NB201 allows {len(NB201_KEEP) - 1}",
                f"set stages <= {len(NB201_KEEP)}")
        self.schedule().check(SPACES.get("nb201").build())

    def setup(self) -> None:
        super().setup()
        self.sampler = fair_sampler(self.space, self.cfg.seed)

    # ------------------------------------------------------------------ Algorithm 1, lines 4-16
    def end_of_stage(self, stage: int) -> None:
        schedule = self.schedule()
        if stage > schedule.steps:
            return
        keep_n = schedule.keep[stage]
        size_before = self.space.size()
        step = shrinking_step(self.space, lambda archs: self.evaluate(archs, f"rating step {stage}"), keep_n,
                              schedule.M, seed=self.cfg.seed * 1000 + stage, batch_size=64)
        kept_for_ranking = self._keep_two(step.ratings)
        self.samples += sample_rows(step.archs, step.acc, step=stage - 1, epoch=self.state.epoch, phase="rating",
                                    space_size=size_before, fmt=format_arch)
        gt_ops = self.gt.operation_scores(self.cfg.dataset)
        gt_score = {(int(r.edge), r.op): float(r.score) for r in gt_ops.itertuples()}
        gt_rank = {(int(r.edge), r.op): int(r.rank) for r in gt_ops.itertuples()}
        for r in step.ratings.itertuples():
            key = (int(r.slot), r.op)
            self.state.operator_rows.append({
                "stage": stage, "edge": int(r.slot), "op": r.op, "score": float(r.score),
                "removed": bool(r.removed), "gt_score": gt_score[key], "gt_rank": gt_rank[key]})
        self.steps.append({"step": stage, "epoch": self.state.epoch, "N_r": keep_n,
                           "n_evaluations": step.n_evaluations, "space_size": self.space.size(),
                           "kept_for_ranking": kept_for_ranking})
        removed = [f"{self.space.slots[int(r.slot)]}:{r.op}" for r in step.ratings.itertuples() if r.removed]
        self.log(f"shrinking step {stage} (N_r={keep_n}): removed {', '.join(removed) or 'nothing'}; "
                 f"space size now {self.space.size()}")
        self.sampler.space_changed()

    def _keep_two(self, ratings: pd.DataFrame) -> str | None:
        """If the step left a single architecture, give back the removed operation with the highest R_i
        (ties: lower edge, canonical order) so the final space can still be ranked; in place."""
        if self.space.size() >= 2:
            return None
        removed = ratings[ratings["removed"]]
        back = removed.sort_values("score", ascending=False, kind="stable").index[0]
        slot, op = int(ratings.at[back, "slot"]), ratings.at[back, "op"]
        alive = [list(ops) for ops in self.space.alive]
        alive[slot].append(op)
        self.space.restrict(alive)
        ratings.loc[back, "removed"] = False
        return f"{self.space.slots[slot]}:{op}"

    # ------------------------------------------------------------------ resume and outputs
    def extra_state(self) -> dict[str, Any]:
        return {"samples": self.samples, "steps": self.steps}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.samples = list(state.get("samples", []))
        self.steps = list(state.get("steps", []))

    def write_outputs(self, ranking: pd.DataFrame) -> dict[str, Any]:
        final = sample_rows([parse_arch(a) for a in ranking["arch"]], ranking["supernet_acc"].to_numpy(),
                            step=self.schedule().steps, epoch=self.state.epoch, phase="final",
                            space_size=self.space.size(), fmt=format_arch)
        write_parquet(self.out / "samples.parquet", pd.DataFrame(self.samples + final, columns=SAMPLE_COLUMNS))
        return super().write_outputs(ranking)

    def extra_result(self) -> dict[str, Any]:
        s = self.schedule()
        return {"sampler": "fair", "schedule": {"N_r": list(s.keep), "T_f": s.first_epochs, "T_i": s.interval,
                                                "M": s.M}, "shrinking_steps": self.steps}
