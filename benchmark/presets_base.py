"""The preset fields the drivers share, each declared once, with the checks that go with them.

A preset is a frozen dataclass named by its scale (``tiny``, ``cpu``, ``paper``). The NB201 one-shot
(:class:`benchmark.presets.Preset`), DARTS search and retraining, MobileNet-like and BS-NAS presets and the
standalone NB201 preset extend the bases that apply to them:

* :class:`OptimiserPreset`: SGD with momentum (every preset); :class:`CosinePreset` adds the cosine
  schedule's floor and nesterov momentum (NB201 protocol: the NB201 and DARTS supernets, standalone NB201);
* :class:`ShrinkingPreset`: SE-NAS's shrinking and expanding schedule (Algorithm 1; NB201, DARTS, MobileNet);
* :class:`SupernetEvaluationPreset`: supernet accuracy on held-out training images under a BatchNorm policy
  (:data:`benchmark.vocabulary.BN_POLICIES`; every one-shot search);
* :class:`SupernetPreset`: the CIFAR supernet training the NB201 and DARTS searches share (data split,
  gradient clipping, stage length, BatchNorm statistics, Eq. 4 averaging, path sampler).

The final selection's fields are :class:`benchmark.search.selection.SelectionPreset`'s. A base's defaults
are SE-NAS's NB201 settings (Sec. 4.2); a preset re-declares a field only to change its default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from benchmark.errors import NasBenchError
from benchmark.settings import check_positive
from benchmark.vocabulary import BN_POLICIES, check_bn_eval

SPLITS = ("senas", "nb201")


@dataclass(frozen=True)
class NamedPreset:
    """A named scale; ``name`` is the one field without a default, and no override changes it."""

    name: str


@dataclass(frozen=True)
class OptimiserPreset(NamedPreset):
    """SGD with momentum, the optimiser of every preset."""

    batch_size: int = 256  # global, over all processes
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4


@dataclass(frozen=True)
class CosinePreset(OptimiserPreset):
    """SGD whose learning rate a cosine anneals from ``lr`` to ``lr_min`` over all epochs, with nesterov
    momentum (NB201 protocol, Dong & Yang 2020 Sec. 2.3)."""

    lr_min: float = 0.001
    nesterov: bool = True


@dataclass(frozen=True)
class ShrinkingPreset(NamedPreset):
    """SE-NAS's shrinking and expanding (Algorithm 1): ``stages`` cycles, each removing ``remove_per_stage``
    (k) operations and expanding child spaces of at most ``merge_threshold`` (T) models; every operation is
    scored on ``criterion_samples`` (M of Eq. 5) sampled architectures."""

    stages: int = 2
    remove_per_stage: int = 10
    merge_threshold: int = 50
    criterion_samples: int = 50

    def check_shrinking(self) -> None:
        """Refuse a schedule that cannot run, in one line."""
        check_positive(self, ("stages", "merge_threshold", "criterion_samples"))
        if self.remove_per_stage < 0:
            raise NasBenchError(f"remove_per_stage must be >= 0, got {self.remove_per_stage}",
                                "set remove_per_stage >= 0")


@dataclass(frozen=True)
class SupernetEvaluationPreset(NamedPreset):
    """Supernet accuracy P(a): a path evaluated on ``n_val`` held-out training images (SE-NAS Sec. 4.1) under
    the BatchNorm policy ``bn_eval`` (docs/batchnorm.md). ``bn_policies``: the policies the space offers
    (``nb201`` is NB201's own cell layout)."""

    bn_policies: ClassVar[tuple[str, ...]] = tuple(p for p in BN_POLICIES if p != "nb201")

    n_val: int = 5000
    bn_eval: str = "recalibrate"
    eval_batch_size: int = 1000

    def check_bn(self, tracked: bool, recalibration: int) -> None:
        """``bn_eval`` among :attr:`bn_policies` and possible with running statistics ``tracked`` and
        ``recalibration`` batches (or images)."""
        check_bn_eval(self.bn_eval, tracked, recalibration, self.bn_policies)


@dataclass(frozen=True)
class SupernetPreset(SupernetEvaluationPreset, ShrinkingPreset, CosinePreset):
    """The CIFAR supernet training and estimation the NB201 and DARTS searches share (one training loop):
    SE-NAS trains ``stages`` x ``epochs_per_stage`` epochs (the DARTS search a longer first stage), SPOS the
    same total on one supernet. Fields list base first: the optimiser's, the schedule's, the evaluation's."""

    # data: 'senas' (a random validation set from the training images, Sec. 4.1) or 'nb201' (cifar10-valid)
    split: str = "senas"
    max_train: int | None = None
    max_val: int | None = None
    grad_clip: float = 5.0  # 0 = no clipping
    epochs_per_stage: int = 20
    # estimation
    bn_track: bool = False  # track running statistics in the searchable cells while training
    recal_batches: int = 20  # training batches used to recalibrate BatchNorm per architecture
    weight_avg_k: int | None = None  # K of Eq. 4 (1 = no averaging; None = the method's default)
    sampler: str = "uniform"  # path sampler: 'uniform' (SPOS) or 'fair' (FairNAS)

    def check_supernet(self) -> None:
        """Refuse impossible supernet settings in one line (the family's own fields aside)."""
        if self.split not in SPLITS:
            raise NasBenchError(f"unknown split {self.split!r}", f"choose one of: {', '.join(SPLITS)}")
        if self.weight_avg_k is not None and self.weight_avg_k < 1:
            raise NasBenchError(f"weight_avg_k must be at least 1, got {self.weight_avg_k}",
                                "set weight_avg_k >= 1 (1 = off)")
        check_positive(self, ("batch_size", "epochs_per_stage", "eval_batch_size"))
        self.check_shrinking()
        if self.recal_batches < 0:
            raise NasBenchError("recal_batches must be >= 0", "set recal_batches >= 0")
        self.check_bn(self.bn_track, self.recal_batches)
        if not 0 < self.lr_min <= self.lr:
            raise NasBenchError(f"need 0 < lr_min <= lr, got lr={self.lr} lr_min={self.lr_min}",
                                "fix the learning rates")
