"""How long the ``paper`` preset takes on a CPU, estimated before it starts: a warning, not a refusal.

The paper preset is SE-NAS's GPU setting (Sec. 4.2: 2 stages x 20 epochs on 45,000 CIFAR images, batch
256, every architecture of the space ranked; NB201's 200-epoch protocol for standalone training). The
estimate is images x seconds per image, for training and for evaluation:

* seconds per image are measured here and now, in a few seconds, with the run's thread count: one training
  step of the preset's supernet (C, N) on :data:`MEASURE_BATCH` synthetic 32x32 images, timed over two
  random paths after an untimed one, and the evaluation of two architectures (BatchNorm recalibration on
  one batch, then one validation batch of that size), scaled linearly to the run's images (on 2 CPU cores
  the cost per image at batch 128 was within the run-to-run noise, about 30%, of that at batch 32);
* training images: epochs x the batches of an epoch x batch size, from the dataset's size and the preset's
  split (``n_val``, ``max_train``);
* evaluated images, a lower bound: each ranking at a ``tau_epochs`` epoch that the space cannot have
  shrunk before (every one for SPOS, those of the first stage for SE-NAS and BS-NAS) covers ``rank_archs``
  or the whole space, each architecture on ``recal_batches`` x ``batch_size`` recalibration images and
  the validation images. Later rankings, operator scores and the like-for-like pairing add more.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.presets import Preset
from benchmark.progress import duration
from benchmark.spaces.nb201 import EDGES, NUM_ARCHS, OPS
from benchmark.standalone import StandalonePreset

MEASURE_BATCH = 32
# training and test images of each dataset (CIFAR-10/100: Krizhevsky 2009; ImageNet16-120: NB201 Sec. 2.2)
DATASET_IMAGES = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000),
                  "imagenet16-120": (151_700, 6_000)}
SHRINKING = ("senas", "bsnas")  # methods whose later rankings cover a shrunk space
CPU_PRESETS = "--preset cpu (10-15 minutes a run on 2 cores) or --preset tiny"


@dataclass(frozen=True)
class Rates:
    """Seconds per image on this machine: one training image (forward and backward) and one evaluated image
    (forward only), and how they were measured."""

    train_s: float
    eval_s: float
    how: str


@dataclass(frozen=True)
class Workload:
    """Images one run trains on and evaluates (a lower bound for the latter)."""

    train_images: int
    eval_images: int
    rankings: int = 0
    archs: int = 0


def _split_sizes(dataset: str, split: str, n_val: int = 0) -> tuple[int, int, int]:
    """Training, validation and test images of ``dataset`` under ``split`` (``benchmark.data.splits``)."""
    train, test = DATASET_IMAGES[dataset]
    if split == "senas":  # validation images drawn from the training set (SE-NAS Sec. 4.1)
        return train - n_val, n_val, test
    if dataset == "cifar10":  # NB201's cifar10-valid: the training set halved
        return train // 2, train // 2, test
    return train, test // 2, test // 2  # NB201's x-valid / x-test: the test set halved


def _cap(n: int, cap: int | None) -> int:
    return n if cap is None else min(n, cap)


def oneshot_workload(p: Preset, dataset: str, method: str) -> Workload:
    """The images of one NB201 one-shot run of ``method`` with preset ``p``."""
    n_train, n_val, _ = _split_sizes(dataset, p.split, p.n_val)
    n_train, n_val = _cap(n_train, p.max_train), _cap(n_val, p.max_val)
    train = p.total_epochs * (n_train // p.batch_size) * p.batch_size
    rankings = sum(1 for e in p.tau_epochs if method not in SHRINKING or e <= p.epochs_per_stage)
    archs = min(p.rank_archs or NUM_ARCHS, NUM_ARCHS)
    per_arch = p.recal_batches * p.batch_size + n_val
    return Workload(train, rankings * archs * per_arch, rankings, archs)


def standalone_workload(p: StandalonePreset, dataset: str) -> Workload:
    """The images of one standalone training run (NB201 protocol) with preset ``p``: its epochs, then one
    evaluation of the valid and test splits."""
    n_train, n_val, n_test = _split_sizes(dataset, "nb201")
    n_train = _cap(n_train, p.max_train)
    return Workload(p.epochs * (n_train // p.batch_size) * p.batch_size,
                    _cap(n_val, p.max_val) + _cap(n_test, p.max_test))


def sweep_workloads(config: Any, results: Path) -> list[Workload]:
    """A workload per run of a sweep ``config`` with the paper preset that is not finished in ``results``."""
    from benchmark.harness.runs import RUNS_DIR, inspect_run
    from benchmark.standalone import METHOD

    work = []
    for spec in config.runs():
        r, run_dir = spec.resolved, results / RUNS_DIR / spec.run_id
        if r["preset"]["name"] != "paper":
            continue
        if (run_dir / "config.json").exists() and inspect_run(run_dir).status == "done":
            continue
        if r["method"] == METHOD:
            work.append(standalone_workload(config.standalone_presets["paper"], r["dataset"]))
        else:
            work.append(oneshot_workload(config.oneshot_presets["paper"], r["dataset"], r["method"]))
    return work


def measure_rates(C: int, N: int, threads: int) -> Rates:
    """Seconds per training and per evaluated image of the NB201 supernet (C, N) on this CPU with
    ``threads`` threads (see the module docstring)."""
    import torch

    from benchmark.fastpath import FastPath
    from benchmark.perf import PerfConfig, synthetic, toolkit_contender
    from benchmark.resumable import cpu_threads

    b, device = MEASURE_BATCH, torch.device("cpu")
    rng = random.Random(0)
    archs = [tuple(rng.choice(OPS) for _ in EDGES) for _ in range(3)]
    with cpu_threads(threads):
        gen = torch.Generator().manual_seed(0)
        batch, recal, val = (synthetic(b, 10, gen, device) for _ in range(3))
        cfg = PerfConfig(device="cpu", batch_size=b, C=C, N=N, val_images=b, eval_batch_size=b,
                         recal_batches=1)
        model = toolkit_contender("estimate", cfg, FastPath.for_device(device), device, batch, [val], [recal])
        model.train(archs[:1])  # untimed: first-call allocations
        t0 = time.perf_counter()
        model.train(archs[1:])
        train_s = (time.perf_counter() - t0) / (2 * b)
        model.evaluate(archs[:1])
        t0 = time.perf_counter()
        model.evaluate(archs[1:])
        eval_s = (time.perf_counter() - t0) / (2 * 2 * b)
    how = (f"one training step and one architecture evaluation of the C={C}, N={N} supernet on {b} images "
           f"timed just now, {threads} thread{'s' * (threads > 1)}")
    return Rates(train_s, eval_s, how)


def on_cpu(device: str) -> bool:
    """Whether ``device`` (auto, cpu, cuda, cuda:N) runs on the CPU here."""
    if device == "cpu":
        return True
    if device != "auto":
        return False
    import torch

    return not torch.cuda.is_available()


def paper_on_cpu(device: str, C: int, N: int, threads: int, workloads: Callable[[], list[Workload]],
                 instead: str = CPU_PRESETS) -> list[str]:
    """The warning lines for paper-preset runs about to start on ``device`` (none off the CPU or without
    runs): :func:`measure_rates` for the supernet (C, N) with ``threads``, then :func:`paper_warning`."""
    if not on_cpu(device):
        return []
    work = workloads()
    return paper_warning(work, measure_rates(C, N, threads), instead) if work else []


def paper_warning(workloads: Iterable[Workload], rates: Rates, instead: str = CPU_PRESETS) -> list[str]:
    """The warning lines for ``workloads`` (one per run) at ``rates``: the total time and what to do
    ``instead`` on a CPU, then how the time was estimated."""
    runs = list(workloads)
    train = sum(w.train_images for w in runs)
    evaluated = sum(w.eval_images for w in runs)
    total = train * rates.train_s + evaluated * rates.eval_s
    which = "this run" if len(runs) == 1 else f"these {len(runs)} runs"
    ranked = [w for w in runs if w.rankings]
    rankings = (f" ({sum(w.rankings for w in ranked)} rankings of up to {max(w.archs for w in ranked):,} "
                "architectures; later rankings and operator scores add more)") if ranked else ""
    return [f"warning: the paper preset on a CPU takes at least {duration(total)} for {which} -- run it on a "
            f"GPU (--device cuda), or use {instead}",
            f"  estimated: {train:,} training images x {1e3 * rates.train_s:.2f} ms + {evaluated:,} "
            f"evaluated images x {1e3 * rates.eval_s:.2f} ms{rankings}; seconds per image from {rates.how}"]


def unmeasured_on_cpu(device: str, method: str, space: str) -> list[str]:
    """The warning line for a paper-preset search of a space without a CPU estimate (DARTS, the MobileNet
    spaces) about to start on the CPU: a GPU setting, with what to run instead."""
    if not on_cpu(device):
        return []
    return [f"warning: the paper preset of {method} on {space} is a GPU setting (the paper's epochs on the full "
            "dataset; no CPU estimate is measured for this space) -- run it on a GPU (--device cuda), or use "
            "--preset tiny on a CPU"]
