"""Retraining a DARTS genotype from scratch on ImageNet with the P-DARTS settings (Chen et al. 2019, Sec. 4.3;
SE-NAS Sec. 4.3 "the re-training stage follows the training setting of [36]").

Mobile setting: 14 cells, C = 48, 224 x 224, under 600M multiply-accumulates (checked before training).
SGD (momentum 0.9, weight decay 3e-5), lr 0.5 for batch 1024 set per epoch by P-DARTS' linear rule
(:func:`pdarts_lr`, 5 warm-up epochs), label smoothing 0.1, auxiliary head weighted 0.4, gradient
clipping at 5, 250 epochs. (P-DARTS also jitters colours; the shared ImageNet transforms do not.)
Data, DDP and checkpoints are the MobileNet driver's (:mod:`benchmark.data.imagenet`,
:mod:`benchmark.distributed`, :mod:`benchmark.imagenet.train`); only the epoch loop is DARTS' own, for
the auxiliary loss and the gradient clipping.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.darts.cost import NetworkSetting, check_flops_budget, network_cost
from benchmark.darts.genotypes import resolve_genotype
from benchmark.darts.presets import RETRAIN_PRESETS, RetrainPreset, get_preset
from benchmark.data.imagenet import (
    ImageFolderDataset,
    eval_transform,
    make_loader,
    scan_imagenet,
    set_epoch,
    train_transform,
)
from benchmark.distributed import DistInfo, all_reduce_sum, check_batch, init_distributed, is_main
from benchmark.imagenet.driver import RunLog, check_identity, check_steps, imagenet_root, subset
from benchmark.imagenet.train import (
    evaluate,
    fast_settings,
    resume_training,
    save_training,
    skipped_images,
    wrap_ddp,
)
from benchmark.io import write_json
from benchmark.models.darts_network import GenotypeNetwork


@dataclass(frozen=True)
class DartsRetrainConfig:
    """The genotype (a built-in name or a ``Genotype(...)`` string), the preset plus ``--set`` overrides,
    and where / how to run. ``flops_budget_m`` replaces the preset's budget when given."""

    genotype: str
    preset: str = "tiny"
    overrides: Mapping[str, str] = field(default_factory=dict)
    data_root: str | None = None
    seed: int = 0
    device: str = "auto"
    flops_budget_m: float | None = None
    resume: bool = True


def pdarts_lr(epoch: int, p: RetrainPreset) -> float:
    """P-DARTS' learning rate of (0-based) ``epoch``: linear decay to the last ``lr_tail_epochs`` epochs,
    which get a smaller slope, times ``(epoch + 1) / warmup_epochs`` during the warm-up."""
    E, tail = p.epochs, p.lr_tail_epochs
    if E - epoch > tail:
        lr = p.lr * (E - tail - epoch) / (E - tail)
    else:
        lr = p.lr * (epoch - E + tail + 1) / ((E - tail) * tail)
    if epoch < p.warmup_epochs:
        lr *= (epoch + 1) / p.warmup_epochs
    return lr


def train_epoch_aux(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer, dist: DistInfo,
                    p: RetrainPreset, autocast_dtype: torch.dtype | None = None, channels_last: bool = False,
                    log: Callable[[str], None] | None = None, epoch: int = 0, log_every: int = 50) -> dict[str, float]:
    """One epoch of DARTS retraining: loss = CE_smooth(logits) + aux_weight * CE_smooth(aux logits), gradient
    norm clipped at ``grad_clip``. Same statistics as :func:`benchmark.imagenet.train.train_epoch`."""
    model.train()
    device = dist.device
    loss_fn = nn.CrossEntropyLoss(label_smoothing=p.label_smoothing)
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, hits, images
    start = time.perf_counter()
    steps = 0
    for x, y in loader:
        if len(y) == 0:
            continue
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits, aux = model(x)
            loss = loss_fn(logits.float(), y)
            if aux is not None:
                loss = loss + p.aux_weight * loss_fn(aux.float(), y)
        loss.backward()
        if p.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
        optimizer.step()
        with torch.no_grad():
            totals += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(),
                                   torch.tensor(float(len(y)), dtype=torch.float64, device=device)])
        steps += 1
        if log is not None and steps % log_every == 0 and is_main(dist):
            log(f"epoch {epoch} step {steps} loss {float(totals[0] / totals[2]):.4f}")
    elapsed = time.perf_counter() - start
    all_reduce_sum(totals, dist)
    images = float(totals[2])
    return {"loss": float(totals[0]) / max(images, 1.0), "top1": 100.0 * float(totals[1]) / max(images, 1.0),
            "images": images, "steps": steps, "seconds": elapsed, "images_per_s": images / max(elapsed, 1e-9)}


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)[0]


def retrain(cfg: DartsRetrainConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train ``cfg.genotype``'s ImageNet network from scratch; returns (and writes) ``result.json``."""
    out = Path(out_dir)
    name, genotype = resolve_genotype(cfg.genotype)
    p = get_preset(RETRAIN_PRESETS, cfg.preset, dict(cfg.overrides))
    if cfg.flops_budget_m is not None:
        p = dataclasses.replace(p, flops_budget_m=cfg.flops_budget_m)
    dist = init_distributed(device=cfg.device)
    batch = check_batch(p.batch_size, dist.world_size)
    index = scan_imagenet(imagenet_root(cfg.data_root))
    setting = NetworkSetting(p.C, p.layers, len(index.classes), p.image_size, imagenet=True)
    params_m, flops_m = network_cost(genotype, setting)
    check_flops_budget(flops_m, p.flops_budget_m, f"the {name or 'given'} genotype's network ({setting.describe()})")
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out, dist)
    train_list = subset(index.train, p.max_train, cfg.seed)
    val_list = subset(index.val, p.max_val, cfg.seed)
    identity = {"genotype": str(genotype), "preset": dataclasses.asdict(p), "seed": cfg.seed}
    if cfg.resume:
        check_identity(out / "config.json", identity)
    if is_main(dist):
        write_json(out / "config.json", identity)
    check_steps(len(train_list), batch, dist.world_size)
    loader = make_loader(ImageFolderDataset(train_list, train_transform(p.image_size), seed=cfg.seed), batch,
                         train=True, workers=p.workers, seed=cfg.seed, dist=dist)
    val_loader = make_loader(ImageFolderDataset(val_list, eval_transform(p.image_size, p.resize)), batch,
                             train=False, workers=p.workers, seed=0, dist=dist)
    autocast, channels_last = fast_settings(dist.device)

    torch.manual_seed(cfg.seed)
    model = GenotypeNetwork(genotype, p.C, p.layers, len(index.classes), imagenet=True,
                            auxiliary=p.auxiliary).to(dist.device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    parts = {"model": model, "optimizer": optimizer}
    state = resume_training(out / "checkpoint.pt", dist.device, parts, log, cfg.resume)
    ddp = wrap_ddp(model, dist)
    log(f"retraining {name or 'genotype'} ({params_m:.3f}M parameters, {flops_m:.1f}M multiply-accumulates) for "
        f"{p.epochs} epochs on {len(train_list)} images, {dist.world_size} process(es) x batch {batch}")
    for epoch in range(state["epoch"], p.epochs):
        set_epoch(loader, epoch)
        lr = pdarts_lr(epoch, p)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.drop_path_prob = p.drop_path_prob * epoch / p.epochs
        stats = train_epoch_aux(ddp, loader, optimizer, dist, p, autocast, channels_last, log, epoch)
        stats["val_top1"], stats["val_top5"] = evaluate(ddp, _logits, val_loader, dist, autocast, channels_last)
        stats.update(epoch=epoch + 1, lr=lr, skipped_images=skipped_images(dist, loader, val_loader))
        state["log"].append(stats)
        state["epoch"] = epoch + 1
        log(f"epoch {epoch + 1}/{p.epochs}: lr {lr:.4g} loss {stats['loss']:.4f} val top-1 {stats['val_top1']:.2f}% "
            f"top-5 {stats['val_top5']:.2f}%")
        save_training(out / "checkpoint.pt", parts, state, dist)
    last = state["log"][-1]
    result = {"genotype": str(genotype), "name": name, "setting": setting.describe(), "params_m": params_m,
              "flops_m": flops_m, "preset": dataclasses.asdict(p), "seed": cfg.seed, "world_size": dist.world_size,
              "top1": last["val_top1"], "top5": last["val_top5"], "log": state["log"]}
    if is_main(dist):
        write_json(out / "result.json", result)
    return result
