"""``nasbench perf``: supernet training and architecture evaluation throughput, side by side.

In one process, on the same synthetic images and the same architectures, three contenders are timed:

* ``toolkit``: this toolkit with :meth:`FastPath.for_device` (on CPU: exactly the default code path);
* ``eager``:   this toolkit with every optimisation off (:meth:`FastPath.eager`);
* ``compiled`` (with ``--compile``): the toolkit's fast path plus ``compile_ops`` (each operation compiled
  by ``torch.compile``), to decide whether regional compilation pays off for a path that changes every step;
* ``xautodl``: the reference NB201 random-sampling search model, ``TinyNetworkRANDOM`` of the ``xautodl``
  package, stepped as its ``RANDOM-NAS`` search loop does (clip 5, SGD, per-step ``.item()`` logging);
  skipped with a note when ``xautodl`` is not installed.

Training: one random path per step (the same pre-drawn paths for every contender). Evaluation: BatchNorm
recalibration (``bn_policy('recalibrate')``, also around the xautodl model) then the validation images,
for each of several architectures. Contenders alternate within every repeat, after a warm-up; the report
gives median and interquartile range of images/s, ratios of medians, and peak memory; on CPU also images
per CPU second of this process, which other processes' load on a shared machine does not distort.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import importlib.metadata
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.estimation import bn_policy, evaluate_archs
from benchmark.fastpath import FastPath
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.presets import PRESETS
from benchmark.spaces.base import Arch
from benchmark.spaces.nb201 import EDGES, OPS
from benchmark.training import make_optimizer, train_one_epoch

Batch = tuple[torch.Tensor, torch.Tensor]
PAPER_BATCH = 256


@dataclass(frozen=True)
class PerfConfig:
    """What ``nasbench perf`` measures (defaults: the paper's setting, NB201 C=16, N=5, SE-NAS Sec. 4.2 batch 256)."""

    device: str = "cpu"
    batch_size: int = PAPER_BATCH
    C: int = 16
    N: int = 5
    num_classes: int = 10
    steps: int = 10  # training steps per repeat
    eval_archs: int = 16  # architectures per evaluation repeat
    val_images: int = 1000  # validation images per architecture (one batch of at most eval_batch_size)
    eval_batch_size: int = 1000
    recal_batches: int = 2  # recalibration batches (of batch_size images) per architecture
    repeats: int = 5
    warmup: int = 1
    seed: int = 0
    eval_group: int | None = None  # overrides the toolkit's FastPath.eval_group
    threads: int | None = None  # torch CPU threads (default: torch's)
    compile: bool = False  # also time the fast path with compile_ops (contender "compiled")

    def validate(self) -> None:
        for key in ("batch_size", "C", "N", "num_classes", "steps", "eval_archs", "val_images",
                    "eval_batch_size", "recal_batches", "repeats"):
            if getattr(self, key) < 1:
                raise NasBenchError(f"{key} must be at least 1, got {getattr(self, key)}",
                                    f"pass a positive --{key.replace('_', '-')}")
        if self.warmup < 0:
            raise NasBenchError(f"warmup must be >= 0, got {self.warmup}", "pass --warmup 0 or more")
        if self.compile and self.warmup < 1:
            raise NasBenchError("--compile with --warmup 0 would time the compilation itself",
                                "pass --warmup 1 or more")
        if self.threads is not None and self.threads < 1:
            raise NasBenchError(f"threads must be at least 1, got {self.threads}", "pass --threads 1 or more")
        if self.eval_group is not None and self.eval_group < 1:
            raise NasBenchError(f"eval_group must be at least 1, got {self.eval_group}",
                                "pass --eval-group 1 or more")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise NasBenchError("--device cuda asked for, but no CUDA device is available",
                                "use --device cpu")


# ------------------------------------------------------------------------------------------- memory
class PeakMemory:
    """Peak memory of one timed run: CUDA ``max_memory_allocated`` (all live tensors, accelerator), or on
    CPU the growth of the process's peak resident set (Linux ``VmHWM``, reset by ``/proc/self/clear_refs``
    after glibc's ``malloc_trim``)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        libc = None if self.cuda else ctypes.util.find_library("c")
        self._malloc_trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None  # glibc only
        self.kind = ("torch.cuda.max_memory_allocated (accelerator)" if self.cuda
                     else "peak RSS growth (VmHWM after /proc/self/clear_refs; host memory, not accelerator)")
        self.available = self.cuda or self._reset_rss()
        self._start = 0

    @staticmethod
    def _status_kib(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise OSError(f"{field} not in /proc/self/status")

    @staticmethod
    def _reset_rss() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            return True
        except OSError:
            return False

    def start(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        elif self.available:
            if self._malloc_trim is not None:  # return freed heap pages first: reused ones would hide growth
                self._malloc_trim(0)
            self._reset_rss()
            self._start = self._status_kib("VmRSS")

    def peak_mib(self) -> float | None:
        if self.cuda:
            return torch.cuda.max_memory_allocated() / 2**20
        if not self.available:
            return None
        return max(self._status_kib("VmHWM") - self._start, 0) / 1024


# ------------------------------------------------------------------------------------------- contenders
@dataclass
class Contender:
    """One implementation under test: ``train(archs)`` runs one step per architecture, ``evaluate(archs)``
    evaluates each."""

    name: str
    train: Callable[[list[Arch]], None]
    evaluate: Callable[[list[Arch]], None]
    times: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {"train": [], "eval": []})
    cpu_times: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {"train": [], "eval": []})
    peak: dict[str, float | None] = dataclasses.field(default_factory=lambda: {"train": None, "eval": None})


def synthetic(n: int, num_classes: int, generator: torch.Generator, device: torch.device) -> Batch:
    """Normalised-looking images (standard normal) and uniform labels."""
    x = torch.randn(n, 3, 32, 32, generator=generator)
    y = torch.randint(0, num_classes, (n,), generator=generator)
    return x.to(device), y.to(device)


def toolkit_contender(name: str, cfg: PerfConfig, fast: FastPath, device: torch.device, train_batch: Batch,
                      val: list[Batch], recal: list[Batch]) -> Contender:
    """This toolkit's supernet, optimizer, training loop and evaluation under ``fast``."""
    preset = dataclasses.replace(PRESETS["paper"], C=cfg.C, N=cfg.N, batch_size=cfg.batch_size)
    torch.manual_seed(cfg.seed)
    model = fast.prepare_model(NB201Supernet(num_classes=cfg.num_classes, C=cfg.C, N=cfg.N, bn_affine=False,
                                             bn_track=preset.bn_track).to(device))
    optimizer = make_optimizer(model, preset, fast)

    def train(archs: list[Arch]) -> None:
        train_one_epoch(model, iter(archs).__next__, [train_batch] * len(archs), optimizer, preset,
                        first_step=0, total_steps=len(archs), fast=fast)

    def evaluate(archs: list[Arch]) -> None:
        evaluate_archs(model, archs, val, "recalibrate", recal, fast=fast)

    return Contender(name, train, evaluate)


def xautodl_contender(cfg: PerfConfig, device: torch.device, train_batch: Batch, val: list[Batch],
                      recal: list[Batch]) -> Contender:
    """xautodl's ``TinyNetworkRANDOM`` stepped as ``exps/algos/RANDOM-NAS.py``'s ``search_func``; evaluated
    with this toolkit's recalibration (xautodl has none) and its ``valid_func`` loop (``.item()`` per
    batch)."""
    from xautodl.models.cell_searchs import TinyNetworkRANDOM
    from xautodl.models.cell_searchs.genotypes import Structure

    torch.manual_seed(cfg.seed)
    model = TinyNetworkRANDOM(cfg.C, cfg.N, 4, cfg.num_classes, list(OPS), affine=False,
                              track_running_stats=False).to(device)
    p = PRESETS["paper"]
    optimizer = torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay,
                                nesterov=p.nesterov)
    criterion = nn.CrossEntropyLoss()

    def structure(arch: Arch) -> Structure:
        nodes: list[list[tuple[str, int]]] = [[] for _ in range(3)]
        for op, (j, i) in zip(arch, EDGES):
            nodes[j - 1].append((op, i))
        return Structure([tuple(n) for n in nodes])

    def train(archs: list[Arch]) -> None:
        model.train()
        x, y = train_batch
        for arch in archs:
            model.arch_cache = structure(arch)
            optimizer.zero_grad()
            _, logits = model(x)
            loss = criterion(logits, y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5)
            optimizer.step()
            # the reference updates its loss and top-1 meters with .item() every step (a host sync)
            loss.item()
            (logits.argmax(1) == y).float().mean().item()

    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x)[1]

    def evaluate(archs: list[Arch]) -> None:
        for arch in archs:
            model.arch_cache = structure(arch)
            correct = 0
            with bn_policy(model, "recalibrate", forward, recal), torch.no_grad():
                for x, y in val:
                    correct += int((forward(x).argmax(1) == y).sum().item())

    return Contender("xautodl", train, evaluate)


def xautodl_version() -> str | None:
    try:
        import xautodl.models.cell_searchs  # noqa: F401
    except ImportError:
        return None
    try:
        return importlib.metadata.version("xautodl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[list[Arch]], None], archs: list[Arch], device: torch.device,
           memory: PeakMemory) -> tuple[float, float, float | None]:
    """Wall-clock seconds, this process's CPU seconds, and peak memory of ``fn(archs)``."""
    _sync(device)
    memory.start()
    t0, c0 = time.perf_counter(), time.process_time()
    fn(archs)
    _sync(device)
    return time.perf_counter() - t0, time.process_time() - c0, memory.peak_mib()


def _stats(values: list[float]) -> dict[str, Any]:
    q25, med, q75 = np.percentile(values, [25, 50, 75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75), "iqr": float(q75 - q25),
            "runs": [float(v) for v in values]}


def hardware(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def _ratios(results: dict[str, dict[str, Any]], key: str) -> dict[str, float | None]:
    """``toolkit / peer`` of the median ``key`` (a throughput), per phase; ``None`` for a missing peer."""
    ratios: dict[str, float | None] = {}
    for phase in ("train", "eval"):
        ours = results[phase]["toolkit"][key]["median"]
        for peer in ("xautodl", "eager", "compiled"):
            if peer == "compiled" and peer not in results[phase]:
                continue  # measured only with --compile
            theirs = results[phase].get(peer, {}).get(key, {}).get("median")
            ratios[f"{phase}_vs_{peer}"] = ours / theirs if theirs else None
    return ratios


def run_perf(cfg: PerfConfig, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Measure every contender (interleaved, after warm-up) and return the JSON-ready report."""
    cfg.validate()
    threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _run_perf(cfg, log)
    finally:
        torch.set_num_threads(threads)


def _run_perf(cfg: PerfConfig, log: Callable[[str], None]) -> dict[str, Any]:
    from benchmark.methods.base import versions

    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    fast = FastPath.for_device(device)
    if cfg.eval_group is not None:
        fast = fast.replace(eval_group=cfg.eval_group)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_batch = synthetic(cfg.batch_size, cfg.num_classes, gen, device)
    recal = [synthetic(cfg.batch_size, cfg.num_classes, gen, device) for _ in range(cfg.recal_batches)]
    xv, yv = synthetic(cfg.val_images, cfg.num_classes, gen, device)
    val = [(xv[i:i + cfg.eval_batch_size], yv[i:i + cfg.eval_batch_size])
           for i in range(0, cfg.val_images, cfg.eval_batch_size)]
    contenders = [toolkit_contender("toolkit", cfg, fast, device, train_batch, val, recal),
                  toolkit_contender("eager", cfg, FastPath.eager(), device, train_batch, val, recal)]
    if cfg.compile:
        contenders.append(toolkit_contender("compiled", cfg, fast.replace(compile_ops=True), device, train_batch,
                                            val, recal))
    notes = []
    xversion = xautodl_version()
    if xversion is None:
        notes.append("xautodl is not installed: its column is skipped (pip install --no-deps xautodl)")
    else:
        contenders.append(xautodl_contender(cfg, device, train_batch, val, recal))
    if cfg.compile:
        notes.append("compiled: compilation happens in the warm-up; toolkit/compiled below 1x means compiling "
                     "each operation pays off")
    if device.type == "cpu" and cfg.batch_size != PAPER_BATCH:
        notes.append(f"batch {cfg.batch_size} instead of the paper's {PAPER_BATCH}, for CPU speed")
    memory = PeakMemory(device)
    if not memory.available:
        notes.append("peak memory: n/a (no CUDA device and /proc/self/clear_refs is not writable)")

    rng = random.Random(cfg.seed)

    def draw(n: int) -> list[Arch]:
        return [tuple(rng.choice(OPS) for _ in EDGES) for _ in range(n)]

    for r in range(cfg.warmup + cfg.repeats):
        timed = r >= cfg.warmup
        train_archs, eval_archs = draw(cfg.steps), draw(cfg.eval_archs)
        log(f"{'repeat' if timed else 'warm-up'} {r - cfg.warmup + 1 if timed else r + 1}")
        for c in contenders:
            for phase, fn, archs in (("train", c.train, train_archs), ("eval", c.evaluate, eval_archs)):
                seconds, cpu_seconds, peak = _timed(fn, archs, device, memory)
                if timed:
                    c.times[phase].append(seconds)
                    c.cpu_times[phase].append(cpu_seconds)
                    if peak is not None:
                        c.peak[phase] = max(peak, c.peak[phase] or 0.0)

    images = {"train": cfg.steps * cfg.batch_size,
              "eval": cfg.eval_archs * (cfg.recal_batches * cfg.batch_size + cfg.val_images)}
    results: dict[str, dict[str, Any]] = {"train": {}, "eval": {}}
    for c in contenders:
        for phase in ("train", "eval"):
            results[phase][c.name] = {
                "images_per_s": _stats([images[phase] / t for t in c.times[phase]]),
                "images_per_cpu_s": _stats([images[phase] / t for t in c.cpu_times[phase]]),
                "seconds": _stats(c.times[phase]), "cpu_seconds": _stats(c.cpu_times[phase]),
                "peak_memory_mib": c.peak[phase]}
        results["eval"][c.name]["archs_per_s"] = _stats([cfg.eval_archs / t for t in c.times["eval"]])
    ratios = _ratios(results, "images_per_s")
    report = {
        "config": dataclasses.asdict(cfg), "device": str(device), "hardware": hardware(device),
        "versions": {**versions(), "xautodl": xversion}, "fast_path": {"toolkit": fast.describe(),
                                                                      "eager": FastPath.eager().describe()},
        "images_per_repeat": images, "memory_kind": memory.kind, "results": results, "ratios": ratios,
        "notes": notes, "summary": summary_line(ratios, str(device), cfg.batch_size),
    }
    if device.type == "cpu":  # the process's CPU time does not count other processes' load on a shared CPU
        report["ratios_cpu_time"] = _ratios(results, "images_per_cpu_s")
    return report


# ------------------------------------------------------------------------------------------- report
def summary_line(ratios: dict[str, float | None], device: str, batch_size: int) -> str:
    """``summary: train_vs_xautodl=1.23x ... device=cpu batch=256`` (``n/a`` when a peer is missing)."""
    return f"summary: {_ratio_text(ratios)} device={device} batch={batch_size}"


def _ratio_text(ratios: dict[str, float | None]) -> str:
    return " ".join(f"{k}={'n/a' if v is None else f'{v:.2f}x'}" for k, v in ratios.items())


def format_report(report: dict[str, Any]) -> list[str]:
    """The human-readable table: one block per phase, memory, notes, and the summary as the last line."""
    cfg, hw, v = report["config"], report["hardware"], report["versions"]
    cpu_time = "ratios_cpu_time" in report
    where = hw.get("gpu") or f"{hw['cpu']}, {hw['torch_threads']} torch threads"
    lines = [(f"nasbench perf on {report['device']} ({where}); torch {v['torch']}, toolkit {v['toolkit']}, "
              f"xautodl {v['xautodl'] or 'not installed'}"),
             (f"NB201 supernet C={cfg['C']} N={cfg['N']}, {cfg['num_classes']} classes, synthetic 32x32 "
              f"images, batch {cfg['batch_size']}; warm-up {cfg['warmup']}, {cfg['repeats']} repeats, "
              "contenders interleaved"),
             f"toolkit fast path: {report['fast_path']['toolkit']}",
             ("eager: the toolkit with every optimisation off (fp32, NCHW, per-tensor SGD loop, one "
              "architecture at a time)")]
    titles = {"train": f"training: {cfg['steps']} steps per repeat, one random path per step",
              "eval": (f"evaluation: {cfg['eval_archs']} architectures per repeat, each BN-recalibrated on "
                       f"{cfg['recal_batches']} x {cfg['batch_size']} images then run on {cfg['val_images']} "
                       "validation images")}
    for phase in ("train", "eval"):
        header = (f"  {'contender':<10} {'images/s (median)':>18} {'IQR':>8} {'toolkit/it':>11} "
                  f"{'peak MiB':>8}")
        lines += ["", titles[phase], header + (f" {'images/CPU-s':>13}" if cpu_time else "")]
        ours = report["results"][phase]["toolkit"]["images_per_s"]["median"]
        for name, res in report["results"][phase].items():
            s = res["images_per_s"]
            peak = "n/a" if res["peak_memory_mib"] is None else f"{res['peak_memory_mib']:.0f}"
            row = f"  {name:<10} {s['median']:>18.1f} {s['iqr']:>8.1f} {ours / s['median']:>10.2f}x {peak:>8}"
            lines.append(row + (f" {res['images_per_cpu_s']['median']:>13.1f}" if cpu_time else ""))
    lines += ["", f"peak memory: {report['memory_kind']}"]
    if cpu_time:
        lines.append("per CPU second of this process (robust to other processes' load; use --threads 1): "
                     + _ratio_text(report["ratios_cpu_time"]))
    lines += [f"note: {n}" for n in report["notes"]]
    lines.append(report["summary"])
    return lines
