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

from dataclasses import dataclass
from typing import Any

from benchmark.errors import NasBenchError
from benchmark.search.selection import SelectionPreset
from benchmark.settings import check_ranges, named_preset, parse_overrides
from benchmark.vocabulary import BN_POLICIES, check_bn_eval

SHARINGS = ("shared", "independent")
CRITERIA = ("senas", "accuracy")
IMAGENET_BN_POLICIES = tuple(p for p in BN_POLICIES if p != "nb201")  # nb201 is NB201's own cell layout


@dataclass(frozen=True)
class MobileNetPreset(SelectionPreset):
    """All knobs of one MobileNet-like search or retraining run; the final selection's (``selection``,
    ``selection_samples`` and SPOS's evolution settings) are :class:`SelectionPreset`'s."""

    name: str
    # network and data
    width_mult: float = 1.0
    input_size: int = 224
    eval_resize: int = 256
    n_val: int = 50000  # held-out training images for the search (Sec. 4.3)
    max_train_images: int | None = None  # a seeded subset of the training images (None: all)
    workers: int = 8  # loader processes per training process (ours)
    # optimiser and schedule (Sec. 4.3)
    batch_size: int = 1024  # global, over all processes
    lr: float = 0.5
    momentum: float = 0.9
    weight_decay: float = 4e-5
    first_stage_epochs: int = 100
    later_stage_epochs: int = 5
    stages: int = 10  # ours: the paper does not give the number of shrinking cycles
    # shrinking and expanding (Algorithm 1)
    remove_per_stage: int = 10  # k; the FairNAS variant removes one per layer instead
    merge_threshold: int = 50  # T
    criterion_samples: int = 1000  # M of Eq. 5: sampled architectures per operation
    sharing: str = "shared"  # 'shared' or 'independent' (see benchmark/imagenet/scoring.py)
    # supernet accuracy P(a): BatchNorm recalibrated on training images, then held-out images (SPOS)
    bn_eval: str = "recalibrate"  # or tracked, batch (benchmark.vocabulary)
    recal_images: int = 10240  # ours (SPOS: 20,000)
    score_images: int = 10000  # ours: a fixed part of the held-out images, decoded once
    eval_batch_size: int = 512
    # FLOPs budgets (Table 4) and the final selection
    budgets_m: tuple[float, ...] = (250.0, 321.0, 470.0, 592.0)
    budget_tolerance: float = 0.02  # window [b * (1 - tol), b] per budget (ours)
    train_in_window: bool = True  # supernet training samples inside the union of the budget windows
    # retraining
    retrain_epochs: int = 240
    label_smoothing: float = 0.0
    ema_decay: float = 0.0  # 0 = off
    log_every: int = 50

    @property
    def search_epochs(self) -> int:
        return self.first_stage_epochs + (self.stages - 1) * self.later_stage_epochs

    def stage_of_epoch(self, epoch: int) -> int:
        """0-based stage of 0-based ``epoch``."""
        if epoch < self.first_stage_epochs:
            return 0
        return 1 + (epoch - self.first_stage_epochs) // self.later_stage_epochs

    def is_stage_end(self, epoch: int) -> bool:
        """Whether 0-based ``epoch`` is the last epoch of its stage."""
        return self.stage_of_epoch(epoch + 1) != self.stage_of_epoch(epoch) or epoch + 1 == self.search_epochs


PRESETS: dict[str, MobileNetPreset] = {
    "paper": MobileNetPreset(name="paper"),
    "tiny": MobileNetPreset(
        name="tiny", width_mult=0.25, input_size=32, eval_resize=36, n_val=8, workers=0, batch_size=8,
        lr=0.1, first_stage_epochs=1, later_stage_epochs=1, stages=2, remove_per_stage=10, merge_threshold=50,
        criterion_samples=2, recal_images=8, score_images=8, eval_batch_size=8, budgets_m=(1.0, 1.5),
        budget_tolerance=0.1, selection_samples=4, population=4, iterations=2, topk=2, n_crossover=1,
        n_mutation=1, retrain_epochs=1, log_every=1),
}

def get_preset(name: str, overrides: dict[str, str] | None = None) -> MobileNetPreset:
    """A named preset with ``key=value`` overrides applied and checked."""
    preset = parse_overrides(named_preset(PRESETS, name), overrides)
    validate(preset)
    return preset


def validate_imagenet_run(p: Any, positive: tuple[str, ...]) -> None:
    """The checks every ImageNet search preset needs (MobileNet here, BS-NAS): ``positive`` fields at least
    1, image sizes, FLOPs budgets and their window, retraining's smoothing and EMA, the image subset; every
    number finite and the optimiser's settings within :data:`benchmark.settings.RANGES`."""
    check_ranges(p)
    for key in positive:
        if getattr(p, key) < 1:
            raise NasBenchError(f"{key} must be at least 1, got {getattr(p, key)}",
                                f"set {key} to a positive integer")
    if p.width_mult <= 0 or p.lr <= 0:
        raise NasBenchError("width_mult and lr must be positive", "fix them with --set")
    if p.input_size > p.eval_resize:
        raise NasBenchError(f"input_size {p.input_size} exceeds eval_resize {p.eval_resize}",
                            "use eval_resize >= input_size (256 for 224)")
    if not p.budgets_m or any(b <= 0 for b in p.budgets_m):
        raise NasBenchError(f"FLOPs budgets {list(p.budgets_m)} are invalid", "give positive budgets in M")
    if not 0 <= p.budget_tolerance < 1:
        raise NasBenchError(f"budget_tolerance {p.budget_tolerance} is invalid",
                            "use 0 <= budget_tolerance < 1")
    if not 0 <= p.label_smoothing < 1 or not 0 <= p.ema_decay < 1:
        raise NasBenchError("label_smoothing and ema_decay must lie in [0, 1)", "fix them with --set")
    if p.max_train_images is not None and p.max_train_images < 1:
        raise NasBenchError("max_train_images must be positive or none", "fix it with --set")


def validate(p: MobileNetPreset) -> None:
    """Refuse impossible settings before anything runs."""
    validate_imagenet_run(p, ("input_size", "eval_resize", "n_val", "batch_size", "first_stage_epochs",
                              "later_stage_epochs", "stages", "merge_threshold", "criterion_samples",
                              "recal_images", "score_images", "eval_batch_size", "selection_samples",
                              "retrain_epochs", "log_every"))
    if p.workers < 0 or p.remove_per_stage < 0:
        raise NasBenchError("workers and remove_per_stage must be >= 0", "fix them with --set")
    check_bn_eval(p.bn_eval, True, p.recal_images, IMAGENET_BN_POLICIES)
    if p.sharing not in SHARINGS:
        raise NasBenchError(f"unknown sharing {p.sharing!r}", f"choose one of: {', '.join(SHARINGS)}")
    p.check_selection()
