"""Retraining a searched MobileNet-like architecture from scratch on ImageNet (SE-NAS Sec. 4.3: 240 epochs,
the supernet's settings: SGD 0.9, weight decay 4e-5, batch 1024, lr 0.5 decayed linearly per iteration).

Label smoothing and an exponential moving average of the weights are options (off in the paper
preset). Training uses every image of ``train/``; top-1/top-5 are measured on ``val/`` after every
epoch (and for the EMA weights when on). Checkpoints are atomic and resumable, like the search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from benchmark.data.imagenet import scan_imagenet, set_epoch
from benchmark.distributed import check_batch, init_distributed, is_main
from benchmark.imagenet.driver import (RunLog, arch_record, check_identity, check_steps, eval_loader, imagenet_root,
                                       preset_dict, read_arch, subset, train_loader)
from benchmark.imagenet.presets import get_preset
from benchmark.imagenet.train import (evaluate, fast_settings, linear_decay, make_ema, make_sgd, resume_training,
                                      save_training, skipped_images, train_epoch, wrap_ddp)
from benchmark.io import write_json
from benchmark.models.complexity import count_params
from benchmark.models.mobilenet import mobilenet_network
from benchmark.spaces.mobilenet import MobileNetSkeleton


@dataclass(frozen=True)
class RetrainConfig:
    """The architecture file, the preset (plus ``--set`` overrides) and where / how to run."""

    arch_path: str
    preset: str = "tiny"
    overrides: Mapping[str, str] = field(default_factory=dict)
    data_root: str | None = None
    seed: int = 0
    device: str = "auto"
    resume: bool = True


def retrain(cfg: RetrainConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train the architecture of ``cfg.arch_path`` from scratch; returns (and writes) ``result.json``."""
    out = Path(out_dir)
    arch = read_arch(cfg.arch_path)
    dist = init_distributed(device=cfg.device)
    p = get_preset(cfg.preset, dict(cfg.overrides))
    batch = check_batch(p.batch_size, dist.world_size)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out, dist)
    index = scan_imagenet(imagenet_root(cfg.data_root))
    train_list = subset(index.train, p.max_train_images, cfg.seed)
    skeleton = MobileNetSkeleton(p.width_mult, p.input_size, len(index.classes))
    identity = {"arch": list(arch), "preset": preset_dict(p), "seed": cfg.seed}
    if cfg.resume:
        check_identity(out / "config.json", identity)
    if is_main(dist):
        write_json(out / "config.json", identity)
    loader = train_loader(train_list, p, batch, cfg.seed, dist)
    val_loader = eval_loader(index.val, p, dist)
    total_steps = p.retrain_epochs * check_steps(len(train_list), batch, dist.world_size)
    autocast, channels_last = fast_settings(dist.device)

    torch.manual_seed(cfg.seed)
    model = mobilenet_network(arch, skeleton).to(dist.device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_sgd(model, p.lr, p.momentum, p.weight_decay)
    scheduler = linear_decay(optimizer, total_steps)
    ema = make_ema(model, p.ema_decay) if p.ema_decay > 0 else None
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "ema": ema}
    state = resume_training(out / "checkpoint.pt", dist.device, parts, log, cfg.resume)
    ddp = wrap_ddp(model, dist)
    log(f"retraining {','.join(arch)} ({count_params(model) / 1e6:.3f}M parameters) for {p.retrain_epochs} epochs "
        f"on {len(train_list)} images, {dist.world_size} process(es) x batch {batch}")

    def forward(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return m(x)

    for epoch in range(state["epoch"], p.retrain_epochs):
        set_epoch(loader, epoch)
        stats = train_epoch(ddp, forward, loader, optimizer, scheduler, dist, autocast, p.label_smoothing, ema,
                            channels_last=channels_last, log=log, log_every=p.log_every, epoch=epoch)
        stats["val_top1"], stats["val_top5"] = evaluate(ddp, forward, val_loader, dist, autocast, channels_last)
        if ema is not None:
            stats["ema_top1"], stats["ema_top5"] = evaluate(ema.module, forward, val_loader, dist, autocast,
                                                            channels_last)
        stats.update(epoch=epoch + 1, skipped_images=skipped_images(dist, loader, val_loader))
        state["log"].append(stats)
        state["epoch"] = epoch + 1
        log(f"epoch {epoch + 1}/{p.retrain_epochs}: loss {stats['loss']:.4f} val top-1 {stats['val_top1']:.2f}% "
            f"top-5 {stats['val_top5']:.2f}% {stats['images_per_s']:.1f} images/s")
        save_training(out / "checkpoint.pt", parts, state, dist)
    last = state["log"][-1]
    result = {"arch": arch_record(arch, skeleton), "preset": preset_dict(p), "seed": cfg.seed,
              "world_size": dist.world_size, "top1": last["val_top1"], "top5": last["val_top5"],
              "ema_top1": last.get("ema_top1"), "ema_top5": last.get("ema_top5"), "log": state["log"]}
    if is_main(dist):
        write_json(out / "result.json", result)
    return result
