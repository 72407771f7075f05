"""SE-NAS and SPOS on the MobileNet-like space of ImageNet (SE-NAS Algorithm 1, Sec. 4.3).

``senas``: train the supernet with single-path sampling inside the FLOPs window (100 epochs, then 5
per later stage); after every stage but the last, score the alive operations with Eq. 7 from
M = 1,000 window-constrained samples per operation, remove the 10 lowest (one per layer with
``fair``, the FairNAS variant, which also trains by FairNAS's rule: :class:`FairGroups`), merge layers into child spaces of at most T = 50 partial models and
give each its own weights (Sec. 3.4; ``expand=False`` is the shrink-only ablation of Table 6).
``spos``: the same training for the same number of epochs, without shrinking.
Finally, for each FLOPs budget, the architecture of the budget's window with the best supernet accuracy
on the held-out images (Eq. 2) is exported as ``arch_<budget>M.json``: found by SPOS's evolutionary
search inside the window (``selection=evolution``, the default; its history in
``evolution_<budget>M.parquet``) or as the best of ``selection_samples`` uniform window draws
(``selection=sample``); :mod:`benchmark.search.selection`.

Supernet accuracy P(a) follows SPOS: BatchNorm statistics recalibrated on fixed training images, then
top-1 on a fixed part of the held-out images; both sets are decoded once and kept on the device. With
several processes each evaluates a share of the architectures. Every epoch ends with an atomic
checkpoint; a run resumes from it (``--resume``, the default).
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmark.criteria import (
    CRITERIA,
    Criterion,
    CriterionContext,
    check_normalization_taken,
    configured_criterion,
    windowed_criteria,
)
from benchmark.data.imagenet import Sample, scan_imagenet
from benchmark.distributed import DistInfo, all_reduce_sum, is_main
from benchmark.errors import NasBenchError
from benchmark.estimation import evaluate_arch
from benchmark.fastpath import FastPath
from benchmark.imagenet.config import SearchConfig
from benchmark.imagenet.driver import (
    RunLog,
    arch_record,
    budget_failed,
    check_steps,
    eval_loader,
    export_arch,
    imagenet_root,
    in_process_group,
    preset_dict,
    search_images,
    search_intro,
    search_settings,
    split_record,
    subset,
    train_loader,
    write_config,
    write_result,
)
from benchmark.imagenet.presets import get_preset
from benchmark.imagenet.train import (
    fast_settings,
    linear_decay,
    load_checkpoint,
    make_sgd,
    place,
    save_checkpoint,
    train_supernet,
    wrap_ddp,
)
from benchmark.io import write_parquet
from benchmark.methods.driver import RunRequest, SpaceDriver
from benchmark.methods.stage import SENASStage
from benchmark.models.mobilenet import MobileNetSupernet
from benchmark.samplers import strict_fair_group
from benchmark.search.constrained_sampling import WindowFairSampler, WindowSampler, WindowUniformSampler
from benchmark.search.constraints import FlopsConstraint
from benchmark.search.evolution import history_table, settings_of
from benchmark.search.selection import CachedFitness, select_in_window
from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.mobilenet import MobileNetSkeleton, mobilenet_space
from benchmark.spaces.mobilenet_flops import FlopsTable
from benchmark.training import inherit_state
from benchmark.vocabulary import check_normalization

Batches = list[tuple[torch.Tensor, torch.Tensor]]

class SupernetAccuracy:
    """P(a) (Eq. 4's ACC_val) of the MobileNet supernet for a list of architectures, split over processes."""

    def __init__(self, model: MobileNetSupernet, recal: Batches, val: Batches, policy: str, dist: DistInfo,
                 fast: FastPath):
        self.model, self.recal, self.val, self.policy, self.dist, self.fast = model, recal, val, policy, dist, fast

    def __call__(self, archs: list[Arch]) -> np.ndarray:
        acc = torch.zeros(len(archs), dtype=torch.float64, device=self.dist.device)
        for i in range(self.dist.rank, len(archs), self.dist.world_size):
            path = self.model.path_view(archs[i])
            acc[i] = evaluate_arch(path, archs[i], self.val, self.policy, self.recal, self.fast)
        return all_reduce_sum(acc, self.dist).cpu().numpy()


class FairGroups(WindowFairSampler):
    """``--fair`` training (FairNAS Algorithm 1): one group of L paths per batch (L = the most alive operations of
    a layer), trained on that batch with summed gradients and one update (:func:`benchmark.training.group_step`).

    Without a training window (``train_in_window=false``) a group is strictly fair
    (:func:`benchmark.samplers.strict_fair_group`: every alive operation of every layer exactly once, or at least
    once in layers with fewer than L). Inside a FLOPs window strict fairness cannot hold in general: the mean
    FLOPs of a strictly fair group is set by the space (about the mean operation cost per layer, summed: at least
    644M at 224 px for the full space), above the top of the paper's training window (592M), so no strictly
    fair group fits it. There a group is L successive pair-balanced window draws (:class:`WindowFairSampler`: each an
    architecture of the window holding the next feasible (layer, operation) of a shuffled cycle).
    """

    @property
    def strict(self) -> bool:
        """Whether groups are strictly fair: the window bounds no architecture."""
        c = self.window.constraint
        return c.lo_m <= 0 and math.isinf(c.hi_m)

    def group(self) -> list[Arch]:
        if self.strict:
            return strict_fair_group(self.window.alive, random.Random(int(self.rng.integers(2 ** 63))))
        return [self() for _ in range(max(len(ops) for ops in self.window.alive))]


def cache_batches(loader, device: torch.device, dtype: torch.dtype) -> Batches:
    """Every batch of ``loader`` on ``device`` (images in ``dtype``), decoded once."""
    return [(x.to(device, dtype), y.to(device)) for x, y in loader if len(y)]


def cached_images(samples: list[Sample], n: int | None, p: Any, seed: int, dist: DistInfo,
                  autocast: torch.dtype | None) -> Batches:
    """A seeded subset of ``n`` of ``samples``, evaluation-transformed and kept on the device (in the autocast
    dtype), the same on every process: supernet accuracy's recalibration and held-out images."""
    loader = eval_loader(subset(samples, n, seed), p, dist, shard=False)
    return cache_batches(loader, dist.device, autocast or torch.float32)


def budget_windows(budgets: tuple[float, ...], tolerance: float, table: FlopsTable, space: SearchSpace,
                   skeleton: MobileNetSkeleton) -> dict[float, FlopsConstraint]:
    """``[b * (1 - tol), b]`` per budget b; a one-line error when no architecture of the space meets one."""
    lo_m, hi_m = table.range_m(space)
    out = {}
    for b in budgets:
        constraint = FlopsConstraint(b * (1 - tolerance), b, table.flops_m)
        window = WindowSampler(space, table.per_slot_m(space), table.fixed_m, constraint)
        try:
            window.sample(1, np.random.default_rng(0))
        except NasBenchError:
            raise NasBenchError(
                f"no architecture of the mobilenet space meets the FLOPs budget {b:g}M (window "
                f"{constraint.lo_m:g}-{b:g}M): at width {skeleton.width_mult:g}, input {skeleton.input_size} and "
                f"{skeleton.num_classes} classes the space spans {lo_m:.3f}-{hi_m:.3f}M",
                "choose budgets inside that range (--flops) or widen budget_tolerance") from None
        out[b] = constraint
    return out


class _SearchRun(SENASStage):
    def __init__(self, cfg: SearchConfig, out: Path, shrinks: bool):
        self.cfg, self.out, self.shrinks = cfg, out, shrinks
        opts = dict(cfg.options)
        self.criterion_name = opts.pop("criterion", "senas")
        self.normalization = opts.pop("normalization", "mean")
        self.expanding = bool(opts.pop("expand", True))
        self.fair = bool(opts.pop("fair", False))
        if opts:
            raise NasBenchError(f"unknown search option(s) {sorted(opts)}",
                                "use criterion, normalization, expand, fair")
        if not CRITERIA.get(self.criterion_name).windowed:
            raise NasBenchError(f"criterion {self.criterion_name!r} cannot score inside the FLOPs window of the "
                                "mobilenet space", f"choose one of: {', '.join(windowed_criteria())}")
        check_normalization(self.normalization)
        check_normalization_taken(self.criterion_name, self.normalization)
        self.per_slot = self.fair
        self._evaluator: SupernetAccuracy | None = None
        self.fitness = CachedFitness(lambda archs: self.evaluator()(archs))  # the final selection's P(a)

    # ------------------------------------------------------------------ setup
    def identity(self, budgets: tuple[float, ...]) -> dict[str, Any]:
        return {"method": self.cfg.method, "preset": preset_dict(self.p), "seed": self.cfg.seed,
                "budgets_m": list(budgets), "criterion": self.criterion_name, "normalization": self.normalization,
                "expand": self.expanding, "fair": self.fair, "shrinks": self.shrinks}

    def window(self, constraint: FlopsConstraint) -> WindowSampler:
        return WindowSampler(self.space, self.table.per_slot_m(self.space), self.table.fixed_m, constraint)

    def setup(self) -> None:
        cfg = self.cfg
        dist, p, self.budgets, self.batch = search_settings(cfg, get_preset)
        self.dist, self.p = dist, p
        self.log = RunLog(self.out, dist)
        index = scan_imagenet(imagenet_root(cfg.data_root))
        self.train_list, self.held_out = search_images(index, p.n_val, p.max_train_images, cfg.seed)
        self.skeleton = MobileNetSkeleton(p.width_mult, p.input_size, len(index.classes))
        self.space = mobilenet_space()
        self.table = FlopsTable(self.skeleton)
        self.windows = budget_windows(self.budgets, p.budget_tolerance, self.table, self.space, self.skeleton)
        lo = min(c.lo_m for c in self.windows.values()) if p.train_in_window else 0.0
        hi = max(c.hi_m for c in self.windows.values()) if p.train_in_window else math.inf
        self.union = FlopsConstraint(lo, hi, self.table.flops_m)
        write_config(self.out, self.identity(self.budgets), dist, cfg.resume,
                     {"split.json": split_record(index, cfg.seed, p.n_val, self.train_list, self.held_out)})
        self.loader = train_loader(self.train_list, p, self.batch, cfg.seed, dist)
        self.steps_per_epoch = check_steps(len(self.train_list), self.batch, dist.world_size)
        self.total_steps = p.search_epochs * self.steps_per_epoch
        self.autocast, self.channels_last = fast_settings(dist.device)
        torch.manual_seed(cfg.seed)
        self.model = place(MobileNetSupernet(self.skeleton, self.space), dist.device, self.channels_last)
        self.new_optimizer()
        sampler_class = FairGroups if self.fair else WindowUniformSampler
        self.sampler = sampler_class(self.window(self.union), cfg.seed)
        self.state: dict[str, Any] = {"epoch": 0, "train_log": [], "operator_rows": [], "stage_log": [],
                                      "timings": {"train_s": 0.0, "score_s": 0.0, "select_s": 0.0}}
        ckpt = load_checkpoint(self.out / "checkpoint.pt", dist.device) if cfg.resume else None
        if ckpt is not None:
            self.restore(ckpt)
        self.ddp = wrap_ddp(self.model, dist, find_unused_parameters=True)
        self.log(search_intro(f"{cfg.method} on mobilenet", self.train_list, self.held_out, dist, self.batch,
                              p.search_epochs, f"training window {self.union.name}"))

    def restore(self, ckpt: dict[str, Any]) -> None:
        self.space.restrict(ckpt["alive"])
        if ckpt["groups"]:
            self.model.rebuild(self.space, ckpt["groups"])
        self.model.load_state_dict(ckpt["model"])
        self.new_optimizer()
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.sampler.reset(self.window(self.union))
        self.sampler.load_state_dict(ckpt["sampler"])
        self.state = ckpt["state"]
        self.log(f"resumed after epoch {self.state['epoch']} (space size {self.space.size():,})")

    def checkpoint(self) -> None:
        save_checkpoint(self.out / "checkpoint.pt", {
            "model": self.model.state_dict(), "groups": [list(g) for g in self.model.groups],
            "alive": [list(a) for a in self.space.alive], "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "sampler": self.sampler.state_dict(), "state": self.state},
            self.dist)

    def evaluator(self) -> SupernetAccuracy:
        """P(a), built on first use: the recalibration and held-out images decoded once, kept on the device."""
        if self._evaluator is None:
            p = self.p
            recal = (cached_images(self.train_list, p.recal_images, p, self.cfg.seed, self.dist, self.autocast)
                     if p.bn_eval == "recalibrate" else [])
            val = cached_images(self.held_out, p.score_images, p, self.cfg.seed, self.dist, self.autocast)
            fast = FastPath(autocast_dtype=self.autocast, channels_last=self.channels_last)
            self._evaluator = SupernetAccuracy(self.model, recal, val, p.bn_eval, self.dist, fast)
        return self._evaluator

    # ------------------------------------------------------------------ Algorithm 1
    def after_epoch(self, epoch: int) -> None:
        """Line 3: a stage's last epoch (but the last stage's) ends with shrinking and expanding."""
        stage = self.p.stage_of_epoch(epoch)
        if self.shrinks and self.p.is_stage_end(epoch) and stage < self.p.stages - 1:
            self.end_of_stage(stage)

    def end_of_stage(self, stage: int) -> None:
        """Lines 3-7: score (Eq. 7 in the window), remove, merge child spaces, copy weights."""
        self._stage_start = time.perf_counter()
        self.senas_stage(stage)

    def criterion(self) -> Criterion:
        return configured_criterion(self.criterion_name, self.normalization, M=self.p.criterion_samples,
                                    sharing=self.p.sharing)

    def stage_context(self, stage: int) -> CriterionContext:
        return CriterionContext(evaluate=self.evaluator(), window=self.window(self.union),
                                seed=self.cfg.seed * 1000 + stage)

    def operator_row(self, stage: int, row: Any) -> dict[str, Any]:
        return {"stage": stage, "slot": int(row.slot), "layer": self.space.slots[int(row.slot)], "op": row.op,
                "score": float(row.score), "SI": float(row.SI), "SC": float(row.SC),
                "n_samples": int(row.n_samples), "feasible": bool(row.feasible), "removed": bool(row.removed)}

    @property
    def operator_rows(self) -> list[dict[str, Any]]:
        return self.state["operator_rows"]

    @property
    def expands(self) -> bool:
        return self.expanding

    def space_changed(self) -> None:
        self.sampler.reset(self.window(self.union))

    def expand(self) -> None:
        origins = self.model.expand(self.space, self.p.merge_threshold)
        self._rebuild_optimizer(origins)
        self.ddp = wrap_ddp(self.model, self.dist, find_unused_parameters=True)

    def report_stage(self, stage: int, scores: pd.DataFrame, removed: list[str], groups_before: int) -> None:
        seconds = time.perf_counter() - self._stage_start
        self.state["timings"]["score_s"] += seconds
        self.state["stage_log"].append({"stage": stage, "removed": removed, "space_size": self.space.size(),
                                        "evaluations": int(scores.attrs["n_evaluations"]),
                                        "child_spaces": [list(g) for g in self.model.groups], "seconds": seconds})
        self.log(f"stage {stage}: {scores.attrs['n_evaluations']} architectures scored; removed {len(removed)} "
                 f"({', '.join(removed)}); space size {self.space.size():,}; child spaces "
                 f"{groups_before} -> {len(self.model.groups)}")

    def fair_groups(self) -> str | None:
        """How ``--fair`` trained (:class:`FairGroups`): ``strict`` or ``window`` groups; ``None`` without it."""
        if not self.fair:
            return None
        return "strict" if self.sampler.strict else "window"

    def new_optimizer(self) -> None:
        """A fresh SGD and per-iteration linear decay (Sec. 4.3) over the supernet's current parameters."""
        self.optimizer = make_sgd(self.model, self.p.lr, self.p.momentum, self.p.weight_decay)
        self.scheduler = linear_decay(self.optimizer, self.total_steps)

    def _rebuild_optimizer(self, origins: list[tuple[torch.nn.Parameter, torch.nn.Parameter]]) -> None:
        """A new optimizer over the expanded parameters; copies inherit their source's momentum
        (:func:`benchmark.training.inherit_state`); the schedule continues where it was."""
        old, old_sched = self.optimizer, self.scheduler
        self.new_optimizer()
        inherit_state(old, self.optimizer, origins)
        self.scheduler.load_state_dict(old_sched.state_dict())
        for group in self.optimizer.param_groups:
            group["lr"] = old.param_groups[0]["lr"]

    def select(self) -> list[dict[str, Any]]:
        """Eq. 2 per budget: the best supernet accuracy in the budget's window, found by SPOS's evolution or
        among uniform window draws (``selection``); exported as JSON. Each distinct architecture is evaluated
        once (``self.fitness``, shared by the budgets)."""
        p, start, rows = self.p, time.perf_counter(), []
        rng = np.random.default_rng(self.cfg.seed)
        for b, constraint in self.windows.items():
            try:
                found = select_in_window(p.selection, self.space, self.window(constraint), self.fitness,
                                         p.selection_samples, settings_of(p), self.cfg.seed, rng)
            except NasBenchError as e:
                rows.append(budget_failed(b, e, self.log))
                continue
            record = arch_record(found.best, self.skeleton, budget_m=b, window_m=[constraint.lo_m, constraint.hi_m],
                                 supernet_top1=found.fitness, selection=found.record(),
                                 search={"method": self.cfg.method, "preset": p.name, "seed": self.cfg.seed})
            if found.method == "evolution" and is_main(self.dist):
                write_parquet(self.out / f"evolution_{b:g}M.parquet", history_table(found.history))
            rows.append(export_arch(self.out, b, record, {
                "arch": list(found.best), "flops_m": record["flops_m"], "supernet_top1": found.fitness,
                "selection": found.method, "evaluated": found.evaluated},
                f"{found.method} over {found.evaluated} architectures; best has {record['flops_m']:.3f}M FLOPs, "
                f"supernet top-1 {found.fitness:.2f}%", self.dist, self.log))
        self.state["timings"]["select_s"] += time.perf_counter() - start
        return rows

    def run(self) -> dict[str, Any]:
        self.setup()
        p, dist = self.p, self.dist
        train_supernet(self, p.search_epochs, p.log_every, self.after_epoch, p.stage_of_epoch)
        selections = self.select()
        result = {"method": self.cfg.method, "space": "mobilenet", "preset": preset_dict(p), "seed": self.cfg.seed,
                  "world_size": dist.world_size, "budgets_m": list(self.budgets), "criterion": self.criterion_name,
                  "expand": self.expanding, "fair": self.fair, "fair_groups": self.fair_groups(),
                  "final_space_size": self.space.size(),
                  "final_alive": [list(a) for a in self.space.alive], "selections": selections,
                  "selection": {"method": p.selection, "supernet_evaluations": self.fitness.evaluations},
                  "stage_log": self.state["stage_log"], "train_log": self.state["train_log"],
                  "timings": self.state["timings"]}
        if is_main(dist) and self.state["operator_rows"]:
            write_parquet(self.out / "operators.parquet", pd.DataFrame(self.state["operator_rows"]))
        write_result(self.out, result, dist)
        return result


def search_request(request: RunRequest, shrinks: bool) -> dict[str, Any] | None:
    """A search of the MobileNet-like space as ``nasbench run senas|spos --space mobilenet`` (or ``nasbench
    imagenet mobilenet search``) states it, in torchrun's process group; the main process's result."""
    cfg = SearchConfig(method=request.method, preset=request.preset, overrides=request.overrides,
                       data_root=request.data_root, seed=request.seed, device=request.device,
                       budgets_m=request.budgets_m, resume=not request.overwrite,
                       options={**request.senas_options(), "fair": bool(request.fair)})
    return in_process_group(request.device, lambda: _SearchRun(cfg, request.out, shrinks).run())


def selections_summary(result: dict[str, Any]) -> str:
    """One line per FLOPs budget: the architecture file and its FLOPs and supernet accuracy, or why none."""
    return "\n".join(
        f"{row['budget_m']:g}M: " + (f"{row['file']} ({row['flops_m']:.2f}M FLOPs, supernet top-1 "
                                     f"{row['supernet_top1']:.2f}%)" if "file" in row else row["error"])
        for row in result.get("selections", []))


MOBILENET_TAKES = frozenset({"criterion", "normalization", "expand", "fair", "budgets_m"})
SENAS_ON_MOBILENET = SpaceDriver(run=lambda request: search_request(request, shrinks=True),
                                 summary=selections_summary, datasets=("imagenet",), takes=MOBILENET_TAKES)
SPOS_ON_MOBILENET = SpaceDriver(run=lambda request: search_request(request, shrinks=False),
                                summary=selections_summary, datasets=("imagenet",), takes=MOBILENET_TAKES)
