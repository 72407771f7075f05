"""Named experiment scales. ``paper`` follows the SE-NAS NB201 settings (Sec. 4.2: 2 stages x 20 epochs,
k = 10, batch 256); ``cpu`` is the real network (C = 16, N = 5) on the shared CIFAR-10 images, 9,000 for
training and 1,000 for validation, sized for about 10-15 minutes a run on 2 CPU cores (docs/cpu-scale.md);
``tiny`` is the same pipeline shrunk to run in minutes on 2 CPU cores.

Every value can be overridden (``--set key=value``); the resolved preset is stored in each ``result.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from benchmark.errors import NasBenchError
from benchmark.presets_base import CellNetworkPreset, SupernetPreset
from benchmark.settings import check_positive, check_ranges, resolve_preset
from benchmark.vocabulary import BN_POLICIES


@dataclass(frozen=True)
class NB201NetworkPreset(CellNetworkPreset):
    """The NB201 network (Dong & Yang 2020, Sec. 2.1): ``C`` channels in its first stage, ``N`` cells per
    stage; shared by the one-shot and the standalone presets."""

    N: int = 5

    def check_network(self) -> None:
        """Both at least 1."""
        check_positive(self, ("C", "N"))


@dataclass(frozen=True)
class Preset(SupernetPreset, NB201NetworkPreset):
    """All knobs of one NB201 one-shot run: the network, the supernet training and estimation the DARTS
    search shares (:class:`benchmark.presets_base.SupernetPreset`) and NB201's ranking of the space."""

    bn_policies: ClassVar[tuple[str, ...]] = BN_POLICIES  # with nb201, NB201's own protocol

    tau_epochs: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 35, 40)
    eval_autocast: bool = False  # GPU: recalibrate and evaluate under bf16 autocast too (default: fp32)
    rank_archs: int | None = None  # None = every architecture of the current space, else a seeded sample
    rank_seed: int = 0  # seed of that sample, shared by all runs (the run's own seed does not change it)

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


def get_preset(name: str, overrides: Mapping[str, Any] | None = None) -> Preset:
    """A named preset with ``key=value`` overrides applied and checked."""
    return resolve_preset(PRESETS, name, overrides, validate)


def validate(p: Preset) -> None:
    """Refuse impossible settings before anything runs."""
    check_ranges(p)  # finite numbers; lr, momentum, weight decay, grad_clip within their ranges
    p.check_network()
    p.check_supernet()
    if p.rank_archs is not None and p.rank_archs < 2:
        raise NasBenchError("rank_archs must be at least 2 (Kendall's tau needs two architectures)",
                            "set rank_archs >= 2 or none")
    bad_epochs = [e for e in p.tau_epochs if not 1 <= e <= p.total_epochs]
    if bad_epochs:
        raise NasBenchError(f"tau_epochs {bad_epochs} lie outside 1..{p.total_epochs}",
                            "pick epochs within the run")
