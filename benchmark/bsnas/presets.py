"""Presets of the BS-NAS ImageNet search and retraining (BS-NAS Sec. 4.1 "Training Details").

``paper``: SGD momentum 0.9, linear warm-up over 5 epochs then one cosine cycle, lr 0.045, weight decay
4e-5, batch 512; step-shrinking with T_f = 120, T_i = 40, N_r = 18, 9, 5, 3, M = 200 (240 epochs in all);
50,000 held-out training images; supernet accuracy without BatchNorm recalibration; evolution with
P = 75, 20 iterations, k = 10, 25 crossover and 25 mutation children, rho = 0.1; FLOPs budgets 470M and
615M (BS-NAS-A, 465M, and BS-NAS-B, 613M, of Table 2); stand-alone retraining with the supernet's
hyperparameters. Values the paper does not give are marked "ours" here and in ``docs/bsnas.md``.
``tiny`` runs the same pipeline on a generated folder on CPU in about a minute (all widths x 0.25, 32 px).

Every value can be overridden (``--set key=value``); the resolved preset is stored with each run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.errors import NasBenchError
from benchmark.imagenet.presets import ImageNetSearchPreset
from benchmark.presets_base import WarmupPreset
from benchmark.search.selection import EvolutionPreset
from benchmark.settings import check_positive, check_ranges, resolve_preset
from benchmark.spaces.mobilenet_bsnas import TABLE1, Cluster, SpringConfig


@dataclass(frozen=True)
class BSNASPreset(EvolutionPreset, WarmupPreset, ImageNetSearchPreset):
    """All knobs of one BS-NAS ImageNet search or retraining; what the MobileNet search shares is
    :class:`ImageNetSearchPreset`'s (``width_mult`` scales every width of Table 1; ``n_val``: Sec. 4.1's 50
    held-out images per class; ``retrain_epochs``: ours, the paper gives no stand-alone epoch count, so the
    supernet's 240), the evolution's settings :class:`EvolutionPreset`'s, the linear warm-up before the cosine
    cycle (Sec. 4.1) :class:`WarmupPreset`'s."""

    # optimiser and schedule (Sec. 4.1)
    batch_size: int = 512  # global, over all processes
    lr: float = 0.045
    # step-shrinking (Sec. 3.2, Algorithm 1)
    keep: tuple[int, ...] = (18, 9, 5, 3)  # N_r before the first step (= O_N), then after each step
    first_epochs: int = 120  # T_f
    interval: int = 40  # T_i
    samples_per_op: int = 200  # M
    # supernet accuracy: the paper evaluates without recalculating BatchNorm statistics (Sec. 3.3, 4.3)
    bn_eval: str = "tracked"  # or recalibrate (SPOS-style, on recal_images): benchmark.vocabulary
    fig5_samples: int = 20  # architectures drawn from the final space for Fig. 5 (Sec. 4.3: 20)
    # evolutionary search (Sec. 3.3) under FLOPs budgets
    budgets_m: tuple[float, ...] = (470.0, 615.0)
    budget_tolerance: float = 0.05  # window [b * (1 - tol), b] per budget (ours)
    population: int = 75

    @property
    def search_epochs(self) -> int:
        return self.first_epochs + (len(self.keep) - 1) * self.interval

    def spring_config(self) -> SpringConfig:
        """Table 1 with every width scaled by ``width_mult`` (rounded, at least 1)."""
        def w(x: int) -> int:
            return max(1, round(x * self.width_mult))

        clusters = tuple(Cluster(tuple(w(c) for c in cl.widths), cl.blocks, cl.stride) for cl in TABLE1)
        return SpringConfig(clusters, stem=w(32), separable=w(16), last=w(1280))


PRESETS: dict[str, BSNASPreset] = {
    "paper": BSNASPreset(name="paper"),
    "tiny": BSNASPreset(
        name="tiny", width_mult=0.25, input_size=32, eval_resize=36, n_val=6, workers=0, batch_size=6, lr=0.1,
        warmup_epochs=1, first_epochs=1, interval=1, samples_per_op=1, score_images=6, recal_images=6,
        eval_batch_size=6, fig5_samples=4, budgets_m=(0.95, 1.25), budget_tolerance=0.3, population=8,
        iterations=2, topk=3, n_crossover=2, n_mutation=2, retrain_epochs=1, log_every=1),
}


def get_preset(name: str, overrides: Mapping[str, Any] | None = None) -> BSNASPreset:
    """A named preset with ``key=value`` overrides applied and checked."""
    return resolve_preset(PRESETS, name, overrides, validate, "BS-NAS preset")


def validate(p: BSNASPreset) -> None:
    """Refuse impossible settings before anything runs (the N_r schedule is checked against the space by
    :meth:`benchmark.bsnas.step_shrinking.ShrinkSchedule.check`)."""
    p.check_evolution()  # the evolutionary search's own checks
    check_ranges(p)
    p.check_imagenet()
    check_positive(p, ("first_epochs", "interval", "samples_per_op", "fig5_samples"))
    if p.warmup_epochs < 0:
        raise NasBenchError(f"warmup_epochs must be >= 0, got {p.warmup_epochs}", "fix it with --set")
    if p.warmup_epochs > p.search_epochs:
        raise NasBenchError(f"warmup_epochs {p.warmup_epochs} exceeds the {p.search_epochs} search epochs",
                            "use fewer warm-up epochs")
