"""The NB201 one-shot pipeline shared by every method: train a supernet stage by stage, measure tau at
chosen epochs, let the method act at the end of each stage (SE-NAS shrinks and expands there), then rank
the final space and report the best architecture's ground truth (SE-NAS Table 3 row).

:class:`SupernetRun` is the stage-by-stage supernet training itself, which the DARTS-space search
(:mod:`benchmark.darts.search`) shares. Every epoch ends with an atomic checkpoint; a killed run resumes at
the last finished epoch with the same result as an uninterrupted one (exactly, on CPU;
:mod:`benchmark.resumable`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import random
import subprocess
import sys
from abc import abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

import benchmark
from benchmark.checkpoint import write_checkpoint
from benchmark.criteria import Criterion, check_normalization_taken, configured_criterion
from benchmark.data import load_dataset
from benchmark.data.loader import TensorBatches
from benchmark.distributed import resolve_device
from benchmark.errors import NasBenchError
from benchmark.estimation import WeightAverager, evaluate_archs
from benchmark.fastpath import FastPath
from benchmark.io import write_json, write_parquet
from benchmark.methods.driver import RunRequest, SpaceDriver
from benchmark.methods.ranking import (
    TAU_CURVE_COLUMNS,
    ranking_frame,
    ranking_path,
    ranking_report,
    snapshot_path,
)
from benchmark.metrics.precision import describe
from benchmark.metrics.ranking import ranking_metrics
from benchmark.paths import data_root
from benchmark.presets import PRESETS, Preset, get_preset
from benchmark.progress import progress_bar
from benchmark.resumable import ResumableRun
from benchmark.samplers import SAMPLERS
from benchmark.spaces import SPACES, OneShotSupport
from benchmark.spaces.base import Arch
from benchmark.spaces.nb201 import NB201_DATASETS
from benchmark.training import make_optimizer, rebuild_optimizer, train_one_epoch
from benchmark.vocabulary import DEFAULT_NORMALIZATION

NUM_CLASSES = NB201_DATASETS  # the NB201 datasets (standalone training, sweeps)
RESULT_VERSION = 1


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result (stored in ``result.json`` and checked on resume)."""

    method: str
    dataset: str
    preset: Preset
    seed: int = 0
    space: str = "nb201"
    criterion: str = "senas"
    normalization: str = DEFAULT_NORMALIZATION
    expand: bool = True
    threads: int = 1  # CPU (intra-op) threads: part of the identity, results depend on it (docs/reliability.md)
    device: str = "cpu"
    compile_ops: bool = False  # FastPath.compile_ops: an execution setting, like the device
    data_root: str | None = None
    groundtruth: str | None = None

    def identity(self) -> dict[str, Any]:
        """The fields that must match for a checkpoint to be resumed (paths and execution settings
        excluded)."""
        d = dataclasses.asdict(self)
        for k in ("device", "compile_ops", "data_root", "groundtruth"):
            d.pop(k)
        d["preset"] = dataclasses.asdict(self.preset)
        d["preset"]["tau_epochs"] = list(self.preset.tau_epochs)
        return d


@dataclass
class RunState:
    """What a checkpoint holds besides the tensors."""

    epoch: int = 0
    tau_rows: list[dict] = field(default_factory=list)
    operator_rows: list[dict] = field(default_factory=list)
    train_log: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: {"train_s": 0.0, "score_s": 0.0, "rank_s": 0.0})


class SupernetRun(ResumableRun):
    """Single-path training of a weight-sharing supernet, stage by stage (NB201 methods, the DARTS-space
    search): augmented batches drawn per epoch, the Eq. 4 average taken over the last epoch of each stage,
    :meth:`end_of_stage` after it, SE-NAS expanding (Sec. 3.4), all on the fast path.

    Subclasses implement :meth:`stage_of` and, in :meth:`setup`, set ``device``, ``data``, ``space`` and
    ``fast``, then call :meth:`start_training`.
    """

    default_weight_avg_k = 1  # K of Eq. 4 when the preset leaves ``weight_avg_k`` unset

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.averager: WeightAverager | None = None

    def start_training(self, model: nn.Module) -> None:
        """``model`` on the device and the fast path, its sampler and optimizer, and the batches."""
        p, d = self.p, self.data
        self.model = self.fast.prepare_model(model.to(self.device))
        self.sampler = SAMPLERS.get(p.sampler)(self.space, self.cfg.seed)
        self.optimizer = make_optimizer(self.model, p, self.fast)
        self.train_x, self.train_y = d.train_x.to(self.device), d.train_y.to(self.device)
        self.val_batches = list(TensorBatches(d.val_x.to(self.device), d.val_y.to(self.device), d.mean, d.std,
                                              p.eval_batch_size, shuffle=False))
        # a fixed, unaugmented set of training batches re-estimates BatchNorm statistics per architecture
        self.recal_batches = list(TensorBatches(self.train_x, self.train_y, d.mean, d.std, p.batch_size,
                                                shuffle=False, drop_last=True))[:p.recal_batches]
        self.steps_per_epoch = len(self._epoch_batches(1))
        if self.steps_per_epoch == 0:
            raise NasBenchError(f"{len(self.train_y)} training images make no batch of {p.batch_size}",
                                "lower batch_size or raise max_train")
        self.weight_avg_k = self.default_weight_avg_k if p.weight_avg_k is None else p.weight_avg_k

    def _epoch_batches(self, epoch: int) -> TensorBatches:
        batches = TensorBatches(self.train_x, self.train_y, self.data.mean, self.data.std, self.p.batch_size,
                                shuffle=True, drop_last=True, augment=True, seed=self.cfg.seed)
        batches.set_epoch(epoch)
        return batches

    @property
    def eval_model(self) -> nn.Module:
        """Weights used to evaluate: the Eq. 4 average when one was taken this stage, else the live ones."""
        return self.averager.module if self.averager is not None else self.model

    # ------------------------------------------------------------------ stages
    @abstractmethod
    def stage_of(self, epoch: int) -> int:
        """The stage (1-based) that epoch ``epoch`` (1-based) belongs to."""

    def progress_detail(self, epoch: int) -> str:
        return f"stage {self.stage_of(epoch)}"

    def ends_stage(self, epoch: int) -> bool:
        """Whether ``epoch`` is the last epoch of its stage."""
        return self.stage_of(epoch + 1) != self.stage_of(epoch)

    def end_of_stage(self, stage: int) -> None:
        """Called after the last epoch of each stage (SE-NAS: score, shrink, expand)."""

    def criterion(self) -> Criterion:
        """The configured operator criterion: a criterion that samples gets the preset's budget
        (``criterion_samples`` as M of Eq. 5), one that normalises gets the run's Eq. 7 normalisation
        (:meth:`check_criterion` refused a normalisation given to a criterion without one)."""
        return configured_criterion(self.cfg.criterion, self.cfg.normalization, M=self.p.criterion_samples,
                                    batch_size=64)

    def check_criterion(self) -> None:
        """Refuse a non-default Eq. 7 normalisation for a criterion that does not normalise (it would
        change nothing but the run's name)."""
        check_normalization_taken(self.cfg.criterion, self.cfg.normalization)

    # ------------------------------------------------------------------ SE-NAS (benchmark.methods.stage)
    @property
    def operator_rows(self) -> list[dict[str, Any]]:
        """The operator rows of every stage so far (``operators.parquet``)."""
        return self.state.operator_rows

    @property
    def expands(self) -> bool:
        return self.cfg.expand

    def space_changed(self) -> None:
        self.sampler.space_changed()

    def expand(self) -> None:
        """SE-NAS Sec. 3.4 after a shrink: child spaces of at most T (``merge_threshold``) partial models get
        their own weight copies, in the model and in the Eq. 4 average (it ranks the final space)."""
        origins = self.model.expand(self.space, self.p.merge_threshold)
        self.fast.prepare_model(self.model)  # the new weight copies
        self.optimizer = rebuild_optimizer(self.optimizer, self.model, self.p, origins, self.fast)
        if self.averager is not None:
            self.averager.module.expand(self.space, self.p.merge_threshold)
            self.fast.prepare_model(self.averager.module)

    def rebuild_copies(self, groups: list[list[int]]) -> None:
        """The expanded weight copies of a checkpoint's child spaces (``groups``), back in the model, on
        the device and prepared for the fast path (before :meth:`load_training_state` fills them)."""
        self.model.rebuild(self.space, [tuple(g) for g in groups])
        self.fast.prepare_model(self.model.to(self.device))

    def new_averager(self) -> WeightAverager:
        """An Eq. 4 average of the live model, prepared for the fast path (the copy drops compiled ops)."""
        averager = WeightAverager(self.model, self.weight_avg_k, self.steps_per_epoch)
        self.fast.prepare_model(averager.module)
        return averager

    # ------------------------------------------------------------------ the run (benchmark.resumable)
    def train_epoch(self, epoch: int, total_steps: int) -> dict[str, Any]:
        """One epoch of single-path training; in the last epoch of a stage the Eq. 4 average is taken."""
        self.averager = None
        if self.weight_avg_k > 1 and self.ends_stage(epoch):
            self.averager = self.new_averager()
        on_step = (lambda i: self.averager.maybe_update(self.model, i)) if self.averager else None
        return train_one_epoch(self.model, self.sampler, self._epoch_batches(epoch), self.optimizer, self.p,
                               first_step=(epoch - 1) * self.steps_per_epoch, total_steps=total_steps,
                               on_step=on_step, fast=self.fast)

    def end_of_epoch(self, epoch: int) -> None:
        if self.ends_stage(epoch):
            with self.timed("score_s"):
                self.end_of_stage(self.stage_of(epoch))

    def training_state(self) -> dict[str, Any]:
        """The checkpoint's weights, optimizer, sampler and Eq. 4 average."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "sampler": self.sampler.state_dict(),
                "averager": None if self.averager is None else self.averager.averaged.state_dict()}

    def load_training_state(self, ck: dict[str, Any]) -> None:
        """:meth:`training_state` back, into a model of the checkpoint's structure."""
        self.model.load_state_dict(ck["model"])
        self.optimizer = make_optimizer(self.model, self.p, self.fast)
        self.optimizer.load_state_dict(ck["optimizer"])
        self.sampler.load_state_dict(ck["sampler"])
        if ck["averager"] is not None:
            self.averager = self.new_averager()
            self.averager.averaged.load_state_dict(ck["averager"])


class OneShotRun(SupernetRun):
    """The one-shot pipeline on any space that supplies it (:class:`~benchmark.spaces.OneShotSupport`:
    NB201, or a space a user registers); subclasses set ``method`` and override :meth:`end_of_stage` and
    the state hooks."""

    method = "base"
    expandable = False  # whether the supernet is built expandable (SE-NAS Sec. 3.4)
    spaces: tuple[str, ...] | None = None  # the spaces the method is written for (None: every one-shot space)
    # keep the evaluated weights of every tau epoch, so a like-for-like partner can rank another method's
    # architectures with them later (benchmark.pairing); the non-shrinking baselines set it
    keeps_snapshots = False
    state_class = RunState
    cfg: RunConfig
    p: Preset

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._ranking_cache: tuple[tuple, pd.DataFrame] | None = None

    @classmethod
    def driver(cls, space: str) -> SpaceDriver:
        """This method on ``space`` (one with one-shot support) for ``nasbench run``."""
        support = SPACES.get(space).oneshot
        return SpaceDriver(run=cls.run_request, summary=summary_line, datasets=tuple(support.datasets),
                           takes=frozenset({"criterion", "normalization", "expand", "groundtruth", "compile_ops",
                                            "threads"}), ranked=True)

    @classmethod
    def run_request(cls, request: RunRequest) -> dict[str, Any]:
        """Run (or resume, or read back) the run a checked ``request`` states (:meth:`SpaceDriver.check`)."""
        cfg = RunConfig(method=request.method, dataset=request.dataset,
                        preset=get_preset(request.preset, dict(request.overrides)), seed=request.seed,
                        space=request.space, **request.senas_options(),
                        threads=request.threads or RunConfig.threads, device=request.device,
                        compile_ops=bool(request.compile_ops), data_root=request.data_root,
                        groundtruth=request.groundtruth)
        return run_requested(cls, cfg, request)

    # ------------------------------------------------------------------ setup
    @cached_property
    def support(self) -> OneShotSupport:
        """What the run's space supplies; a one-line error where it supplies nothing or the method does
        not apply to it."""
        cfg = self.cfg
        support = SPACES.get(cfg.space).oneshot
        if support is None:
            runs_on = [n for n in SPACES.names() if SPACES.get(n).oneshot is not None]
            raise NasBenchError(f"the one-shot pipeline cannot search space {cfg.space!r}: it supplies no supernet, "
                                "datasets or ground truth (SpaceEntry.oneshot)",
                                f"use --space {' | '.join(runs_on)}, or `nasbench run METHOD --space {cfg.space}` "
                                "where a search of it is registered")
        if self.spaces is not None and cfg.space not in self.spaces:
            raise NasBenchError(f"{self.method} cannot search space {cfg.space!r}: it is written for "
                                f"{' | '.join(self.spaces)}",
                                f"use --space {' | '.join(self.spaces)}, or spos | senas on {cfg.space}")
        if cfg.dataset not in support.datasets:
            raise NasBenchError(f"unknown dataset {cfg.dataset!r} for space {cfg.space}",
                                f"choose one of: {', '.join(support.datasets)}")
        return support

    def setup(self) -> None:
        cfg, p = self.cfg, self.p
        support = self.support
        self.validate()
        root = data_root(cfg.data_root)
        self.gt = support.groundtruth(root, cfg.groundtruth)
        self.device = resolve_device(self.cfg.device)
        self.data = load_dataset(cfg.dataset, root, scheme=p.split, seed=cfg.seed, n_val=p.n_val,
                                 max_train=p.max_train, max_val=p.max_val)
        torch.manual_seed(cfg.seed)
        self.space = SPACES.get(cfg.space).build()
        # CPU: every optimisation off, exact eager results
        self.fast = FastPath.for_device(self.device, eval_autocast=p.eval_autocast).replace(
            compile_ops=cfg.compile_ops)
        self.start_training(self.build_model())

    def validate(self) -> None:
        """Refuse impossible settings before any data is read or any step is trained."""

    def build_model(self) -> nn.Module:
        return self.support.supernet(self.space, self.support.datasets[self.cfg.dataset], self.p, self.expandable)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, archs: list[Arch], what: str) -> np.ndarray:
        """Supernet accuracy P(a) of each architecture (Eq. 4 weights, the run's BatchNorm policy)."""
        with progress_bar(self.progress_label, len(archs), self.progress,
                          what=f"{what}: architecture") as advance:
            return evaluate_archs(self.eval_model, archs, self.val_batches, self.p.bn_eval, self.recal_batches,
                                  progress=advance, fast=self.fast)

    def ranking_archs(self) -> list[Arch]:
        """Architectures of the current space to rank: all of them, or a sample of ``rank_archs`` drawn
        with ``rank_seed`` (not the run's seed), so every run of a sweep ranks the same architectures
        (Fig. 1) and a standalone ``sample_archs: {n, seed}`` of the same seed is a prefix of it."""
        n = self.p.rank_archs
        archs = list(self.space.enumerate())
        if n is None or n >= len(archs):
            return archs
        return random.Random(self.p.rank_seed).sample(archs, n)

    def rank(self, what: str) -> pd.DataFrame:
        """Rank the current space: supernet accuracy beside ground-truth accuracy.

        The ranking of the last finished epoch is reused when neither weights nor space changed since.
        """
        key = (self.state.epoch, tuple(self.space.alive))
        if self._ranking_cache is not None and self._ranking_cache[0] == key:
            return self._ranking_cache[1]
        archs = self.ranking_archs()
        acc = self.evaluate(archs, what)
        strings = [self.support.format_arch(a) for a in archs]
        ranking = ranking_frame(strings, acc, self.gt, self.cfg.dataset)
        self._ranking_cache = (key, ranking)
        return ranking

    def tau_row(self, epoch: int, ranking: pd.DataFrame) -> dict[str, Any]:
        """Tau at ``epoch`` with how many architectures it covers, its bootstrap CI, the noise ceiling on
        this run's validation images and the bias diagnostics (:mod:`benchmark.metrics.precision`,
        :mod:`~benchmark.metrics.diagnostics`)."""
        return {"epoch": epoch, "stage": self.stage_of(epoch), "space_size": self.space.size(),
                **ranking_report(ranking, len(self.data.val_y), self.cfg.seed, self.support.conv_count)}

    # ------------------------------------------------------------------ method hooks
    def stage_of(self, epoch: int) -> int:
        return (epoch - 1) // self.p.epochs_per_stage + 1

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore method state that changes the model's structure, before its weights are loaded."""

    # ------------------------------------------------------------------ the run (benchmark.resumable)
    @property
    def progress_label(self) -> str:
        return f"{self.method} seed {self.cfg.seed}"

    def end_of_epoch(self, epoch: int) -> None:
        """Tau at the preset's ``tau_epochs`` (the ranking kept in ``rankings/``, the weights in
        ``snapshots/`` for baselines); :meth:`end_of_stage` after the last epoch of a stage."""
        if epoch in self.p.tau_epochs:
            with self.timed("rank_s"):
                ranking = self.rank(f"tau at epoch {epoch}")
                row = self.tau_row(epoch, ranking)
            write_parquet(ranking_path(self.out, epoch), ranking)
            self.state.tau_rows.append(row)
            self.log(f"epoch {epoch}: {describe(row)} (space size {row['space_size']})")
        if self.keeps_snapshots and (epoch in self.p.tau_epochs or epoch == self.p.total_epochs):
            write_checkpoint(snapshot_path(self.out, epoch), {"model": self.eval_model.state_dict()})
        super().end_of_epoch(epoch)

    def checkpoint_contents(self) -> dict[str, Any]:
        return {"alive": [list(a) for a in self.space.alive], "extra": self.extra_state(),
                **self.training_state()}

    def restore(self, ck: dict[str, Any]) -> None:
        self.space.restrict(ck["alive"])
        self.load_extra_state(ck["extra"])
        self.load_training_state(ck)

    def finish(self) -> dict[str, Any]:
        """Rank the final space; write ``result.json`` and the parquet tables."""
        with self.timed("rank_s"):
            ranking = self.rank("final ranking")
        return self.write_outputs(ranking)

    # ------------------------------------------------------------------ outputs
    def scale_note(self) -> str:
        """What scale produced the numbers; any departure from the ``paper`` preset is named."""
        p, d = self.p, self.data
        note = (f"preset {p.name}: C={p.C}, N={p.N}, {len(d.train_y)} training and {len(d.val_y)} validation "
                f"images, {p.total_epochs} epochs")
        paper = dataclasses.asdict(PRESETS["paper"])
        changed = [k for k, v in dataclasses.asdict(p).items() if k != "name" and paper[k] != v]
        if changed:
            note += (f"; differs from the paper preset in {', '.join(changed)}: "
                     "tau here is not comparable with the paper's numbers")
        return note

    def write_outputs(self, ranking: pd.DataFrame) -> dict[str, Any]:
        report = ranking_report(ranking, len(self.data.val_y), self.cfg.seed, self.support.conv_count)
        metrics = ranking_metrics(ranking.supernet_acc.to_numpy(), ranking.gt_acc.to_numpy())
        best = ranking.sort_values("supernet_acc", ascending=False, kind="stable").iloc[0]
        result = {
            "version": RESULT_VERSION,
            "method": self.method,
            "config": self.cfg.identity(),
            "seed": self.cfg.seed,
            "device": str(self.device),
            "fast_path": self.fast.describe(),
            "scale": self.scale_note(),
            "groundtruth": {"source": self.gt.source, "metric": self.gt.metric_name(self.cfg.dataset)},
            "weight_avg_k": self.weight_avg_k,
            "tau": report["tau"],
            "spearman": report["spearman"],
            "precision": {k: report[k] for k in ("ci_low", "ci_high", "ceiling_median", "ceiling_low",
                                                 "ceiling_high", "val_images", "undefined")},
            "diagnostics": {k: report[k] for k in ("tau_supernet_params", "tau_gt_params", "tau_within_conv",
                                                   "conv_groups", "conv_groups_undefined")},
            "data_fingerprint": self.data_fingerprint(),
            "metrics": metrics,
            "final_space_size": self.space.size(),
            "n_ranked": len(ranking),
            "alive": {name: list(ops) for name, ops in zip(self.space.slots, self.space.alive)},
            "best_arch": best["arch"],
            "best_supernet_acc": float(best["supernet_acc"]),
            "best_gt": self.gt.table3_row(best["arch"]),
            "timings_s": {**self.state.timings, "total_s": sum(self.state.timings.values())},
            "tau_curve": self.state.tau_rows,
            "train_log": self.state.train_log,
            "versions": versions(),
            **self.extra_result(),
        }
        write_parquet(self.out / "ranking.parquet", ranking)
        write_parquet(self.out / "tau_curve.parquet", pd.DataFrame(self.state.tau_rows, columns=TAU_CURVE_COLUMNS))
        write_parquet(self.out / "operators.parquet", pd.DataFrame(self.state.operator_rows, columns=[
            "stage", "edge", "op", "score", "removed", "gt_score", "gt_rank"]))
        write_json(self.out / "result.json", result)
        return result

    def extra_result(self) -> dict[str, Any]:
        return {}

    def data_fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the validation images and labels and the BatchNorm recalibration
        batches: two runs with the same fingerprint rank on the same images (like-for-like pairing)."""
        h = hashlib.sha256()
        for x, y in [*self.val_batches, *self.recal_batches]:
            h.update(x.detach().cpu().numpy().tobytes())
            h.update(y.detach().cpu().numpy().tobytes())
        return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Python, torch and toolkit versions and the git commit of the checkout (if any)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": sys.version.split()[0], "torch": torch.__version__, "toolkit": benchmark.__version__,
            "platform": platform.platform(), "git_commit": commit}


def run_requested(cls: type[ResumableRun], cfg: Any, request: RunRequest) -> dict[str, Any]:
    """A resumable run of ``cls`` with ``cfg`` in ``request.out``, as the request says to show progress and
    to overwrite; its result (read back when the folder holds it finished, which ``request.notice`` says)."""
    runner = cls(cfg, request.out, progress=request.progress, log=request.log, overwrite=request.overwrite)
    result = runner.run()
    if runner.finished_before:
        request.notice(f"{request.out}: already finished (the same configuration); its result follows "
                       "(--overwrite runs it again)")
    return result


def summary_line(result: dict[str, Any]) -> str:
    """The line ``nasbench run`` prints for a one-shot run: Kendall's tau over how many architectures with its
    bootstrap CI and noise ceiling (:func:`benchmark.metrics.precision.describe`), Spearman, the best
    architecture, at what scale."""
    tau = describe({"tau": result["tau"], "n_ranked": result["n_ranked"], **result["precision"]})
    return (f"{result['method']} on {result['config']['dataset']} (seed {result['seed']}): Kendall's {tau}; "
            f"Spearman = {result['spearman']:.4f}; best {result['best_arch']} [{result['scale']}]")
