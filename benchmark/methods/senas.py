"""SE-NAS (Hu et al., 2021), Algorithm 1 on NB201: train with uniform sampling, score operators (Eq. 7 or
another criterion), remove the k lowest, merge adjacent edges into child spaces of at most T partial
models and give each its own weights, repeat. ``--no-expand`` is the shrink-only ablation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.criteria import CRITERIA, CriterionContext, accuracy_table
from benchmark.data.loader import TensorBatches
from benchmark.errors import NasBenchError
from benchmark.methods.base import OneShotRun
from benchmark.methods.stage import SENASStage
from benchmark.relaxation import RELAXATIONS, require_relaxation
from benchmark.spaces import SPACES
from benchmark.vocabulary import check_normalization


class SENAS(OneShotRun, SENASStage):
    """Shrinking-and-expanding supernet; Eq. 4 weight averaging (K = 5) on by default."""

    method = "senas"
    default_weight_avg_k = 5
    expandable = True

    def validate(self) -> None:
        cfg, p = self.cfg, self.p
        CRITERIA.get(cfg.criterion)
        if cfg.criterion == "magnitude":
            require_relaxation(cfg.space)  # DARTS weights need a relaxation of the space
        check_normalization(cfg.normalization)
        self.check_criterion()
        removable = SPACES.get(cfg.space).build().removable()  # NB201: 6 edges x (5 - 1)
        if p.remove_per_stage * p.stages > removable:
            raise NasBenchError(
                f"k={p.remove_per_stage} operations per stage x {p.stages} stages exceeds the {removable} "
                "that can be removed while keeping one operation per edge",
                f"set remove_per_stage <= {removable // p.stages}")

    def setup(self) -> None:
        super().setup()
        self.relaxation = None
        if self.cfg.criterion == "magnitude":
            cfg, p, d = self.cfg, self.p, self.data
            self.relaxation = RELAXATIONS.get(cfg.space)(self.space, self.support.datasets[cfg.dataset], p.C, p.N, p,
                                                         self.device, cfg.seed)
            # alpha steps read the validation split, shuffled and augmented like NB201's DARTS search loader
            self._darts_val = TensorBatches(d.val_x.to(self.device), d.val_y.to(self.device), d.mean, d.std,
                                            p.batch_size, shuffle=True, augment=True, seed=cfg.seed + 1)

    def _darts_val_batches(self, epoch: int) -> TensorBatches:
        self._darts_val.set_epoch(epoch)
        return self._darts_val

    # ------------------------------------------------------------------ Algorithm 1, lines 2-7
    def gt_table(self) -> np.ndarray:
        """Ground truth of the full space as an array (for the ``groundtruth`` oracle criterion)."""
        if not hasattr(self, "_gt_table"):
            fmt = self.support.format_arch
            archs = [fmt(a) for a in SPACES.get(self.cfg.space).build().enumerate()]
            lookup = dict(zip(archs, self.gt.accuracies(archs, self.cfg.dataset)))
            self._gt_table = accuracy_table(self.space, lambda a: lookup[fmt(a)])
        return self._gt_table

    def end_of_stage(self, stage: int) -> None:
        if self.stage_k() == 0:
            return
        if self.relaxation is not None:  # DARTS trains as many epochs as the supernet did this stage
            log = self.relaxation.train_epochs(self.p.epochs_per_stage, self._epoch_batches, self._darts_val_batches)
            self.log(f"stage {stage}: DARTS relaxation {log[-1]}")
        self.senas_stage(stage)

    def stage_context(self, stage: int) -> CriterionContext:
        return CriterionContext(evaluate=lambda archs: self.evaluate(archs, f"scoring stage {stage}"),
                                gt_accuracy=self.gt_table() if self.cfg.criterion == "groundtruth" else None,
                                seed=self.cfg.seed * 1000 + stage, relaxation=self.relaxation)

    def operator_row(self, stage: int, row: Any) -> dict[str, Any]:
        """The stage's row beside the operation's ground-truth score and rank (SE-NAS Fig. 6)."""
        if not hasattr(self, "_gt_ops"):
            gt_ops = self.gt.operation_scores(self.cfg.dataset)
            self._gt_ops = {(int(r.edge), r.op): (float(r.score), int(r.rank)) for r in gt_ops.itertuples()}
        gt_score, gt_rank = self._gt_ops[int(row.slot), row.op]
        return {"stage": stage, "edge": int(row.slot), "op": row.op, "score": float(row.score),
                "removed": bool(row.removed), "gt_score": gt_score, "gt_rank": gt_rank}

    def report_stage(self, stage: int, scores: Any, removed: list[str], groups_before: int) -> None:
        self.log(f"stage {stage}: removed {', '.join(removed)}; space size now {self.space.size()}")
        if self.cfg.expand:
            self.log(f"stage {stage}: child spaces {self.model.groups} "
                     f"({len(self.model.copies)} copied edge operations)")

    # ------------------------------------------------------------------ resume
    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"groups": [list(g) for g in self.model.groups]}
        if self.relaxation is not None:
            state["relaxation"] = self.relaxation.state_dict()
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.rebuild_copies(state.get("groups", []))
        if self.relaxation is not None:
            self.relaxation.load_state_dict(state["relaxation"])

    def extra_result(self) -> dict[str, Any]:
        return {"criterion": self.cfg.criterion, "normalization": self.cfg.normalization,
                "expand": self.cfg.expand, "child_spaces": [list(g) for g in self.model.groups],
                "stages": self.p.stages, "removed_per_stage": self.p.remove_per_stage}
