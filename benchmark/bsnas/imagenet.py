"""BS-NAS on ImageNet (``nasbench imagenet mobilenet search --method bsnas``): the spring supernet of Table 1
trained with fair sampling and step-shrinking (Sec. 3.1-3.2), then an evolutionary search per FLOPs budget
in the shrunk space (Sec. 3.3), exported as ``arch_<budget>M.json``; :func:`retrain` trains an exported
architecture from scratch with the supernet's hyperparameters (Sec. 4.1).

Optimiser (Sec. 4.1): SGD momentum 0.9, weight decay 4e-5, lr 0.045 with a linear warm-up over 5 epochs and
one cosine cycle, per iteration. Supernet accuracy (rating samples and evolution fitness) is top-1 on a
fixed part of the held-out images with the tracked BatchNorm statistics (the paper recalculates none;
``bn_eval=recalibrate`` re-estimates them per architecture). Several processes split the evaluations. Every epoch
ends with an atomic checkpoint; a run resumes from it. Outputs: ``result.json``, ``operators.parquet``
(R_i per step), ``samples.parquet`` (Fig. 5), ``evolution_<budget>M.parquet`` and the architecture files.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmark.bsnas.presets import get_preset
from benchmark.bsnas.step_shrinking import (
    SAMPLE_COLUMNS,
    ShrinkSchedule,
    SpringFairSampler,
    sample_rows,
    shrinking_step,
)
from benchmark.data.imagenet import scan_imagenet
from benchmark.distributed import DistInfo, all_reduce_sum, is_main
from benchmark.errors import NasBenchError
from benchmark.estimation import evaluate_arch
from benchmark.fastpath import FastPath
from benchmark.imagenet.config import SearchConfig
from benchmark.imagenet.driver import (
    RunLog,
    budget_failed,
    check_steps,
    export_arch,
    imagenet_root,
    in_process_group,
    read_arch_record,
    search_images,
    search_intro,
    search_settings,
    split_record,
    train_loader,
    write_config,
    write_result,
)
from benchmark.imagenet.retrain import RetrainConfig, train_from_scratch
from benchmark.imagenet.search import cached_images, selections_summary
from benchmark.imagenet.train import (
    fast_settings,
    load_checkpoint,
    make_sgd,
    place,
    save_checkpoint,
    train_supernet,
    wrap_ddp,
)
from benchmark.io import write_parquet
from benchmark.methods.driver import RunRequest, SpaceDriver
from benchmark.models.complexity import count_params
from benchmark.models.spring import SpringNetwork, SpringSupernet, build_network
from benchmark.search.constraints import FlopsConstraint
from benchmark.search.evolution import evolutionary_search, history_table
from benchmark.spaces.base import Arch
from benchmark.spaces.mobilenet_bsnas import (
    Cluster,
    SpringConfig,
    SpringSpace,
    arch_flops,
    check_arch,
    flops_range,
    op_name,
    parse_op,
    spring_space,
)

ARCH_FORMAT = 1
SPACE = "mobilenet-bsnas"
Batches = list[tuple[torch.Tensor, torch.Tensor]]


# ------------------------------------------------------------------------------------------ schedule
def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
                  ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the base lr over ``warmup_steps`` (Goyal et al.), then one cosine cycle to 0 over the
    remaining steps (Loshchilov and Hutter), per iteration (BS-NAS Sec. 4.1). Resume by loading the
    optimizer's and then this scheduler's state into freshly built ones."""

    def factor(t: int) -> float:
        if t < warmup_steps:
            return (t + 1) / warmup_steps
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (t - warmup_steps) / max(total_steps - warmup_steps, 1))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ------------------------------------------------------------------------------------ architectures
def config_dict(cfg: SpringConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_from_dict(d: dict[str, Any]) -> SpringConfig:
    clusters = tuple(Cluster(tuple(c["widths"]), c["blocks"], c["stride"], c.get("spring")) for c in d["clusters"])
    return SpringConfig(clusters, d["stem"], d["separable"], tuple(d["kernels"]), tuple(d["expansions"]), d["last"])


def table1_arch(cfg: SpringConfig, arch: Arch) -> Arch:
    """``arch`` at Table 1's widths: each cluster's width choice mapped by its position (identity at width 1)."""
    paper = SpringConfig()
    out = []
    for op, ci in zip(arch, cfg.block_cluster()):
        k, t, w = parse_op(op)
        out.append(op_name(k, t, paper.clusters[ci].widths[cfg.clusters[ci].widths.index(w)]))
    return tuple(out)


def arch_record(cfg: SpringConfig, arch: Arch, input_size: int, num_classes: int, **extra: Any) -> dict[str, Any]:
    """A readable, self-contained description of ``arch``: its supernet configuration, per-block choices,
    FLOPs at the search resolution and, at Table 1's widths, 224 px and 1000 classes (the paper's unit),
    and parameters in that unit."""
    arch = check_arch(cfg, arch)
    paper_arch = table1_arch(cfg, arch)
    with torch.device("meta"):  # shapes only
        params = count_params(SpringNetwork(SpringConfig(), paper_arch, 1000))
    blocks = [{"block": f"b{i}", "op": op, "kernel": k, "expansion": t, "width": w}
              for i, (op, (k, t, w)) in enumerate(zip(arch, map(parse_op, arch)), start=1)]
    return {"format": ARCH_FORMAT, "space": SPACE, "arch": list(arch), "config": config_dict(cfg),
            "flops_m": arch_flops(cfg, arch, input_size, num_classes) / 1e6,
            "flops_m_imagenet224": arch_flops(SpringConfig(), paper_arch, 224, 1000) / 1e6,
            "params_m_imagenet224": params / 1e6, "input_size": input_size, "num_classes": num_classes,
            **extra, "blocks": blocks}


def read_arch(path: str | os.PathLike) -> tuple[SpringConfig, Arch]:
    """The supernet configuration and architecture of an exported ``arch_<budget>M.json``, checked."""
    record = read_arch_record(path, SPACE, "nasbench imagenet mobilenet search --method bsnas", ("arch", "config"))
    cfg = config_from_dict(record["config"])
    return cfg, check_arch(cfg, record["arch"])


def budget_constraints(budgets: tuple[float, ...], tolerance: float, cfg: SpringConfig, space: SpringSpace,
                       input_size: int, num_classes: int) -> dict[float, FlopsConstraint]:
    """``[b * (1 - tol), b]`` per budget; a one-line error when it misses the space's exact FLOPs range."""
    lo, hi = (f / 1e6 for f in flops_range(cfg, space, input_size, num_classes))
    out = {}
    for b in budgets:
        c = FlopsConstraint(b * (1 - tolerance), b, lambda a: arch_flops(cfg, a, input_size, num_classes) / 1e6)
        if c.hi_m < lo or c.lo_m > hi:
            raise NasBenchError(
                f"no architecture of the {'shrunk ' if space.size() < spring_space(cfg).size() else ''}{SPACE} "
                f"space meets the FLOPs budget {b:g}M (window {c.lo_m:g}-{c.hi_m:g}M): it spans {lo:.3f}-{hi:.3f}M "
                f"at {input_size} px and {num_classes} classes",
                "choose budgets inside that range (--flops) or widen budget_tolerance")
        out[b] = c
    return out


# ------------------------------------------------------------------------------------------ search
class SupernetAccuracy:
    """Supernet top-1 (percent) of architectures on the cached held-out batches, split over processes."""

    def __init__(self, model: SpringSupernet, val: Batches, recal: Batches, policy: str, dist: DistInfo,
                 fast: FastPath):
        self.model, self.val, self.recal, self.policy, self.dist, self.fast = model, val, recal, policy, dist, fast

    def __call__(self, archs: list[Arch]) -> np.ndarray:
        acc = torch.zeros(len(archs), dtype=torch.float64, device=self.dist.device)
        for i in range(self.dist.rank, len(archs), self.dist.world_size):
            acc[i] = evaluate_arch(self.model, archs[i], self.val, self.policy, self.recal, self.fast)
        return all_reduce_sum(acc, self.dist).cpu().numpy()


class _BSNASRun:
    def __init__(self, cfg: SearchConfig, out: Path):
        self.cfg, self.out = cfg, out
        self._evaluator: SupernetAccuracy | None = None

    def setup(self) -> None:
        cfg = self.cfg
        dist, p, self.budgets, self.batch = search_settings(cfg, get_preset)
        self.dist, self.p = dist, p
        index = scan_imagenet(imagenet_root(cfg.data_root))
        self.classes = len(index.classes)
        self.spring = p.spring_config()
        self.space = spring_space(self.spring)
        self.schedule = ShrinkSchedule(p.keep, p.first_epochs, p.interval, p.samples_per_op)
        self.schedule.check(self.space)
        self.windows = budget_constraints(self.budgets, p.budget_tolerance, self.spring, self.space, p.input_size,
                                          self.classes)
        self.train_list, self.held_out = search_images(index, p.n_val, p.max_train_images, cfg.seed)
        self.log = RunLog(self.out, dist)
        identity = {"method": "bsnas", "preset": dataclasses.asdict(p), "seed": cfg.seed,
                    "budgets_m": list(self.budgets)}
        write_config(self.out, identity, dist, cfg.resume,
                     {"split.json": split_record(index, cfg.seed, p.n_val, self.train_list, self.held_out)})
        self.loader = train_loader(self.train_list, p, self.batch, cfg.seed, dist)
        self.steps_per_epoch = check_steps(len(self.train_list), self.batch, dist.world_size)
        total = p.search_epochs * self.steps_per_epoch
        self.autocast, self.channels_last = fast_settings(dist.device)
        torch.manual_seed(cfg.seed)
        self.model = place(SpringSupernet(self.spring, self.classes), dist.device, self.channels_last)
        self.optimizer = make_sgd(self.model, p.lr, p.momentum, p.weight_decay)
        self.scheduler = warmup_cosine(self.optimizer, p.warmup_epochs * self.steps_per_epoch, total)
        self.sampler = SpringFairSampler(self.space, cfg.seed)
        self.state: dict[str, Any] = {"epoch": 0, "train_log": [], "operator_rows": [], "samples": [], "steps": [],
                                      "timings": {"train_s": 0.0, "shrink_s": 0.0, "search_s": 0.0}}
        ckpt = load_checkpoint(self.out / "checkpoint.pt", dist.device, self.log) if cfg.resume else None
        if ckpt is not None:
            self.space.restrict(ckpt["alive"])
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])  # its lr is the next step's: no scheduler rebuild
            self.scheduler.load_state_dict(ckpt["scheduler"])
            self.sampler.load_state_dict(ckpt["sampler"])
            self.state = ckpt["state"]
            self.log(f"resumed after epoch {self.state['epoch']} (space size {self.space.size():,})")
        self.ddp = wrap_ddp(self.model, dist, find_unused_parameters=True)
        self.step_after = {e: i + 1 for i, e in enumerate(self.schedule.step_epochs())}
        self.log(search_intro(f"bsnas on {SPACE}", self.train_list, self.held_out, dist, self.batch, p.search_epochs,
                              f"shrinking after epochs {sorted(self.step_after)} to N_r = {list(p.keep[1:])}"))

    def checkpoint(self) -> None:
        save_checkpoint(self.out / "checkpoint.pt", {
            "model": self.model.state_dict(), "alive": [list(a) for a in self.space.alive],
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "sampler": self.sampler.state_dict(), "state": self.state}, self.dist)

    def evaluator(self) -> SupernetAccuracy:
        """Supernet accuracy, built on first use: held-out (and recalibration) images decoded once, on device."""
        if self._evaluator is None:
            p = self.p
            val = cached_images(self.held_out, p.score_images, p, self.cfg.seed, self.dist, self.autocast)
            recal = (cached_images(self.train_list, p.recal_images, p, self.cfg.seed, self.dist, self.autocast)
                     if p.bn_eval == "recalibrate" else [])
            fast = FastPath(autocast_dtype=self.autocast, channels_last=self.channels_last)
            self._evaluator = SupernetAccuracy(self.model, val, recal, p.bn_eval, self.dist, fast)
        return self._evaluator

    def fmt(self, arch: Arch) -> str:
        return ",".join(arch)

    # ------------------------------------------------------------------ Algorithm 1, lines 4-16
    def shrink(self, step: int) -> None:
        start, keep_n = time.perf_counter(), self.schedule.keep[step]
        size_before = self.space.size()
        result = shrinking_step(self.space, self.evaluator(), keep_n, self.schedule.M,
                                seed=self.cfg.seed * 1000 + step, batch_size=self.p.eval_batch_size)
        self.state["samples"] += sample_rows(result.archs, result.acc, step=step - 1, epoch=self.state["epoch"],
                                             phase="rating", space_size=size_before, fmt=self.fmt)
        for r in result.ratings.itertuples():
            self.state["operator_rows"].append({
                "step": step, "slot": int(r.slot), "block": self.space.slots[int(r.slot)], "op": r.op,
                "R": float(r.R), "n_samples": int(r.n_samples), "n_top": int(r.n_top), "n_bottom": int(r.n_bottom),
                "removed": bool(r.removed)})
        seconds = time.perf_counter() - start
        self.state["timings"]["shrink_s"] += seconds
        self.state["steps"].append({"step": step, "epoch": self.state["epoch"], "N_r": keep_n,
                                    "evaluations": result.n_evaluations, "space_size": self.space.size(),
                                    "alive_per_block": [len(a) for a in self.space.alive], "seconds": seconds})
        self.sampler.space_changed()
        self.log(f"shrinking step {step} (N_r={keep_n}): {result.n_evaluations} architectures rated; "
                 f"{int(result.ratings['removed'].sum())} operations turned off; alive per block "
                 f"{[len(a) for a in self.space.alive]}; space size {self.space.size():,}")

    # ------------------------------------------------------------------ Sec. 3.3 and Fig. 5
    def final_draw(self) -> None:
        """``fig5_samples`` distinct architectures of the final space and their supernet accuracy."""
        rng = random.Random(f"fig5-{self.cfg.seed}")
        n = min(self.p.fig5_samples, self.space.size())
        drawn: dict[Arch, None] = {}
        while len(drawn) < n:
            drawn[self.space.sample(rng)] = None
        archs = list(drawn)
        self.state["samples"] += sample_rows(archs, self.evaluator()(archs), step=self.schedule.steps,
                                             epoch=self.state["epoch"], phase="final", space_size=self.space.size(),
                                             fmt=self.fmt)

    def search(self) -> list[dict[str, Any]]:
        """Evolution in the shrunk space under each budget; the best exported as ``arch_<budget>M.json``."""
        p, start, rows = self.p, time.perf_counter(), []
        for b, constraint in self.windows.items():
            try:
                budget_constraints((b,), p.budget_tolerance, self.spring, self.space, p.input_size, self.classes)
                found = evolutionary_search(self.space, self.evaluator(), [constraint], p.population, p.iterations,
                                            p.topk, p.n_crossover, p.n_mutation, p.mutation_prob, seed=self.cfg.seed)
            except NasBenchError as e:
                rows.append(budget_failed(b, e, self.log))
                continue
            record = arch_record(self.spring, found.best, p.input_size, self.classes, budget_m=b,
                                 window_m=[constraint.lo_m, constraint.hi_m], supernet_top1=found.best_fitness,
                                 evaluated=len(found.history),
                                 search={"method": "bsnas", "preset": p.name, "seed": self.cfg.seed})
            if is_main(self.dist):
                write_parquet(self.out / f"evolution_{b:g}M.parquet", history_table(found.history))
            rows.append(export_arch(self.out, b, record, {
                "arch": list(found.best), "flops_m": record["flops_m"],
                "flops_m_imagenet224": record["flops_m_imagenet224"], "supernet_top1": found.best_fitness},
                f"evolution over {len(found.history)} architectures; best has {record['flops_m']:.3f}M FLOPs, "
                f"supernet top-1 {found.best_fitness:.2f}%", self.dist, self.log))
        self.state["timings"]["search_s"] += time.perf_counter() - start
        return rows

    def after_epoch(self, epoch: int) -> None:
        """Algorithm 1, line 4: a shrinking step after the schedule's epochs."""
        if epoch + 1 in self.step_after:
            self.shrink(self.step_after[epoch + 1])

    def run(self) -> dict[str, Any]:
        self.setup()
        p, dist = self.p, self.dist
        train_supernet(self, p.search_epochs, p.log_every, self.after_epoch)
        self.final_draw()
        selections = self.search()
        result = {"method": "bsnas", "space": SPACE, "preset": dataclasses.asdict(p), "seed": self.cfg.seed,
                  "world_size": dist.world_size, "budgets_m": list(self.budgets), "config": config_dict(self.spring),
                  "schedule": {"N_r": list(p.keep), "T_f": p.first_epochs, "T_i": p.interval,
                               "M": p.samples_per_op},
                  "bn_eval": p.bn_eval,
                  "final_space_size": self.space.size(), "final_alive": [list(a) for a in self.space.alive],
                  "selections": selections, "shrinking_steps": self.state["steps"],
                  "train_log": self.state["train_log"], "timings": self.state["timings"]}
        if is_main(dist):
            write_parquet(self.out / "operators.parquet", pd.DataFrame(self.state["operator_rows"], columns=[
                "step", "slot", "block", "op", "R", "n_samples", "n_top", "n_bottom", "removed"]))
            write_parquet(self.out / "samples.parquet", pd.DataFrame(self.state["samples"], columns=SAMPLE_COLUMNS))
        write_result(self.out, result, dist)
        return result


def search_request(request: RunRequest) -> dict[str, Any] | None:
    """BS-NAS on its spring space as ``nasbench run bsnas --space mobilenet-bsnas`` (or ``nasbench imagenet
    mobilenet search --method bsnas``) states it, in torchrun's process group: spring supernet, fair
    sampling, step-shrinking by R_i, evolution under FLOPs budgets; the main process's result."""
    cfg = SearchConfig(method=request.method, preset=request.preset, overrides=request.overrides,
                       data_root=request.data_root, seed=request.seed, device=request.device,
                       budgets_m=request.budgets_m, resume=not request.overwrite)
    return in_process_group(request.device, lambda: _BSNASRun(cfg, request.out).run())


BSNAS_ON_SPRING = SpaceDriver(run=search_request, summary=selections_summary, datasets=("imagenet",),
                              takes=frozenset({"budgets_m"}))


# ------------------------------------------------------------------------------------------ retrain
def retrain(cfg: RetrainConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train an exported BS-NAS architecture from scratch with the supernet's hyperparameters (Sec. 4.1:
    SGD 0.9, warm-up then cosine, lr 0.045, weight decay 4e-5, batch 512) on every image of ``train/``;
    top-1/top-5 on ``val/`` after every epoch. Returns (and writes) ``result.json``."""
    spring, arch = read_arch(cfg.arch_path)
    p = get_preset(cfg.preset, dict(cfg.overrides))
    identity = {"arch": list(arch), "config": config_dict(spring), "preset": dataclasses.asdict(p), "seed": cfg.seed}
    return train_from_scratch(
        cfg, out_dir, p, arch, identity, build=lambda classes: build_network(spring, arch, classes),
        schedule=lambda optimizer, steps: warmup_cosine(optimizer, min(p.warmup_epochs, p.retrain_epochs) * steps,
                                                        p.retrain_epochs * steps),
        record=lambda classes: arch_record(spring, arch, p.input_size, classes))
