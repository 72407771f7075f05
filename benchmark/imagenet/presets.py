"""Presets of the MobileNet-like ImageNet search and retraining.

``paper`` follows SE-NAS Sec. 4.3: SGD (momentum 0.9, weight decay 4e-5), global batch 1024, lr 0.5
decayed linearly per iteration, 100 epochs in the first stage and 5 in every later one, 1,000 sampled
architectures per operation (Eq. 5), 10 operations removed per cycle, T = 50 (Sec. 3.4), 50,000 held-out
training images, FLOPs budgets 250/321/470/592M, retraining for 240 epochs. The final selection per budget
is SPOS's evolutionary search (the paper's baseline; its settings are SPOS's: P = 50, 20 iterations,
top-10, 25 crossover and 25 mutation children, rho = 0.1), or ``selection=sample``: the best of
``selection_samples`` uniform window draws. Values the paper does not give are marked "ours" below and
in ``docs/imagenet.md``. ``tiny`` is the same pipeline on a generated folder on CPU in minutes (width
0.25, 32-pixel images; FLOPs budgets in that network's range).

Every value can be overridden (``--set key=value``); the resolved preset is stored with each run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.errors import NasBenchError
from benchmark.presets_base import (
    FirstStagePreset,
    ImageNetTrainingPreset,
    OptimiserPreset,
    SupernetEvaluationPreset,
)
from benchmark.search.selection import SelectionPreset
from benchmark.settings import check_positive, check_ranges, resolve_preset

SHARINGS = ("shared", "independent")


@dataclass(frozen=True)
class ImageNetSearchPreset(SupernetEvaluationPreset, ImageNetTrainingPreset, OptimiserPreset):
    """What the MobileNet-like (SE-NAS Sec. 4.3) and BS-NAS ImageNet searches share: network width and image
    sizes, the optimiser, supernet accuracy P(a) (BatchNorm recalibrated on training images or tracked, then
    held-out images), FLOPs budgets and the retraining (its loader and label smoothing:
    :class:`ImageNetTrainingPreset`'s); the defaults are SE-NAS's."""

    # network and data
    width_mult: float = 1.0  # every width scaled (rounded; 1.0 = the paper's supernet)
    input_size: int = 224
    eval_resize: int = 256
    n_val: int = 50000  # held-out training images for the search (Sec. 4.3)
    max_train_images: int | None = None  # a seeded subset of the training images (None: all)
    weight_decay: float = 4e-5
    # supernet accuracy P(a)
    recal_images: int = 10240  # ours (SPOS: 20,000), with bn_eval=recalibrate
    score_images: int = 10000  # ours: a fixed part of the held-out images, decoded once
    eval_batch_size: int = 512
    # FLOPs budgets (Table 4): window [b * (1 - tol), b] per budget
    budgets_m: tuple[float, ...] = (250.0, 321.0, 470.0, 592.0)
    budget_tolerance: float = 0.02  # ours
    # retraining
    retrain_epochs: int = 240
    ema_decay: float = 0.0  # 0 = off
    log_every: int = 50

    def check_imagenet(self) -> None:
        """The checks every ImageNet search preset needs: sizes, counts and epochs at least 1, the FLOPs
        budgets and their window, retraining's smoothing and EMA, the image subset, the BatchNorm policy
        (running statistics are always tracked)."""
        check_positive(self, ("input_size", "eval_resize", "n_val", "batch_size", "recal_images",
                              "score_images", "eval_batch_size", "retrain_epochs", "log_every"))
        if self.width_mult <= 0 or self.lr <= 0:
            raise NasBenchError("width_mult and lr must be positive", "fix them with --set")
        if self.input_size > self.eval_resize:
            raise NasBenchError(f"input_size {self.input_size} exceeds eval_resize {self.eval_resize}",
                                "use eval_resize >= input_size (256 for 224)")
        if not self.budgets_m or any(b <= 0 for b in self.budgets_m):
            raise NasBenchError(f"FLOPs budgets {list(self.budgets_m)} are invalid",
                                "give positive budgets in M")
        if not 0 <= self.budget_tolerance < 1:
            raise NasBenchError(f"budget_tolerance {self.budget_tolerance} is invalid",
                                "use 0 <= budget_tolerance < 1")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.ema_decay < 1:
            raise NasBenchError("label_smoothing and ema_decay must lie in [0, 1)", "fix them with --set")
        if self.max_train_images is not None and self.max_train_images < 1:
            raise NasBenchError("max_train_images must be positive or none", "fix it with --set")
        if self.workers < 0:
            raise NasBenchError(f"workers must be >= 0, got {self.workers}", "fix it with --set")
        self.check_bn(True, self.recal_images)


@dataclass(frozen=True)
class MobileNetPreset(SelectionPreset, FirstStagePreset, ImageNetSearchPreset):
    """All knobs of one MobileNet-like search or retraining run; the final selection's (``selection``,
    ``selection_samples`` and SPOS's evolution settings) are :class:`SelectionPreset`'s, the SE-NAS schedule's
    (a first stage, then ``epochs_per_stage`` per shrinking cycle) :class:`FirstStagePreset`'s."""

    # optimiser and schedule (Sec. 4.3)
    batch_size: int = 1024  # global, over all processes
    lr: float = 0.5
    first_stage_epochs: int = 100
    epochs_per_stage: int = 5
    stages: int = 10  # ours: the paper does not give the number of shrinking cycles
    # shrinking and expanding (Algorithm 1): the FairNAS variant removes one per layer instead of k
    criterion_samples: int = 1000
    sharing: str = "shared"  # 'shared' or 'independent' (see benchmark/criteria/sampling.py, window samples)
    train_in_window: bool = True  # supernet training samples inside the union of the budget windows

    @property
    def search_epochs(self) -> int:
        return self.first_stage_epochs + (self.stages - 1) * self.epochs_per_stage

    def stage_of_epoch(self, epoch: int) -> int:
        """0-based stage of 0-based ``epoch``."""
        if epoch < self.first_stage_epochs:
            return 0
        return 1 + (epoch - self.first_stage_epochs) // self.epochs_per_stage

    def is_stage_end(self, epoch: int) -> bool:
        """Whether 0-based ``epoch`` is the last epoch of its stage."""
        return self.stage_of_epoch(epoch + 1) != self.stage_of_epoch(epoch) or epoch + 1 == self.search_epochs


PRESETS: dict[str, MobileNetPreset] = {
    "paper": MobileNetPreset(name="paper"),
    "tiny": MobileNetPreset(
        name="tiny", width_mult=0.25, input_size=32, eval_resize=36, n_val=8, workers=0, batch_size=8,
        lr=0.1, first_stage_epochs=1, epochs_per_stage=1, stages=2, remove_per_stage=10, merge_threshold=50,
        criterion_samples=2, recal_images=8, score_images=8, eval_batch_size=8, budgets_m=(1.0, 1.5),
        budget_tolerance=0.1, selection_samples=4, population=4, iterations=2, topk=2, n_crossover=1,
        n_mutation=1, retrain_epochs=1, log_every=1),
}


def get_preset(name: str, overrides: Mapping[str, Any] | None = None) -> MobileNetPreset:
    """A named preset with ``key=value`` overrides applied and checked."""
    return resolve_preset(PRESETS, name, overrides, validate)


def validate(p: MobileNetPreset) -> None:
    """Refuse impossible settings before anything runs."""
    check_ranges(p)  # finite numbers; the optimiser's settings within benchmark.settings.RANGES
    p.check_imagenet()
    p.check_shrinking()
    if p.sharing not in SHARINGS:
        raise NasBenchError(f"unknown sharing {p.sharing!r}", f"choose one of: {', '.join(SHARINGS)}")
    p.check_selection()
