"""Retraining a DARTS genotype from scratch on ImageNet with the P-DARTS settings (Chen et al. 2019, Sec. 4.3;
SE-NAS Sec. 4.3 "the re-training stage follows the training setting of [36]").

Mobile setting: 14 cells, C = 48, 224 x 224, under 600M multiply-accumulates (checked before training).
SGD (momentum 0.9, weight decay 3e-5), lr 0.5 for batch 1024 set per epoch by P-DARTS' linear rule
(:func:`pdarts_lr`, 5 warm-up epochs), label smoothing 0.1, auxiliary head weighted 0.4, gradient
clipping at 5, 250 epochs, and DARTS' colour jitter (brightness, contrast, saturation 0.4, hue 0.2).
Data, DDP, checkpoints and the epoch loop are the MobileNet driver's (:mod:`benchmark.data.imagenet`,
:mod:`benchmark.distributed`, :class:`benchmark.imagenet.train.Retraining`, which takes the auxiliary loss
and the gradient clipping); only the per-epoch lr and drop-path probability are DARTS' own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.darts.cost import NetworkSetting, check_flops_budget, network_cost
from benchmark.darts.presets import RetrainPreset, get_retrain_preset
from benchmark.data.imagenet import (
    ColorJitter,
    ImageFolderDataset,
    eval_transform,
    make_loader,
    scan_imagenet,
    train_transform,
)
from benchmark.distributed import check_batch, init_distributed
from benchmark.imagenet.config import DriverConfig
from benchmark.imagenet.driver import RunLog, check_steps, imagenet_root, subset, write_config, write_result
from benchmark.imagenet.train import Retraining, fast_settings, place
from benchmark.models.darts_network import GenotypeNetwork
from benchmark.spaces.darts_genotypes import resolve_genotype


@dataclass(frozen=True)
class DartsRetrainConfig(DriverConfig):
    """The genotype (a built-in name or a ``Genotype(...)`` string), plus the preset and where / how to run
    (:class:`DriverConfig`). ``flops_budget_m`` replaces the preset's budget when given."""

    genotype: str
    flops_budget_m: float | None = None


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


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)[0]


def retrain(cfg: DartsRetrainConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train ``cfg.genotype``'s ImageNet network from scratch; returns (and writes) ``result.json``."""
    out = Path(out_dir)
    name, genotype = resolve_genotype(cfg.genotype)
    p = get_retrain_preset(cfg.preset, dict(cfg.overrides))
    if cfg.flops_budget_m is not None:
        p = dataclasses.replace(p, flops_budget_m=cfg.flops_budget_m)
    dist = init_distributed(device=cfg.device)
    batch = check_batch(p.batch_size, dist.world_size)
    index = scan_imagenet(imagenet_root(cfg.data_root))
    setting = NetworkSetting(p.C, p.layers, len(index.classes), p.image_size, imagenet=True)
    params_m, flops_m = network_cost(genotype, setting)
    check_flops_budget(flops_m, p.flops_budget_m, f"the {name or 'given'} genotype's network ({setting.describe()})")
    log = RunLog(out, dist)
    train_list = subset(index.train, p.max_train, cfg.seed)
    val_list = subset(index.val, p.max_val, cfg.seed)
    identity = {"genotype": str(genotype), "preset": dataclasses.asdict(p), "seed": cfg.seed}
    write_config(out, identity, dist, cfg.resume)
    check_steps(len(train_list), batch, dist.world_size)
    augment = train_transform(p.image_size, jitter=ColorJitter() if p.color_jitter else None)
    loader = make_loader(ImageFolderDataset(train_list, augment, seed=cfg.seed), batch,
                         train=True, workers=p.workers, seed=cfg.seed, dist=dist)
    val_loader = make_loader(ImageFolderDataset(val_list, eval_transform(p.image_size, p.resize)), batch,
                             train=False, workers=p.workers, seed=0, dist=dist)

    torch.manual_seed(cfg.seed)
    model = place(GenotypeNetwork(genotype, p.C, p.layers, len(index.classes), imagenet=True, auxiliary=p.auxiliary),
                  dist.device, fast_settings(dist.device)[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)

    def epoch_settings(epoch: int) -> dict[str, Any]:
        """P-DARTS' lr of the epoch (:func:`pdarts_lr`) and DARTS' linearly raised drop-path probability."""
        lr = pdarts_lr(epoch, p)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.drop_path_prob = p.drop_path_prob * epoch / p.epochs
        return {"lr": lr}

    training = Retraining(out, dist, log, model, optimizer, loader, val_loader, label_smoothing=p.label_smoothing,
                          grad_clip=p.grad_clip, aux_weight=p.aux_weight, eval_forward=_logits)
    history = training.run(p.epochs, cfg.resume, f"retraining {name or 'genotype'} ({params_m:.3f}M parameters, "
                           f"{flops_m:.1f}M multiply-accumulates) for {p.epochs} epochs on {len(train_list)} images, "
                           f"{dist.world_size} process(es) x batch {batch}", epoch_settings)
    last = history[-1]
    result = {"genotype": str(genotype), "name": name, "setting": setting.describe(), "params_m": params_m,
              "flops_m": flops_m, "preset": dataclasses.asdict(p), "seed": cfg.seed, "world_size": dist.world_size,
              "top1": last["val_top1"], "top5": last["val_top5"], "log": history}
    write_result(out, result, dist)
    return result
