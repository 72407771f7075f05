"""Presets of the DARTS driver: the SE-NAS search on CIFAR-10 and the ImageNet retraining of a genotype.

``paper`` follows SE-NAS Sec. 4.3 for the search (first stage 200 epochs, 5 per later stage, 10
operations removed per cycle, edge-wise spaces, T = 50) and P-DARTS Sec. 4.3 for the ImageNet retraining
(14 cells, C = 48, 250 epochs, batch 1024, lr 0.5 decayed linearly per epoch with 5 warm-up epochs,
weight decay 3e-5, label smoothing 0.1, auxiliary head weighted 0.4, mobile setting under 600M
multiply-accumulates). The search's final selection is SPOS's evolution under the FLOPs budget
(``selection=evolution``; ``sample``: the best of ``selection_samples`` sampled paths), with the MobileNet
search's fields and settings (:class:`benchmark.search.selection.SelectionPreset`). What the papers leave
open is marked "our choice". ``tiny`` runs the same code in seconds on a CPU. Every value can be overridden with ``--set key=value``; the resolved preset is stored
in each ``result.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.errors import NasBenchError
from benchmark.presets_base import (
    CellNetworkPreset,
    FirstStagePreset,
    FromScratchPreset,
    GradClipPreset,
    ImageNetTrainingPreset,
    OptimiserPreset,
    SubsetPreset,
    SupernetPreset,
    WarmupPreset,
)
from benchmark.search.selection import SelectionPreset
from benchmark.settings import check_positive, check_ranges, resolve_preset


@dataclass(frozen=True)
class DartsNetworkPreset(CellNetworkPreset):
    """The DARTS network, ``layers`` cells from ``C`` initial channels (the search's: 8 cells, C = 16), and
    the mobile setting its ImageNet form must fit (P-DARTS Sec. 4.3: under 600M multiply-adds; None: no
    budget)."""

    layers: int = 8
    flops_budget_m: float | None = 600.0

    def check_network(self) -> None:
        """Room for the two reduction cells."""
        check_positive(self, ("C", "layers"))
        if self.layers < 3:
            raise NasBenchError(f"layers={self.layers} leaves no room for two reduction cells",
                                "set layers >= 3")


@dataclass(frozen=True)
class SearchPreset(SelectionPreset, FirstStagePreset, SupernetPreset, DartsNetworkPreset):
    """The SE-NAS search on the DARTS space (CIFAR-10): the supernet training and estimation of the NB201
    searches (:class:`benchmark.presets_base.SupernetPreset`, so their training loop applies unchanged) and
    the final selection of the MobileNet search (:class:`SelectionPreset`): best supernet accuracy in the
    final space among paths whose ImageNet mobile network fits ``flops_budget_m`` (SE-NAS-E: 597M,
    Table 4); a longer first stage, as the MobileNet search's (:class:`FirstStagePreset`)."""

    # optimiser (our choice: DARTS' search settings): SGD, momentum 0.9, cosine from 0.025 to 0.001
    batch_size: int = 64
    lr: float = 0.025
    nesterov: bool = False
    weight_decay: float = 3e-4
    # SE-NAS schedule: stage 1 trains first_stage_epochs, later stages epochs_per_stage; after each stage
    # remove_per_stage (k) operations go and child spaces of <= merge_threshold (T) models are expanded
    stages: int = 15  # our choice: 150 of the 200 removable choices go, the rest is ranked
    first_stage_epochs: int = 200
    epochs_per_stage: int = 5
    eval_batch_size: int = 500

    @property
    def total_epochs(self) -> int:
        return self.first_stage_epochs + (self.stages - 1) * self.epochs_per_stage

    def stage_end(self, stage: int) -> int:
        """The last epoch of ``stage`` (1-based)."""
        return self.first_stage_epochs + (stage - 1) * self.epochs_per_stage

    def stage_of(self, epoch: int) -> int:
        """The stage epoch ``epoch`` (1-based) belongs to."""
        if epoch <= self.first_stage_epochs:
            return 1
        return 2 + (epoch - self.first_stage_epochs - 1) // self.epochs_per_stage


@dataclass(frozen=True)
class RetrainPreset(ImageNetTrainingPreset, FromScratchPreset, WarmupPreset, GradClipPreset, SubsetPreset,
                    OptimiserPreset, DartsNetworkPreset):
    """ImageNet retraining of a genotype (P-DARTS' ImageNet settings); the warm-up (for batches over 256),
    gradient clipping, image subsets, loader and label smoothing are the bases'."""

    C: int = 48
    layers: int = 14
    auxiliary: bool = True
    aux_weight: float = 0.4
    label_smoothing: float = 0.1
    drop_path_prob: float = 0.0  # raised linearly over the epochs, as DARTS does; P-DARTS uses 0
    epochs: int = 250
    batch_size: int = 1024  # global, split over the processes
    lr: float = 0.5
    weight_decay: float = 3e-5
    lr_tail_epochs: int = 5  # P-DARTS' linear decay with a flatter slope over the last epochs
    image_size: int = 224
    resize: int = 256
    color_jitter: bool = True  # DARTS/P-DARTS: ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2)


SEARCH_PRESETS: dict[str, SearchPreset] = {
    "paper": SearchPreset(name="paper"),
    "tiny": SearchPreset(name="tiny", C=4, layers=5, n_val=64, max_train=128, max_val=32, batch_size=32,
                         lr=0.05, stages=2, first_stage_epochs=1, epochs_per_stage=1, remove_per_stage=10,
                         recal_batches=1, eval_batch_size=64, criterion_samples=1, flops_budget_m=None,
                         selection_samples=4, population=4, iterations=2, topk=2, n_crossover=1, n_mutation=1),
}

RETRAIN_PRESETS: dict[str, RetrainPreset] = {
    "paper": RetrainPreset(name="paper"),
    "tiny": RetrainPreset(name="tiny", C=8, layers=5, epochs=2, batch_size=4, lr=0.05, warmup_epochs=0,
                          lr_tail_epochs=0, workers=0, flops_budget_m=None),
}


def get_search_preset(name: str, overrides: Mapping[str, Any] | None = None) -> SearchPreset:
    """A named search preset with ``key=value`` overrides applied and checked."""
    return resolve_preset(SEARCH_PRESETS, name, overrides, validate)


def get_retrain_preset(name: str, overrides: Mapping[str, Any] | None = None) -> RetrainPreset:
    """A named retraining preset with ``key=value`` overrides applied and checked."""
    return resolve_preset(RETRAIN_PRESETS, name, overrides, validate)


def validate(p: SearchPreset | RetrainPreset) -> None:
    """Refuse impossible settings before anything runs."""
    check_ranges(p)  # finite numbers; lr, momentum, weight decay, grad_clip, probabilities within range
    p.check_network()
    if isinstance(p, SearchPreset):
        p.check_supernet()
        p.check_selection()
    else:
        check_positive(p, ("batch_size", "epochs", "image_size"))
        if not 0 <= p.lr_tail_epochs < p.epochs:
            raise NasBenchError(f"lr_tail_epochs={p.lr_tail_epochs} must be below epochs={p.epochs}",
                                "set 0 <= lr_tail_epochs < epochs")
        if not 0 <= p.label_smoothing < 1 or not 0 <= p.drop_path_prob < 1:
            raise NasBenchError("label_smoothing and drop_path_prob must lie in [0, 1)", "fix them")
        if p.image_size > p.resize:
            raise NasBenchError(f"image_size {p.image_size} is larger than resize {p.resize}",
                                "set image_size <= resize")
