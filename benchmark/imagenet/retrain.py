"""Retraining a searched MobileNet-like architecture from scratch on ImageNet (SE-NAS Sec. 4.3: 240 epochs,
the supernet's settings: SGD 0.9, weight decay 4e-5, batch 1024, lr 0.5 decayed linearly per iteration).

Label smoothing and an exponential moving average of the weights are options (off in the paper
preset). Training uses every image of ``train/``; top-1/top-5 are measured on ``val/`` after every
epoch (and for the EMA weights when on). Checkpoints are atomic and resumable, like the search.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from benchmark.data.imagenet import scan_imagenet
from benchmark.distributed import check_batch, init_distributed
from benchmark.imagenet.config import DriverConfig
from benchmark.imagenet.driver import (
    RunLog,
    arch_record,
    check_steps,
    eval_loader,
    imagenet_root,
    preset_dict,
    read_arch,
    subset,
    train_loader,
    write_config,
    write_result,
)
from benchmark.imagenet.presets import get_preset
from benchmark.imagenet.train import Retraining, fast_settings, linear_decay, make_ema, make_sgd, place
from benchmark.models.complexity import count_params
from benchmark.models.mobilenet import mobilenet_network
from benchmark.spaces.base import Arch
from benchmark.spaces.mobilenet import MobileNetSkeleton


@dataclass(frozen=True)
class RetrainConfig(DriverConfig):
    """The architecture file, plus the preset and where / how to run (:class:`DriverConfig`)."""

    arch_path: str


def retrain(cfg: RetrainConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train the architecture of ``cfg.arch_path`` from scratch; returns (and writes) ``result.json``."""
    arch = read_arch(cfg.arch_path)
    p = get_preset(cfg.preset, dict(cfg.overrides))

    def skeleton(classes: int) -> MobileNetSkeleton:
        return MobileNetSkeleton(p.width_mult, p.input_size, classes)

    return train_from_scratch(cfg, out_dir, p, arch, {"arch": list(arch), "preset": preset_dict(p), "seed": cfg.seed},
                              build=lambda classes: mobilenet_network(arch, skeleton(classes)),
                              schedule=lambda optimizer, steps: linear_decay(optimizer, p.retrain_epochs * steps),
                              record=lambda classes: arch_record(arch, skeleton(classes)))


def train_from_scratch(cfg: RetrainConfig, out_dir: str | Path, p: Any, arch: Arch, identity: dict[str, Any],
                       build: Callable[[int], nn.Module],
                       schedule: Callable[[torch.optim.Optimizer, int], torch.optim.lr_scheduler.LRScheduler],
                       record: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """Train ``build(classes)`` (the network of ``arch``) from scratch with the preset ``p``'s SGD, EMA and label
    smoothing and ``schedule(optimizer, steps per epoch)`` on ``train/`` (``max_train_images`` of it), top-1 and
    top-5 on ``val/`` after every epoch; the MobileNet and BS-NAS retraining. ``identity`` (the run's
    ``config.json``) holds the preset's record; ``record(classes)`` describes the architecture in the result.
    Returns (and writes) ``result.json``."""
    out = Path(out_dir)
    dist = init_distributed(device=cfg.device)
    batch = check_batch(p.batch_size, dist.world_size)
    log = RunLog(out, dist)
    index = scan_imagenet(imagenet_root(cfg.data_root))
    train_list = subset(index.train, p.max_train_images, cfg.seed)
    write_config(out, identity, dist, cfg.resume)
    loader = train_loader(train_list, p, batch, cfg.seed, dist)
    val_loader = eval_loader(index.val, p, dist)
    steps = check_steps(len(train_list), batch, dist.world_size)
    torch.manual_seed(cfg.seed)
    model = place(build(len(index.classes)), dist.device, fast_settings(dist.device)[1])
    optimizer = make_sgd(model, p.lr, p.momentum, p.weight_decay)
    training = Retraining(out, dist, log, model, optimizer, loader, val_loader, scheduler=schedule(optimizer, steps),
                          ema=make_ema(model, p.ema_decay) if p.ema_decay > 0 else None,
                          label_smoothing=p.label_smoothing, log_every=p.log_every)
    history = training.run(p.retrain_epochs, cfg.resume,
                           f"retraining {','.join(arch)} ({count_params(model) / 1e6:.3f}M parameters) for "
                           f"{p.retrain_epochs} epochs on {len(train_list)} images, {dist.world_size} process(es) x "
                           f"batch {batch}")
    last = history[-1]
    result = {"arch": record(len(index.classes)), "preset": identity["preset"], "seed": cfg.seed,
              "world_size": dist.world_size, "top1": last["val_top1"], "top5": last["val_top5"],
              "ema_top1": last.get("ema_top1"), "ema_top5": last.get("ema_top5"), "log": history}
    write_result(out, result, dist)
    return result
