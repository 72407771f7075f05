"""What the ImageNet searches and retrainings (MobileNet, BS-NAS, DARTS) share: the ImageNet folder, the
loaders, a log, the run identity checked on resume, the outputs, and architecture files (the readable
JSON a search exports and a retraining reads).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.imagenet import (
    ImageFolderDataset,
    ImageNetIndex,
    Sample,
    eval_transform,
    make_loader,
    search_split,
    train_transform,
)
from benchmark.distributed import DistInfo, check_batch, cleanup, init_distributed, is_main
from benchmark.errors import NasBenchError
from benchmark.imagenet.config import SearchConfig
from benchmark.imagenet.presets import MobileNetPreset
from benchmark.io import read_json, write_json
from benchmark.models.complexity import count_params
from benchmark.models.mobilenet import mobilenet_network
from benchmark.paths import data_root
from benchmark.spaces.base import Arch
from benchmark.spaces.mobilenet import IDENTITY, MobileNetSkeleton, check_arch, parse_op
from benchmark.spaces.mobilenet_flops import FlopsTable

ARCH_FORMAT = 1


def imagenet_root(explicit: str | os.PathLike | None) -> Path:
    """``--data-root`` if given (the folder holding ``train/`` and ``val/``, or a data root holding such an
    ``imagenet/``), else ``<data root>/imagenet``."""
    if explicit:
        root = Path(explicit).expanduser()
        if not root.is_dir():
            raise NasBenchError(f"ImageNet folder {root} does not exist", "pass the folder holding train/ and val/")
        if not (root / "train").is_dir() and (root / "imagenet").is_dir():
            return root / "imagenet"
        return root
    return data_root(None) / "imagenet"


def in_process_group(device: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """``run()`` in torchrun's process group (or alone), leaving the group after it; its result in the main
    process, None in the others."""
    dist = init_distributed(device=device)
    try:
        result = run()
    finally:
        cleanup(dist)
    return result if is_main(dist) else None


class RunLog:
    """Progress lines on stderr (stdout keeps the result) and in ``out/log.txt`` (the run folder, created), from
    the main process only."""

    def __init__(self, out: Path, dist: DistInfo):
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / "log.txt"
        self.main = is_main(dist)

    def __call__(self, message: str) -> None:
        if not self.main:
            return
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, file=sys.stderr, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


def subset(samples: list[Sample], n: int | None, seed: int) -> list[Sample]:
    """A seeded subset of ``n`` samples in their original order (all when ``n`` is None or larger)."""
    if n is None or n >= len(samples):
        return samples
    keep = np.sort(np.random.default_rng(seed).choice(len(samples), size=n, replace=False))
    return [samples[i] for i in keep]


def train_loader(samples: list[Sample], p: MobileNetPreset, batch: int, seed: int, dist: DistInfo):
    dataset = ImageFolderDataset(samples, train_transform(p.input_size), seed=seed)
    return make_loader(dataset, batch, train=True, workers=p.workers, seed=seed, dist=dist)


def eval_loader(samples: list[Sample], p: MobileNetPreset, dist: DistInfo, shard: bool = True):
    """Evaluation loader; ``shard=False`` gives every process all images (cached supernet batches)."""
    dataset = ImageFolderDataset(samples, eval_transform(p.input_size, p.eval_resize))
    return make_loader(dataset, p.eval_batch_size, train=False, workers=p.workers, seed=0,
                       dist=dist if shard else None)


def search_settings(cfg: SearchConfig, get_preset: Callable[[str, dict[str, str]], Any]
                    ) -> tuple[DistInfo, Any, tuple[float, ...], int]:
    """A search's process group, preset (with the ``--set`` overrides), FLOPs budgets (``--flops`` or the
    preset's) and per-process batch."""
    dist = init_distributed(device=cfg.device)
    p = get_preset(cfg.preset, dict(cfg.overrides))
    return dist, p, tuple(cfg.budgets_m or p.budgets_m), check_batch(p.batch_size, dist.world_size)


def search_intro(name: str, train: list[Sample], held_out: list[Sample], dist: DistInfo, batch: int, epochs: int,
                 detail: str) -> str:
    """A search's first log line."""
    return (f"{name}: {len(train)} training / {len(held_out)} held-out images, {dist.world_size} process(es) x "
            f"batch {batch}, {epochs} epochs, {detail}")


def check_steps(n_images: int, batch: int, world: int) -> int:
    """Steps per epoch of a training loader; a one-line error when there is not one full batch."""
    steps = n_images // (batch * world)
    if steps < 1:
        raise NasBenchError(f"{n_images} training images make no full batch of {batch * world}",
                            "use a smaller batch_size (--set batch_size=...) or more images")
    return steps


def check_identity(path: Path, identity: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint written by a different run configuration."""
    stored = read_json(path) if path.is_file() else None
    if stored is not None and stored != json.loads(json.dumps(identity)):
        diff = sorted(k for k in set(stored) | set(identity) if stored.get(k) != json.loads(json.dumps(identity)).get(k))
        raise NasBenchError(f"{path.parent} holds a run with different settings ({', '.join(diff)})",
                            "use another --out folder, or --no-resume to start over")


def write_config(out: Path, identity: dict[str, Any], dist: DistInfo, resume: bool,
                 files: dict[str, Any] | None = None) -> None:
    """``out/config.json``: the run's ``identity`` (a resumed run must match the stored one), then ``files``
    (name -> JSON content, e.g. a search's ``split.json``)."""
    if resume:
        check_identity(out / "config.json", identity)
    if is_main(dist):
        for name, content in {"config.json": identity, **(files or {})}.items():
            write_json(out / name, content)


def search_images(index: ImageNetIndex, n_val: int, max_train: int | None, seed: int
                  ) -> tuple[list[Sample], list[Sample]]:
    """A search's training images (``max_train`` of them) and its ``n_val`` held-out ones, both from ``train/``."""
    train, held_out = search_split(index, n_val, seed)
    return subset(train, max_train, seed), held_out


def split_record(index: ImageNetIndex, seed: int, n_val: int, train: list[Sample], held_out: list[Sample]
                 ) -> dict[str, Any]:
    """A search's ``split.json``: the held-out files relative to the ImageNet folder."""
    root = Path(index.root)
    return {"root": index.root, "seed": seed, "n_val": n_val, "n_train": len(train), "classes": index.classes,
            "held_out": [str(Path(f).relative_to(root)) for f, _ in held_out]}


def write_result(out: Path, result: dict[str, Any], dist: DistInfo) -> None:
    """``out/result.json``, from the main process."""
    if is_main(dist):
        write_json(out / "result.json", result)


def preset_dict(p: MobileNetPreset) -> dict[str, Any]:
    d = asdict(p)
    d["budgets_m"] = list(p.budgets_m)
    return d


# ------------------------------------------------------------------------------------------ architectures
def arch_record(arch: Arch, skeleton: MobileNetSkeleton, **extra: Any) -> dict[str, Any]:
    """A readable description of ``arch``: operations, per-layer blocks, FLOPs at the search skeleton and
    at ImageNet 224 / width 1.0 / 1000 classes (the paper's unit), parameters at the latter."""
    paper = MobileNetSkeleton()
    layers = []
    for spec, op in zip(skeleton.layers, arch):
        row: dict[str, Any] = {"layer": spec.name, "op": op, "in": spec.in_channels, "out": spec.out_channels,
                               "stride": spec.stride}
        if op != IDENTITY:
            row["kernel"], row["expansion"] = parse_op(op)
        layers.append(row)
    return {"format": ARCH_FORMAT, "space": "mobilenet", "arch": list(arch),
            "flops_m": FlopsTable(skeleton).flops_m(arch), "flops_m_imagenet224": FlopsTable(paper).flops_m(arch),
            "params_m_imagenet224": count_params(mobilenet_network(arch, paper)) / 1e6,
            "skeleton": {"width_mult": skeleton.width_mult, "input_size": skeleton.input_size,
                         "num_classes": skeleton.num_classes},
            **extra, "layers": layers}


def export_arch(out: Path, budget_m: float, record: dict[str, Any], row: dict[str, Any], found: str, dist: DistInfo,
                log: Callable[[str], None]) -> dict[str, Any]:
    """Write a search's choice under a FLOPs budget as ``out/arch_<budget>M.json`` (main process) and log
    ``found``; returns its row of the result's ``selections``."""
    path = out / f"arch_{budget_m:g}M.json"
    if is_main(dist):
        write_json(path, record)
    log(f"budget {budget_m:g}M: {found} -> {path.name}")
    return {"budget_m": budget_m, "file": path.name, **row}


def budget_failed(budget_m: float, error: NasBenchError, log: Callable[[str], None]) -> dict[str, Any]:
    """A budget the search could not serve: logged as a warning; its row of the result's ``selections``."""
    log(f"warning: budget {budget_m:g}M: {error}")
    return {"budget_m": budget_m, "error": str(error)}


def read_arch(path: str | os.PathLike) -> Arch:
    """The architecture of an exported JSON file, checked against the space."""
    return check_arch(tuple(read_arch_record(path, "mobilenet", "nasbench imagenet mobilenet search")["arch"]))


def read_arch_record(path: str | os.PathLike, space: str, command: str, keys: tuple[str, ...] = ("arch",)
                     ) -> dict[str, Any]:
    """The exported architecture file at ``path`` (written by ``command``): a JSON object of ``space``
    holding ``keys``; a one-line error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise NasBenchError(f"architecture file {path} not found", f"pass a file written by `{command}`")
    try:
        record = read_json(path)
    except json.JSONDecodeError as e:
        raise NasBenchError(f"{path} is not JSON ({e.msg}, line {e.lineno})", "pass an exported arch_*.json") from None
    if not isinstance(record, dict) or record.get("space") != space or any(k not in record for k in keys):
        raise NasBenchError(f"{path} does not describe a {space} architecture",
                            f"pass an arch_*.json written by `{command}`")
    return record

