"""Named experiment scales. ``paper`` follows the SE-NAS NB201 settings (Sec. 4.2: 2 stages x 20 epochs,
k = 10, batch 256); ``cpu`` is the real network (C = 16, N = 5) on the shared CIFAR-10 images, 9,000 for
training and 1,000 for validation, sized for about 10-15 minutes a run on 2 CPU cores (docs/cpu-scale.md);
``tiny`` is the same pipeline shrunk to run in minutes on 2 CPU cores.

Every value can be overridden (``--set key=value``); the resolved preset is stored in each ``result.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmark.errors import NasBenchError
from benchmark.settings import check_ranges, named_preset, parse_overrides
from benchmark.vocabulary import check_bn_eval


@dataclass(frozen=True)
class Preset:
    """All knobs of one NB201 one-shot run (network, data, optimiser, schedule, estimation)."""

    name: str
    # network (NB201: C=16, N=5)
    C: int = 16
    N: int = 5
    # data
    split: str = "senas"  # 'senas' (random validation set from train, Sec. 4.1) or 'nb201' (cifar10-valid)
    n_val: int = 5000
    max_train: int | None = None
    max_val: int | None = None
    # optimiser: SGD, nesterov momentum, cosine schedule over all epochs of the run
    batch_size: int = 256
    lr: float = 0.05
    lr_min: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    # schedule: SE-NAS trains `stages` x `epochs_per_stage`; SPOS trains the same total on one supernet
    stages: int = 2
    epochs_per_stage: int = 20
    remove_per_stage: int = 10  # k of Algorithm 1
    merge_threshold: int = 50  # T of Algorithm 1
    tau_epochs: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 35, 40)
    # estimation
    bn_track: bool = False  # track running statistics in the searchable cells while training
    bn_eval: str = "recalibrate"  # 'recalibrate' | 'batch' | 'tracked' | 'nb201' (docs/batchnorm.md)
    eval_autocast: bool = False  # GPU: recalibrate and evaluate under bf16 autocast too (default: fp32)
    recal_batches: int = 20  # training batches used to recalibrate BatchNorm per architecture
    eval_batch_size: int = 1000
    weight_avg_k: int | None = None  # K of Eq. 4 (1 = no averaging; None = the method's default)
    rank_archs: int | None = None  # None = every architecture of the current space, else a seeded sample
    rank_seed: int = 0  # seed of that sample, shared by all runs (the run's own seed does not change it)
    criterion_samples: int = 50  # M of Eq. 5: sampled architectures per operation
    sampler: str = "uniform"

    @property
    def total_epochs(self) -> int:
        return self.stages * self.epochs_per_stage


PRESETS: dict[str, Preset] = {
    "paper": Preset(name="paper"),
    "tiny": Preset(
        name="tiny",
        C=8,
        N=1,
        max_train=2560,
        max_val=250,
        n_val=1000,
        batch_size=128,
        lr=0.1,
        stages=2,
        epochs_per_stage=2,
        remove_per_stage=10,
        merge_threshold=50,
        tau_epochs=(2, 4),
        recal_batches=1,
        eval_batch_size=250,
        rank_archs=60,
        criterion_samples=8,
    ),
    "cpu": Preset(
        name="cpu",
        n_val=1000,
        batch_size=128,
        stages=2,
        epochs_per_stage=3,
        tau_epochs=(3, 6),
        recal_batches=1,
        eval_batch_size=500,
        rank_archs=40,
        criterion_samples=8,
    ),
}

_SPLITS = ("senas", "nb201")


def get_preset(name: str, overrides: dict[str, Any] | None = None) -> Preset:
    """A named preset with ``key=value`` overrides applied and checked."""
    preset = parse_overrides(named_preset(PRESETS, name), overrides)
    validate(preset)
    return preset


def validate(p: Preset) -> None:
    """Refuse impossible settings before anything runs."""
    def bad(msg: str, fix: str) -> None:
        raise NasBenchError(msg, fix)

    check_ranges(p)  # finite numbers; lr, momentum, weight decay, grad_clip within their ranges
    if p.split not in _SPLITS:
        bad(f"unknown split {p.split!r}", f"choose one of: {', '.join(_SPLITS)}")
    if p.weight_avg_k is not None and p.weight_avg_k < 1:
        bad(f"weight_avg_k must be at least 1, got {p.weight_avg_k}", "set weight_avg_k >= 1 (1 = off)")
    for key in ("C", "N", "batch_size", "stages", "epochs_per_stage", "eval_batch_size", "criterion_samples"):
        if getattr(p, key) < 1:
            bad(f"{key} must be at least 1, got {getattr(p, key)}", f"set {key} to a positive integer")
    if p.merge_threshold < 1:
        bad(f"merge threshold T must be at least 1, got {p.merge_threshold}", "set merge_threshold >= 1")
    if p.remove_per_stage < 0:
        bad(f"remove_per_stage must be >= 0, got {p.remove_per_stage}", "set remove_per_stage >= 0")
    if p.recal_batches < 0:
        bad("recal_batches must be >= 0", "set recal_batches >= 0")
    check_bn_eval(p.bn_eval, p.bn_track, p.recal_batches)
    if p.rank_archs is not None and p.rank_archs < 2:
        bad("rank_archs must be at least 2 (Kendall's tau needs two architectures)", "set rank_archs >= 2 or none")
    bad_epochs = [e for e in p.tau_epochs if not 1 <= e <= p.total_epochs]
    if bad_epochs:
        bad(f"tau_epochs {bad_epochs} lie outside 1..{p.total_epochs}", "pick epochs within the run")
    if not 0 < p.lr_min <= p.lr:
        bad(f"need 0 < lr_min <= lr, got lr={p.lr} lr_min={p.lr_min}", "fix the learning rates")
