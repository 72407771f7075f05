"""Standalone training of one NB201 architecture from scratch (NAS-Bench-201 protocol, Dong & Yang 2020,
Sec. 2.3 / Table 2): the "standalone accuracy" of SE-NAS Table 1 and Fig. 1, from our own repeated runs.

Preset ``paper``: the NB201 schedule - 200 epochs, SGD with nesterov momentum 0.9, lr 0.1 annealed to 0 by
a cosine schedule, weight decay 5e-4, batch 256, random crop + flip; C=16, N=5; affine, tracked BatchNorm.
The network trains on the NB201 train split and reports accuracy on the valid and test splits after the
last epoch. The data split is fixed (``split_seed``) while ``seed`` varies the initialisation, batch order
and augmentation, as in NB201's repeated runs. ``tiny`` is the same protocol shrunk for CPU.

Every epoch ends with an atomic checkpoint; a killed run resumes at the last finished epoch with the same
result as an uninterrupted one (exactly, on CPU).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.data import load_dataset
from benchmark.data.loader import TensorBatches
from benchmark.distributed import resolve_device
from benchmark.errors import NasBenchError
from benchmark.groundtruth import default_groundtruth, load_groundtruth
from benchmark.io import write_json
from benchmark.methods.base import NUM_CLASSES, RESULT_VERSION, versions
from benchmark.models.nb201_network import NB201Network, as_arch
from benchmark.paths import data_root
from benchmark.presets import NB201NetworkPreset
from benchmark.presets_base import CosinePreset, EvalBatchPreset, FromScratchPreset, SubsetPreset
from benchmark.resumable import ResumableRun
from benchmark.settings import check_positive, check_ranges, resolve_preset
from benchmark.spaces.nb201 import format_arch
from benchmark.training import cosine_lr

METHOD = "standalone"


@dataclass(frozen=True)
class StandalonePreset(EvalBatchPreset, SubsetPreset, FromScratchPreset, CosinePreset, NB201NetworkPreset):
    """The NB201 training protocol (``paper``) or a reduced version of it: the NB201 network trained from
    scratch with the cosine SGD of :class:`benchmark.presets_base.CosinePreset`, annealed to 0."""

    lr: float = 0.1
    lr_min: float = 0.0
    augment: bool = True
    split_seed: int = 0  # the train/valid/test split, fixed across training seeds (NB201's split files)
    max_test: int | None = None  # a seeded subset of the test images too

    @property
    def total_epochs(self) -> int:
        return self.epochs


STANDALONE_PRESETS: dict[str, StandalonePreset] = {
    "paper": StandalonePreset(name="paper"),
    "tiny": StandalonePreset(name="tiny", C=8, N=1, epochs=3, batch_size=128, max_train=2560, max_val=500,
                             max_test=500, eval_batch_size=500),
}


def get_standalone_preset(name: str, overrides: Mapping[str, Any] | None = None) -> StandalonePreset:
    """A named standalone preset with ``key=value`` overrides applied and checked."""
    return resolve_preset(STANDALONE_PRESETS, name, overrides, validate, "standalone preset")


def validate(p: StandalonePreset) -> None:
    """Refuse impossible settings before anything runs."""
    check_ranges(p)
    p.check_network()
    check_positive(p, ("epochs", "batch_size", "eval_batch_size"))
    for key in ("max_train", "max_val", "max_test"):
        if getattr(p, key) is not None and getattr(p, key) < 1:
            raise NasBenchError(f"{key} must be at least 1 or none", f"set {key} >= 1 or none")
    if not 0 <= p.lr_min <= p.lr:
        raise NasBenchError(f"need 0 <= lr_min <= lr, got lr={p.lr} lr_min={p.lr_min}",
                            "fix the learning rates")


@dataclass(frozen=True)
class StandaloneConfig:
    """Everything that determines a standalone run's result, plus where it runs."""

    arch: str
    dataset: str
    preset: StandalonePreset
    seed: int = 0
    threads: int = 1  # CPU (intra-op) threads: part of the identity, results depend on it (docs/reliability.md)
    device: str = "auto"
    data_root: str | None = None
    groundtruth: str | None = None  # file or NATS folder; None: the data root's table (as for method runs)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", format_arch(as_arch(self.arch)))
        if self.dataset not in NUM_CLASSES:
            raise NasBenchError(f"unknown dataset {self.dataset!r}",
                                f"choose one of: {', '.join(NUM_CLASSES)}")

    def identity(self) -> dict[str, Any]:
        """The fields that must match for a checkpoint to be resumed (paths, device, ground truth aside)."""
        return {"method": METHOD, "arch": self.arch, "dataset": self.dataset, "seed": self.seed,
                "threads": self.threads, "preset": dataclasses.asdict(self.preset)}


@dataclass
class StandaloneState:
    epoch: int = 0
    train_log: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: {"train_s": 0.0, "eval_s": 0.0})


def _seeded_subset(x: torch.Tensor, y: torch.Tensor, cap: int | None,
                   seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``cap`` images, a seeded random subset (``max_test``)."""
    if cap is None or cap >= len(y):
        return x, y
    keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:cap]
    return x[keep], y[keep]


class StandaloneRun(ResumableRun):
    """Train ``cfg.arch`` from scratch, evaluate on valid and test, write ``result.json``; resumable."""

    state_class = StandaloneState
    cfg: StandaloneConfig
    p: StandalonePreset

    @property
    def progress_label(self) -> str:
        return f"standalone {self.cfg.arch} seed {self.cfg.seed}"

    def setup(self) -> None:
        cfg, p = self.cfg, self.p
        self.device = resolve_device(self.cfg.device)
        root = data_root(cfg.data_root)
        self.gt = load_groundtruth(Path(cfg.groundtruth)) if cfg.groundtruth else default_groundtruth(root)
        self.gt_acc = self.gt.accuracy(cfg.arch, cfg.dataset)  # fails here, not after training
        d = load_dataset(cfg.dataset, root, scheme="nb201", seed=p.split_seed,
                         max_train=p.max_train, max_val=p.max_val)
        test_x, test_y = _seeded_subset(d.test_x, d.test_y, p.max_test, p.split_seed)
        self.data = d
        self.train_x, self.train_y = d.train_x.to(self.device), d.train_y.to(self.device)
        self.eval_sets = {"val": (d.val_x.to(self.device), d.val_y.to(self.device)),
                          "test": (test_x.to(self.device), test_y.to(self.device))}
        torch.manual_seed(cfg.seed)
        self.model = NB201Network(cfg.arch, num_classes=d.num_classes, C=p.C, N=p.N, affine=True,
                                  track_running_stats=True).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=p.lr, momentum=p.momentum,
                                         nesterov=p.nesterov, weight_decay=p.weight_decay)
        self.steps_per_epoch = len(self._batches(1))

    def _batches(self, epoch: int) -> TensorBatches:
        b = TensorBatches(self.train_x, self.train_y, self.data.mean, self.data.std, self.p.batch_size,
                          shuffle=True, augment=self.p.augment, seed=self.cfg.seed)
        b.set_epoch(epoch)
        return b

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_contents(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def restore(self, ck: dict[str, Any]) -> None:
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])

    # ------------------------------------------------------------------ training and evaluation
    def train_epoch(self, epoch: int, total_steps: int) -> dict[str, float]:
        """One epoch of SGD with the per-step cosine schedule; mean loss and training accuracy."""
        p, model = self.p, self.model
        model.train()
        loss_fn = nn.CrossEntropyLoss()
        loss_sum = torch.zeros((), device=self.device)
        hits = torch.zeros((), dtype=torch.long, device=self.device)
        seen = 0
        for i, (x, y) in enumerate(self._batches(epoch)):
            lr = cosine_lr((epoch - 1) * self.steps_per_epoch + i, total_steps, p.lr, p.lr_min)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach() * len(y)
            hits += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
        return {"loss": float(loss_sum) / seen, "train_acc": 100.0 * float(hits) / seen}

    @torch.inference_mode()
    def accuracy(self, split: str) -> float:
        """Top-1 accuracy (%) on ``split`` ('val' or 'test') with the BatchNorm running statistics."""
        x, y = self.eval_sets[split]
        self.model.eval()
        hits = torch.zeros((), dtype=torch.long, device=self.device)
        batches = TensorBatches(x, y, self.data.mean, self.data.std, self.p.eval_batch_size, shuffle=False)
        for xb, yb in batches:
            hits += (self.model(xb).argmax(1) == yb).sum()
        return 100.0 * float(hits) / len(y)

    def finish(self) -> dict[str, Any]:
        """Evaluate on valid and test, write ``result.json``."""
        with self.timed("eval_s"):
            val_acc, test_acc = self.accuracy("val"), self.accuracy("test")
        return self.write_result(val_acc, test_acc)

    def scale_note(self) -> str:
        p = self.p
        note = (f"standalone preset {p.name}: C={p.C}, N={p.N}, {len(self.train_y)} training, "
                f"{len(self.eval_sets['val'][1])} valid and {len(self.eval_sets['test'][1])} test images, "
                f"{p.epochs} epochs")
        if p.name != "paper":
            note += "; reduced scale: not the NB201 protocol"
        return note

    def write_result(self, val_acc: float, test_acc: float) -> dict[str, Any]:
        """``result.json``; ``groundtruth`` (source and metric) as a method run records it, and ``gt_acc``,
        the architecture's ground-truth accuracy on that metric (the ``gt_acc`` of a method run's ranking)."""
        cfg = self.cfg
        result = {
            "version": RESULT_VERSION, "method": METHOD, "config": cfg.identity(), "arch": cfg.arch,
            "dataset": cfg.dataset, "seed": cfg.seed, "preset": self.p.name, "val_acc": val_acc,
            "test_acc": test_acc, "epochs": self.state.epoch, "device": str(self.device),
            "data_split": self.data.source,
            "groundtruth": {"source": self.gt.source, "metric": self.gt.metric_name(cfg.dataset)},
            "gt_acc": self.gt_acc,
            "scale": self.scale_note(), "train_log": self.state.train_log,
            "timings_s": {**self.state.timings, "total_s": sum(self.state.timings.values())},
            "versions": versions(),
        }
        write_json(self.out / "result.json", result)
        return result
