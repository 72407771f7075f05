"""ImageNet training utilities (the torchvision-references habit): one epoch, evaluation, checkpoints, and
the epoch loops of the drivers (:func:`train_supernet`, :class:`Retraining`).

Shared by the MobileNet search and retraining, DARTS ImageNet retraining and BS-NAS. The optimiser of
SE-NAS Sec. 4.3 (after SPOS): SGD, momentum 0.9, weight decay 4e-5, lr 0.5 decayed linearly per
iteration, ``lr * (1 - t / T)``. ``forward_fn(model, x)`` runs the model; a supernet's ``forward_fn(model, x,
path)`` runs one sampled path, and every batch trains the sampler's group of paths with one optimizer step
(:func:`benchmark.training.group_step`: one path for uniform sampling, a FairNAS strict-fair group with
summed gradients for fair sampling). bf16 autocast and channels-last are for CUDA; on CPU both stay off (:func:`fast_settings`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from benchmark.checkpoint import read_checkpoint_file, write_checkpoint
from benchmark.data.imagenet import set_epoch
from benchmark.distributed import DistInfo, all_reduce_sum, barrier, is_main
from benchmark.training import draw_group, group_step

ForwardFn = Callable[..., Any]  # (model, x) -> output; (model, x, path) -> output when training groups of paths
Log = Callable[[str], None]


def fast_settings(device: torch.device) -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype, channels_last)``: bf16 and NHWC on CUDA (when bf16 is supported), off elsewhere."""
    if device.type != "cuda":
        return None, False
    return (torch.bfloat16 if torch.cuda.is_bf16_supported() else None), True


def place(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """``model`` moved to ``device``, its weights in NHWC when ``channels_last``."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def make_sgd(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 4e-5,
             nesterov: bool = False) -> torch.optim.SGD:
    """SGD of SE-NAS Sec. 4.3; parameters without a gradient in a step (off the sampled path) are skipped."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
                           nesterov=nesterov)


def linear_decay(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """lr(t) = lr * (1 - t / T) per iteration (SE-NAS Sec. 4.3); resume with ``load_state_dict``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: max(0.0, 1.0 - t / max(total_steps, 1)))


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """Exponential moving average of weights and buffers (the retraining option)."""
    return AveragedModel(unwrap(model), multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def wrap_ddp(model: nn.Module, dist: DistInfo, find_unused_parameters: bool = False) -> nn.Module:
    """``model`` in DistributedDataParallel when the job has several processes, else itself. A supernet
    needs ``find_unused_parameters=True`` (each step uses one path; all ranks sample the same one)."""
    if not dist.distributed:
        return model
    ids = [dist.device.index] if dist.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool):
    x = x.to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def freeze_batchnorm(model: nn.Module) -> None:
    """BatchNorm layers in eval mode: normalise with running statistics and leave them unchanged."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def train_epoch(model: nn.Module, forward_fn: ForwardFn, loader: Iterable, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None, dist: DistInfo,
                autocast_dtype: torch.dtype | None = None, label_smoothing: float = 0.0,
                ema: AveragedModel | None = None, *, channels_last: bool = False, frozen_bn: bool = False,
                log: Log | None = None, log_every: int = 50, epoch: int = 0,
                on_step: Callable[[int], None] | None = None, grad_clip: float = 0.0,
                aux_weight: float | None = None, paths: Callable[[], list[Any]] | None = None) -> dict[str, float]:
    """One epoch of ``loader`` (per-process batches); one optimizer step per batch and the scheduler steps
    every iteration.

    With ``paths`` (a supernet), each batch trains the group ``paths()`` (:func:`benchmark.training.group_step`:
    every path forward and backward on the batch, gradients summed, one update; FairNAS Algorithm 1) and
    ``forward_fn(model, x, path)`` runs one path; loss and accuracy are then means over every trained path.
    Empty batches (every image unreadable) are skipped. ``frozen_bn`` keeps BatchNorm in eval mode.
    With ``aux_weight``, ``forward_fn`` returns ``(logits, auxiliary logits or None)`` and the loss adds
    ``aux_weight`` times the auxiliary head's (DARTS); ``grad_clip > 0`` clips the gradient norm.
    Every ``log_every`` steps (main process) logs loss, lr and global images/s; returns the epoch's
    global mean loss, top-1 training accuracy, images, seconds and images/s (all processes summed).
    """
    model.train()
    if frozen_bn:
        freeze_batchnorm(model)
    device = dist.device
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, hits, images
    start = last = time.perf_counter()
    seen_last = 0.0
    steps = 0

    def path_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, path: Any) -> tuple[torch.Tensor, torch.Tensor]:
        with _autocast(device, autocast_dtype):
            out = forward_fn(model, x) if paths is None else forward_fn(model, x, path)
            logits, aux = out if aux_weight is not None else (out, None)
            loss = loss_fn(logits.float(), y)
            if aux is not None:
                loss = loss + aux_weight * loss_fn(aux.float(), y)
        return loss, logits

    for step, (x, y) in enumerate(loader):
        if len(y) == 0:
            continue
        x, y = _to_device(x, y, device, channels_last)
        group = [None] if paths is None else paths()
        for loss, logits in group_step(model, group, x, y, optimizer, path_loss, grad_clip):
            with torch.no_grad():
                totals += torch.stack([loss.double() * len(y), (logits.argmax(1) == y).sum().double(),
                                       torch.tensor(float(len(y)), dtype=torch.float64, device=device)])
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update_parameters(unwrap(model))
        steps += 1
        if on_step is not None:
            on_step(step)
        if log is not None and log_every > 0 and steps % log_every == 0 and is_main(dist):
            now = time.perf_counter()
            images = float(totals[2]) * dist.world_size
            log(f"epoch {epoch} step {steps}/{len(loader)} loss {float(totals[0] / totals[2]):.4f} "
                f"lr {optimizer.param_groups[0]['lr']:.4g} {(images - seen_last) / (now - last):.1f} images/s")
            last, seen_last = now, images
    elapsed = time.perf_counter() - start
    all_reduce_sum(totals, dist)
    images = float(totals[2])
    return {"loss": float(totals[0]) / max(images, 1.0), "top1": 100.0 * float(totals[1]) / max(images, 1.0),
            "images": images, "steps": steps, "seconds": elapsed, "images_per_s": images / max(elapsed, 1e-9)}


@torch.no_grad()
def evaluate(model: nn.Module, forward_fn: ForwardFn, loader: Iterable, dist: DistInfo,
             autocast_dtype: torch.dtype | None = None, channels_last: bool = False) -> tuple[float, float]:
    """Top-1 and top-5 accuracy (percent) over every image of ``loader``'s dataset, all processes summed."""
    was_training = model.training
    model.eval()
    counts = torch.zeros(3, dtype=torch.float64, device=dist.device)  # top-1 hits, top-5 hits, images
    for x, y in loader:
        if len(y) == 0:
            continue
        x, y = _to_device(x, y, dist.device, channels_last)
        with _autocast(dist.device, autocast_dtype):
            logits = forward_fn(model, x).float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hit = top == y[:, None]
        counts += torch.stack([hit[:, 0].sum().double(), hit.any(1).sum().double(),
                               torch.tensor(float(len(y)), dtype=torch.float64, device=dist.device)])
    model.train(was_training)
    all_reduce_sum(counts, dist)
    n = max(float(counts[2]), 1.0)
    return 100.0 * float(counts[0]) / n, 100.0 * float(counts[1]) / n


def skipped_images(dist: DistInfo, *loaders: Any) -> int:
    """Unreadable images the ``loaders``' datasets skipped so far, summed over all processes."""
    count = torch.tensor([float(sum(loader.dataset.skipped for loader in loaders))], device=dist.device)
    return int(all_reduce_sum(count, dist).item())


# ------------------------------------------------------------------------------------------ checkpoints
def save_checkpoint(path: str | Path, state: dict[str, Any], dist: DistInfo | None) -> None:
    """Write ``state`` as plain data from the main process (others wait), atomically, with its SHA-256
    recorded and the previous checkpoint kept (:mod:`benchmark.checkpoint`)."""
    if is_main(dist):
        write_checkpoint(path, state)
    barrier(dist)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    log: Log | None = None) -> dict[str, Any] | None:
    """The newest intact checkpoint at ``path`` (SHA-256 checked, loaded weights-only: no code from the file
    runs; tensors on ``device``), or ``None`` when there is none; a one-line error when none is intact."""
    path = Path(path)
    return read_checkpoint_file(path, device, f"delete {path.name}* in {path.parent} to start over, or use "
                                              "another --out", log)


def resume_training(path: str | Path, device: torch.device | str, parts: dict[str, Any], log: Log,
                    resume: bool = True) -> dict[str, Any]:
    """The ``{"epoch", "log"}`` state of the checkpoint at ``path``, with every part (model, optimizer,
    scheduler, EMA; ``None`` skipped) restored from it; a fresh state without a checkpoint or ``resume``."""
    ckpt = load_checkpoint(path, device, log) if resume else None
    if ckpt is None:
        return {"epoch": 0, "log": []}
    for key, part in parts.items():
        if part is not None:
            part.load_state_dict(ckpt[key])
    log(f"resumed after epoch {ckpt['state']['epoch']}")
    return ckpt["state"]


def save_training(path: str | Path, parts: dict[str, Any], state: dict[str, Any], dist: DistInfo | None) -> None:
    """Checkpoint ``parts`` (``None`` stays ``None``) and ``state`` for :func:`resume_training`."""
    save_checkpoint(path, {**{key: None if part is None else part.state_dict() for key, part in parts.items()},
                           "state": state}, dist)


# ------------------------------------------------------------------------------------------ epoch loops
class ImageNetSearch(Protocol):
    """What :func:`train_supernet` reads from a search (MobileNet SE-NAS / SPOS, BS-NAS on ImageNet)."""

    dist: DistInfo
    log: Log
    state: dict[str, Any]  # "epoch", "train_log", "timings"
    loader: Any
    ddp: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: Any  # sampler() -> a path, or sampler.group() -> the paths of one batch (fair sampling)
    space: Any  # .size(): the architectures left
    autocast: torch.dtype | None
    channels_last: bool

    def checkpoint(self) -> None: ...


def train_supernet(run: ImageNetSearch, epochs: int, log_every: int, end_of_epoch: Callable[[int], None],
                   stage_of: Callable[[int], int] | None = None) -> None:
    """Single-path supernet training from ``run.state["epoch"]`` to ``epochs``: each batch trains the sampler's
    group of paths with one optimizer step (:func:`benchmark.training.draw_group`: SPOS Eq. 1, one
    ``run.sampler()`` path, or FairNAS Algorithm 1, a ``run.sampler.group()`` with summed gradients); each epoch is logged (with its stage, by ``stage_of``), then ``end_of_epoch(epoch)`` may
    shrink the space, then ``run.checkpoint()``. ``run.ddp``, ``optimizer`` and ``scheduler`` are read every
    epoch: expanding replaces them."""

    def forward(model: nn.Module, x: torch.Tensor, path: Any) -> torch.Tensor:
        return model(x, path)

    for epoch in range(run.state["epoch"], epochs):
        set_epoch(run.loader, epoch)
        stats = train_epoch(run.ddp, forward, run.loader, run.optimizer, run.scheduler, run.dist, run.autocast,
                            channels_last=run.channels_last, log=run.log, log_every=log_every, epoch=epoch,
                            paths=lambda: draw_group(run.sampler))
        stage = {} if stage_of is None else {"stage": stage_of(epoch)}
        stats.update(epoch=epoch + 1, **stage, skipped_images=skipped_images(run.dist, run.loader),
                     space_size=run.space.size())
        run.state["train_log"].append(stats)
        run.state["timings"]["train_s"] += stats["seconds"]
        run.state["epoch"] = epoch + 1
        where = f" (stage {stage['stage']})" if stage else ""
        run.log(f"epoch {epoch + 1}/{epochs}{where}: loss {stats['loss']:.4f} top-1 {stats['top1']:.2f}% "
                f"{stats['images_per_s']:.1f} images/s ({stats['skipped_images']} unreadable images skipped)")
        end_of_epoch(epoch)
        run.checkpoint()


def plain_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)


@dataclass
class Retraining:
    """A network trained from scratch (MobileNet and BS-NAS retraining, SE-NAS / BS-NAS Sec. 4; DARTS on
    ImageNet): :meth:`run` trains epoch by epoch (:func:`train_epoch`), measures top-1 and top-5 on
    ``val_loader`` after each (also for the EMA weights) and checkpoints ``model``, ``optimizer``, ``scheduler``
    and ``ema`` atomically, resuming from ``out/checkpoint.pt``. ``forward`` trains (see ``aux_weight``),
    ``eval_forward`` gives the logits for evaluation."""

    out: Path
    dist: DistInfo
    log: Log
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loader: Any
    val_loader: Any
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    ema: AveragedModel | None = None
    label_smoothing: float = 0.0
    log_every: int = 50
    grad_clip: float = 0.0
    aux_weight: float | None = None
    forward: ForwardFn = plain_forward
    eval_forward: ForwardFn = plain_forward

    def run(self, epochs: int, resume: bool, intro: str,
            before_epoch: Callable[[int], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Train up to ``epochs``; logs ``intro`` once resumed. ``before_epoch(epoch)`` (DARTS: the epoch's lr)
        prepares an epoch and returns fields for its log entry. Returns every epoch's log entry."""
        path, dist, autocast, channels_last = self.out / "checkpoint.pt", self.dist, *fast_settings(self.dist.device)
        parts = {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler, "ema": self.ema}
        state = resume_training(path, dist.device, parts, self.log, resume)
        ddp = wrap_ddp(self.model, dist)
        self.log(intro)
        for epoch in range(state["epoch"], epochs):
            set_epoch(self.loader, epoch)
            extra = before_epoch(epoch) if before_epoch is not None else {}
            stats = train_epoch(ddp, self.forward, self.loader, self.optimizer, self.scheduler, dist, autocast,
                                self.label_smoothing, self.ema, channels_last=channels_last, log=self.log,
                                log_every=self.log_every, epoch=epoch, grad_clip=self.grad_clip,
                                aux_weight=self.aux_weight)
            stats["val_top1"], stats["val_top5"] = evaluate(ddp, self.eval_forward, self.val_loader, dist, autocast,
                                                            channels_last)
            if self.ema is not None:
                stats["ema_top1"], stats["ema_top5"] = evaluate(self.ema.module, self.eval_forward, self.val_loader,
                                                                dist, autocast, channels_last)
            stats.update(epoch=epoch + 1, **extra, skipped_images=skipped_images(dist, self.loader, self.val_loader))
            state["log"].append(stats)
            state["epoch"] = epoch + 1
            lr = f"lr {extra['lr']:.4g} " if "lr" in extra else ""
            self.log(f"epoch {epoch + 1}/{epochs}: {lr}loss {stats['loss']:.4f} val top-1 {stats['val_top1']:.2f}% "
                     f"top-5 {stats['val_top5']:.2f}% {stats['images_per_s']:.1f} images/s")
            save_training(path, parts, state, dist)
        return state["log"]
