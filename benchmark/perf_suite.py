"""``nasbench perf-suite``: every speed target of docs/performance.md measured in one command, for a short GPU lease.

Four steps, each timed, each allowed to fail on its own (its error is recorded and the next step runs):

1. ``perf``: :func:`benchmark.perf.run_perf` at the paper's setting (SE-NAS Sec. 4.2: batch 256; NB201 C=16,
   N=5) with the ``compiled`` contender: the training ratio against ``xautodl`` (target >= 3x on a GPU) and
   peak memory (target < 4 GB at batch 256), and whether regional ``torch.compile`` pays off;
2. ``eval_space``: NB201 architectures evaluated as the pipeline does (BatchNorm recalibration on 20 batches
   of 256, then 10,000 validation images), first a short trial of each ``eval_group`` size, then the best
   size for as many architectures as the time budget allows; the time for all 15,625 is measured when they
   fit, else projected from the rate (target < 5 minutes);
3. ``senas_paper``: ``nasbench run senas --preset paper`` end to end in a subprocess with a time limit
   (target < 10 minutes). Without the full CIFAR-10 training set under the data root it runs on *timing
   data*: the official file layout filled with random pixels, so its time is real and its accuracies and
   tau are meaningless (the summary says so);
4. ``mobilenet``: MobileNet-like supernet against MobileNetV2 training throughput (the MobileNet search space).

Everything lands in ``--out``: ``suite.json`` (all numbers, hardware, versions), ``summary.md`` (targets
against measurements), ``perf.txt`` and the end-to-end run's directory (timing data goes to a temporary
folder). ``--only`` picks steps; ``--smoke`` shrinks every step to CPU size: it checks the plumbing and
measures nothing.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.errors import NasBenchError
from benchmark.estimation import evaluate_archs
from benchmark.fastpath import FastPath
from benchmark.io import atomic_path, write_json
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.paths import data_root
from benchmark.perf import PerfConfig, format_report, hardware, run_perf, synthetic
from benchmark.spaces.nb201 import GT_TABLE, nb201_space

FULL_SPACE = 15_625
TARGETS = {"train_vs_xautodl": 3.0, "train_memory_mib": 4096.0, "eval_space_s": 300.0, "senas_paper_s": 600.0}


@dataclass(frozen=True)
class SuiteConfig:
    """Sizes and time budgets of the suite (defaults: one H200 within a 15-minute lease)."""

    out: Path
    device: str = "cuda"
    smoke: bool = False
    eval_budget_s: float = 90.0
    senas_budget_s: float = 240.0
    data_root: str | None = None
    groundtruth: str | None = None
    only: tuple[str, ...] = ()  # run just these steps (default: all)

    def validate(self) -> None:
        unknown = [s for s in self.only if s not in STEPS]
        if unknown:
            raise NasBenchError(f"unknown perf-suite step(s) {', '.join(unknown)}",
                                f"choose from: {', '.join(STEPS)}")
        if self.eval_budget_s <= 0 or self.senas_budget_s <= 0:
            raise NasBenchError("time budgets must be positive", "pass positive --eval-budget/--senas-budget")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise NasBenchError("perf-suite asked for CUDA, but no CUDA device is available",
                                "run it on a GPU machine, or pass --device cpu --smoke to check the plumbing")


# ------------------------------------------------------------------------------------------- steps
def step_perf(cfg: SuiteConfig) -> dict[str, Any]:
    """Training and evaluation ratios and memory at the paper's setting, with the compiled contender."""
    perf_cfg = PerfConfig(device=cfg.device, compile=True)
    if cfg.smoke:
        perf_cfg = dataclasses.replace(perf_cfg, batch_size=8, C=4, N=1, steps=1, eval_archs=1, val_images=16,
                                       eval_batch_size=16, recal_batches=1, repeats=1, threads=1)
    report = run_perf(perf_cfg)
    with atomic_path(cfg.out / "perf.txt") as tmp:
        tmp.write_text("\n".join(format_report(report)) + "\n")
    toolkit = report["results"]["train"]["toolkit"]
    return {"ratios": report["ratios"], "train_memory_mib": toolkit["peak_memory_mib"],
            "memory_kind": report["memory_kind"], "summary": report["summary"], "report": report}


def step_eval_space(cfg: SuiteConfig) -> dict[str, Any]:
    """Architectures per second of the pipeline's evaluation for several ``eval_group`` sizes, then the
    best size on as much of the space as the budget allows (all of it when it fits)."""
    device = torch.device(cfg.device)
    C, N, batch, recal_n, val_n, trial, groups = ((4, 1, 8, 1, 32, 4, (1, 2)) if cfg.smoke
                                                  else (16, 5, 256, 20, 10_000, 64, (1, 16, 64)))
    gen = torch.Generator().manual_seed(0)
    recal = [synthetic(batch, 10, gen, device) for _ in range(recal_n)]
    xv, yv = synthetic(val_n, 10, gen, device)
    val = [(xv[i:i + 1000], yv[i:i + 1000]) for i in range(0, val_n, 1000)]
    base = FastPath.for_device(device)
    torch.manual_seed(0)
    # cell BatchNorm as the `paper` preset trains it: non-affine, no running statistics
    model = base.prepare_model(NB201Supernet(C=C, N=N, bn_affine=False, bn_track=False).to(device))
    archs = list(nb201_space().enumerate())

    def timed(fast: FastPath, chunk: list) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        evaluate_archs(model, chunk, val, "recalibrate", recal, fast=fast)  # reads the device: synchronised
        return time.perf_counter() - t0

    timed(base, archs[:2])  # warm-up (cuDNN autotuning)
    rates = {}
    for g in groups:
        rates[g] = trial / timed(base.replace(eval_group=g), archs[:trial])
    best = max(rates, key=rates.get)
    fast = base.replace(eval_group=best)
    done, seconds = 0, 0.0
    chunk = max(trial, best)
    while done < len(archs) and seconds < cfg.eval_budget_s and not (cfg.smoke and done >= 2 * trial):
        part = archs[done:done + chunk]
        seconds += timed(fast, part)
        done += len(part)
    rate = done / seconds
    return {"archs_per_s_by_group": {str(g): r for g, r in rates.items()}, "best_group": best,
            "archs_evaluated": done, "seconds": seconds, "archs_per_s": rate,
            "full_space_s": seconds if done == len(archs) else FULL_SPACE / rate,
            "full_space_measured": done == len(archs),
            "setting": {"C": C, "N": N, "recal_batches": recal_n, "batch": batch, "val_images": val_n}}


def step_senas_paper(cfg: SuiteConfig) -> dict[str, Any]:
    """The ``paper`` preset SE-NAS run end to end, in a subprocess under ``senas_budget_s``."""
    root = data_root(cfg.data_root)
    real = all((root / "cifar10" / f"data_batch_{k}").is_file() for k in range(1, 6))
    with tempfile.TemporaryDirectory(prefix="nasbench-timing-data-") as tmp:
        run_root = root
        if not real:
            run_root = Path(tmp)
            write_timing_cifar10(run_root / "cifar10", per_batch=64 if cfg.smoke else 10_000)
        return _senas_paper(cfg, run_root, real, cfg.groundtruth or str(root / GT_TABLE))


def _senas_paper(cfg: SuiteConfig, run_root: Path, real: bool, gt: str) -> dict[str, Any]:
    run_dir = cfg.out / "senas_paper"
    # tau at the end only: the target covers training, scoring and the final ranking
    sets = (["max_train=128", "n_val=64", "max_val=32", "batch_size=32", "tau_epochs=4"] if cfg.smoke
            else ["tau_epochs=40"])
    cmd = [sys.executable, "-c", "from benchmark.cli import main; main()", "run", "senas",
           "--preset", "tiny" if cfg.smoke else "paper", *(a for kv in sets for a in ("--set", kv)),
           "--device", cfg.device, "--data-root", str(run_root), "--gt", gt, "--out", str(run_dir),
           "--quiet", "--json"]
    data_note = ("timing data (random pixels in the CIFAR-10 layout): accuracies and tau are meaningless"
                 if not real else "real CIFAR-10")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.senas_budget_s, check=False)
    except subprocess.TimeoutExpired:
        return {"finished": False, "seconds": time.perf_counter() - t0, "timing_data": not real,
                "note": f"did not finish within {cfg.senas_budget_s:.0f} s ({data_note})"}
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"nasbench run failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    result = json.loads(proc.stdout)
    return {"finished": True, "seconds": seconds, "timings_s": result["timings_s"], "timing_data": not real,
            "tau": result["tau"] if real else None, "fast_path": result.get("fast_path"),
            "note": f"{sets[-1]} (tau at the end only); {data_note}"}


def step_mobilenet(cfg: SuiteConfig) -> dict[str, Any]:
    """MobileNet-like supernet against MobileNetV2 training images/s."""
    from benchmark.imagenet.perf import mobilenet_throughput

    batch, steps, size = (2, 1, 64) if cfg.smoke else (256, 30, 224)
    runs = {m: mobilenet_throughput(cfg.device, batch, steps, model=m, input_size=size,
                                    warmup=1 if cfg.smoke else 5) for m in ("supernet", "mobilenetv2")}
    ratio = runs["supernet"]["images_per_s"] / runs["mobilenetv2"]["images_per_s"]
    return {**runs, "supernet_vs_mobilenetv2": ratio}


STEPS: dict[str, Callable[[SuiteConfig], dict[str, Any]]] = {
    "perf": step_perf, "eval_space": step_eval_space, "senas_paper": step_senas_paper,
    "mobilenet": step_mobilenet}


# ------------------------------------------------------------------------------------------- driver
def write_timing_cifar10(folder: Path, per_batch: int) -> None:
    """The official CIFAR-10 pickle layout (5 training batches and a test batch) filled with random
    pixels and labels: the full-size input for timing a run where only part of CIFAR-10 is at hand."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist()}
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(pickle.dumps(entry))


def run_suite(cfg: SuiteConfig, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run every step (a failing step is recorded, not fatal) and write ``suite.json`` and ``summary.md``."""
    from benchmark.methods.base import versions

    cfg.validate()
    cfg.out.mkdir(parents=True, exist_ok=True)
    suite: dict[str, Any] = {"device": cfg.device, "smoke": cfg.smoke, "versions": versions(), "steps": {},
                             "hardware": hardware(torch.device(cfg.device))}
    for name, step in STEPS.items():
        if cfg.only and name not in cfg.only:
            continue
        log(f"perf-suite: {name} ...")
        t0 = time.perf_counter()
        try:
            suite["steps"][name] = {"ok": True, **step(cfg)}
        except Exception as e:  # noqa: BLE001 -- recorded: one broken step must not lose the others' numbers
            suite["steps"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                    "traceback": traceback.format_exc()}
        suite["steps"][name]["step_wall_s"] = time.perf_counter() - t0
        log(f"perf-suite: {name} {'done' if suite['steps'][name]['ok'] else 'FAILED'} "
            f"in {suite['steps'][name]['step_wall_s']:.0f} s")
        write_json(cfg.out / "suite.json", suite)  # after every step: a lease that ends early keeps the rest
    with atomic_path(cfg.out / "summary.md") as tmp:
        tmp.write_text("\n".join(summary_table(suite)) + "\n")
    return suite


def summary_table(suite: dict[str, Any]) -> list[str]:
    """The speed targets (docs/performance.md) against the measurements, as a Markdown table."""
    s = suite["steps"]
    hw = suite["hardware"]

    def get(step: str, *keys: str) -> Any:
        value: Any = s.get(step, {})
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        return value

    def row(what: str, value: float | None, target: float, fmt: str, higher_is_better: bool) -> str:
        if value is None:
            return f"| {what} | not measured | {fmt.format(target)} | – |"
        met = value >= target if higher_is_better else value < target
        return f"| {what} | {fmt.format(value)} | {fmt.format(target)} | {'yes' if met else 'no'} |"

    eval_note = "measured" if get("eval_space", "full_space_measured") else "projected from the rate"
    senas_s = get("senas_paper", "seconds") if get("senas_paper", "finished") else None
    smoke = "**Smoke run: sizes shrunk to check the plumbing; the numbers mean nothing.**"
    heading = smoke if suite["smoke"] else f"torch {suite['versions']['torch']}; targets from docs/performance.md."
    lines = [f"# nasbench perf-suite on {hw.get('gpu') or hw['cpu']} ({suite['device']})", "", heading, "",
             "| target | measured | goal | met |", "|---|---|---|---|",
             row("supernet training vs xautodl (batch 256, C=16, N=5)",
                 get("perf", "ratios", "train_vs_xautodl"), TARGETS["train_vs_xautodl"], "{:.2f}x", True),
             row("peak accelerator memory, training at batch 256 (MiB)", get("perf", "train_memory_mib"),
                 TARGETS["train_memory_mib"], "{:.0f}", False),
             row(f"all 15,625 architectures evaluated, s ({eval_note})", get("eval_space", "full_space_s"),
                 TARGETS["eval_space_s"], "{:.0f}", False),
             row("SE-NAS `paper` preset end to end, s", senas_s, TARGETS["senas_paper_s"], "{:.0f}", False),
             ""]
    for name, step in s.items():
        if not step["ok"]:
            lines.append(f"- step `{name}` failed: {step['error']}")
        elif step.get("note"):
            lines.append(f"- step `{name}`: {step['note']}")
    compile_ratio = get("perf", "ratios", "train_vs_compiled")
    if compile_ratio is not None:
        lines.append(f"- regional torch.compile: toolkit/compiled = {compile_ratio:.2f}x in training, "
                     f"{get('perf', 'ratios', 'eval_vs_compiled'):.2f}x in evaluation "
                     "(below 1x: compiling pays off)")
    if get("mobilenet", "supernet_vs_mobilenetv2") is not None:
        lines.append(f"- MobileNet supernet vs MobileNetV2 training throughput: "
                     f"{get('mobilenet', 'supernet_vs_mobilenetv2'):.2f}x")
    return lines
