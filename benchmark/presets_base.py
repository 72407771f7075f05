"""The preset fields the drivers share, each declared once, with the checks that go with them.

A preset is a frozen dataclass named by its scale (``tiny``, ``cpu``, ``paper``). The NB201 one-shot
(:class:`benchmark.presets.Preset`), DARTS search and retraining, MobileNet-like and BS-NAS presets and the
standalone NB201 preset extend the bases that apply to them:

* :class:`CellNetworkPreset`: the channels ``C`` of a cell-based CIFAR network (NB201, DARTS);
* :class:`OptimiserPreset`: SGD with momentum (every preset); :class:`CosinePreset` adds the cosine
  schedule's floor and nesterov momentum (NB201 protocol: the NB201 and DARTS supernets, standalone NB201);
  :class:`WarmupPreset` a linear warm-up (DARTS retraining, BS-NAS);
* :class:`GradClipPreset`, :class:`SubsetPreset`, :class:`EvalBatchPreset`: gradient clipping, seeded
  subsets of the training and validation images, the evaluation batch;
* :class:`FromScratchPreset`: the epochs of a network trained from scratch (standalone NB201, DARTS
  retraining); :class:`ImageNetTrainingPreset`: loader processes and label smoothing on ImageNet (the
  ImageNet searches, DARTS retraining);
* :class:`ShrinkingPreset`: SE-NAS's shrinking and expanding schedule (Algorithm 1; NB201, DARTS, MobileNet);
  :class:`FirstStagePreset` gives its first stage a length of its own (DARTS, MobileNet);
* :class:`SupernetEvaluationPreset`: supernet accuracy on held-out training images under a BatchNorm policy
  (:data:`benchmark.vocabulary.BN_POLICIES`; every one-shot search);
* :class:`SupernetPreset`: the CIFAR supernet training the NB201 and DARTS searches share (data split,
  BatchNorm statistics, Eq. 4 averaging, path sampler).

The final selection's fields are :class:`benchmark.search.selection.SelectionPreset`'s. A base's defaults
are SE-NAS's NB201 settings (Sec. 4.2), on ImageNet its MobileNet search's (Sec. 4.3), else those of the
paper the base names; a preset re-declares a field only to change its default.
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
class CellNetworkPreset(NamedPreset):
    """A cell-based CIFAR network's width: ``C`` channels in its first cells (NB201, Dong & Yang 2020
    Sec. 2.1: its first stage; DARTS: its initial channels)."""

    C: int = 16


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
class WarmupPreset(NamedPreset):
    """The learning rate raised linearly over the first ``warmup_epochs`` (P-DARTS' ImageNet retraining,
    BS-NAS Sec. 4.1: 5)."""

    warmup_epochs: int = 5


@dataclass(frozen=True)
class GradClipPreset(NamedPreset):
    """The gradient norm clipped to ``grad_clip`` before each step (DARTS' 5)."""

    grad_clip: float = 5.0  # 0 = no clipping


@dataclass(frozen=True)
class SubsetPreset(NamedPreset):
    """Seeded subsets of at most ``max_train`` training and ``max_val`` validation images, for the reduced
    scales (None: all)."""

    max_train: int | None = None
    max_val: int | None = None


@dataclass(frozen=True)
class EvalBatchPreset(NamedPreset):
    """Images per batch when a network is evaluated."""

    eval_batch_size: int = 1000


@dataclass(frozen=True)
class FromScratchPreset(NamedPreset):
    """A network trained from scratch for ``epochs`` (NB201 protocol, Dong & Yang 2020 Sec. 2.3: 200)."""

    epochs: int = 200


@dataclass(frozen=True)
class ImageNetTrainingPreset(NamedPreset):
    """Training on ImageNet: ``workers`` loader processes per training process, and the cross-entropy's
    ``label_smoothing`` when a network is retrained (off: SE-NAS Sec. 4.3 retrains with the search's
    settings)."""

    workers: int = 8  # ours
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class ShrinkingPreset(NamedPreset):
    """SE-NAS's shrinking and expanding (Algorithm 1): ``stages`` cycles of ``epochs_per_stage`` epochs, each
    removing ``remove_per_stage`` (k) operations and expanding child spaces of at most ``merge_threshold``
    (T) models; every operation is scored on ``criterion_samples`` (M of Eq. 5) sampled architectures."""

    stages: int = 2
    epochs_per_stage: int = 20
    remove_per_stage: int = 10
    merge_threshold: int = 50
    criterion_samples: int = 50

    def check_shrinking(self) -> None:
        """Refuse a schedule that cannot run, in one line."""
        check_positive(self, ("stages", "epochs_per_stage", "merge_threshold", "criterion_samples"))
        if self.remove_per_stage < 0:
            raise NasBenchError(f"remove_per_stage must be >= 0, got {self.remove_per_stage}",
                                "set remove_per_stage >= 0")


@dataclass(frozen=True)
class FirstStagePreset(ShrinkingPreset):
    """SE-NAS's schedule with a first stage of its own length (Sec. 4.3: the DARTS and MobileNet searches
    train ``first_stage_epochs`` before the first shrink, then ``epochs_per_stage`` before each later one);
    the default makes it as long as the others, as on NB201 (Sec. 4.2)."""

    first_stage_epochs: int = 20

    def check_shrinking(self) -> None:
        """The first stage at least one epoch, and the rest of the schedule possible."""
        check_positive(self, ("first_stage_epochs",))
        super().check_shrinking()


@dataclass(frozen=True)
class SupernetEvaluationPreset(EvalBatchPreset):
    """Supernet accuracy P(a): a path evaluated on ``n_val`` held-out training images (SE-NAS Sec. 4.1) under
    the BatchNorm policy ``bn_eval`` (docs/batchnorm.md). ``bn_policies``: the policies the space offers
    (``nb201`` is NB201's own cell layout)."""

    bn_policies: ClassVar[tuple[str, ...]] = tuple(p for p in BN_POLICIES if p != "nb201")

    n_val: int = 5000
    bn_eval: str = "recalibrate"

    def check_bn(self, tracked: bool, recalibration: int) -> None:
        """``bn_eval`` among :attr:`bn_policies` and possible with running statistics ``tracked`` and
        ``recalibration`` batches (or images)."""
        check_bn_eval(self.bn_eval, tracked, recalibration, self.bn_policies)


@dataclass(frozen=True)
class SupernetPreset(SupernetEvaluationPreset, ShrinkingPreset, GradClipPreset, SubsetPreset, CosinePreset):
    """The CIFAR supernet training and estimation the NB201 and DARTS searches share (one training loop):
    SE-NAS trains ``stages`` x ``epochs_per_stage`` epochs (the DARTS search a longer first stage), SPOS the
    same total on one supernet. Fields list base first: the optimiser's, the image subsets, gradient
    clipping, the schedule's, the evaluation's."""

    # data: 'senas' (a random validation set from the training images, Sec. 4.1) or 'nb201' (cifar10-valid)
    split: str = "senas"
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
        check_positive(self, ("batch_size", "eval_batch_size"))
        self.check_shrinking()
        if self.recal_batches < 0:
            raise NasBenchError("recal_batches must be >= 0", "set recal_batches >= 0")
        self.check_bn(self.bn_track, self.recal_batches)
        if not 0 < self.lr_min <= self.lr:
            raise NasBenchError(f"need 0 < lr_min <= lr, got lr={self.lr} lr_min={self.lr_min}",
                                "fix the learning rates")
