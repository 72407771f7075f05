"""FairNAS strict fairness (Algorithm 1): a group of paths trains on one batch, gradients summed, one update.

Checked on the NB201 supernet (``train_one_epoch``), on a planted two-slot supernet through the ImageNet
epoch (``benchmark.imagenet.train.train_epoch``) and in the MobileNet search's ``--fair`` groups; the uniform
(SPOS) step is checked against a copy of the plain one-path-per-step loop.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import random
import socket
from collections import Counter

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from benchmark.data.imagenet import (
    ImageFolderDataset,
    make_loader,
    scan_imagenet,
    set_epoch,
    train_transform,
    write_fake_imagenet,
)
from benchmark.distributed import DistInfo, check_batch, cleanup, init_distributed
from benchmark.imagenet.search import FairGroups
from benchmark.imagenet.train import make_sgd, train_epoch, wrap_ddp
from benchmark.models.mobilenet import MobileNetSupernet
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.presets import PRESETS
from benchmark.samplers import FairSampler, UniformSampler, strict_fair_group
from benchmark.search.constrained_sampling import WindowSampler
from benchmark.search.constraints import FlopsConstraint
from benchmark.spaces.base import SearchSpace
from benchmark.spaces.mobilenet import MobileNetSkeleton, mobilenet_space
from benchmark.spaces.mobilenet_flops import FlopsTable
from benchmark.spaces.nb201 import EDGE_NAMES, nb201_space
from benchmark.training import cosine_lr, make_optimizer, train_one_epoch
from tests.conftest import same

PRESET = dataclasses.replace(PRESETS["tiny"], grad_clip=0.0)


def _supernet(seed: int = 0) -> NB201Supernet:
    torch.manual_seed(seed)
    return NB201Supernet(num_classes=10, C=4, N=1, bn_affine=False, bn_track=True)


def _batches(n: int, seed: int = 0, size: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, 8, 8, generator=g), torch.randint(0, 10, (size,), generator=g)) for _ in range(n)]


class Recording:
    """A sampler wrapper that remembers every group it handed out."""

    def __init__(self, sampler):
        self.sampler, self.groups = sampler, []

    def group(self):
        g = self.sampler.group()
        self.groups.append(list(g))
        return g


def _op_params(model: NB201Supernet) -> dict[str, nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if ".edges." in n}


def _count_contributions(model: nn.Module) -> Counter:
    """Gradient contributions per parameter (a tensor hook fires once per backward that reaches it)."""
    counts: Counter = Counter()
    for name, p in model.named_parameters():
        p.register_hook(lambda g, name=name: counts.update([name]))
    return counts


def _count_runs(model: NB201Supernet) -> Counter:
    """Forward calls per (cell, edge, op) module, also for operations without parameters."""
    counts: Counter = Counter()
    for c, cell in enumerate(model.cells):
        if not hasattr(cell, "edges"):
            continue
        for edge, ops in cell.edges.items():
            for op, module in ops.items():
                module.register_forward_hook(lambda m, i, o, key=(c, edge, op): counts.update([key]))
    return counts


def _reaching_edges(arch) -> set[str]:
    """Edges whose target node reaches the cell output through non-``none`` edges: only these operations'
    parameters get a gradient (the others run, as in NB201, but do not reach the loss)."""
    reach = {3}
    for j in (2, 1):
        if any(op != "none" and int(e[0]) in reach and int(e[-1]) == j for e, op in zip(EDGE_NAMES, arch)):
            reach.add(j)
    return {e for e in EDGE_NAMES if int(e[0]) in reach}


def _sgd_step(p0: torch.Tensor, grad: torch.Tensor, preset, lr: float) -> torch.Tensor:
    """One step of SGD (weight decay, nesterov momentum, first step: buffer = gradient) written out."""
    d = grad + preset.weight_decay * p0
    if preset.momentum:
        d = d + preset.momentum * d if preset.nesterov else d
    return p0 - lr * d


def _summed_gradients(model: nn.Module, paths, x, y) -> dict[str, torch.Tensor]:
    """The sum over ``paths`` of each path's own gradient, each computed from scratch on the batch."""
    total: dict[str, torch.Tensor] = {}
    for arch in paths:
        model.zero_grad(set_to_none=True)
        nn.CrossEntropyLoss()(model(x, arch), y).backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                total[n] = total[n] + p.grad if n in total else p.grad.clone()
    return total


def _check_one_group(space: SearchSpace, grad_clip: float = 0.0) -> None:
    preset = dataclasses.replace(PRESET, grad_clip=grad_clip)
    model = _supernet()
    reference = copy.deepcopy(model)
    contributions, runs = _count_contributions(model), _count_runs(model)
    sampler = Recording(FairSampler(space, seed=3))
    x, y = _batches(1)[0]
    steps = []
    stats = train_one_epoch(model, sampler, [(x, y)], make_optimizer(model, preset), preset, first_step=0,
                            total_steps=10, on_step=steps.append)
    (group,) = sampler.groups
    L = max(len(ops) for ops in space.alive)
    assert len(group) == L and stats["steps"] == 1 and steps == [0]  # one optimizer step, one Eq. 4 tick
    for s, ops in enumerate(space.alive):  # strict fairness: every alive op once; fewer ops: at least once
        used = Counter(a[s] for a in group)
        assert set(used) == set(ops) and (len(ops) < L or set(used.values()) == {1})
    # every operation ran once per use in the group (once in a slot of L operations), and its parameters
    # received one gradient contribution from each use whose edge reaches the cell output; shared ones L
    uses = Counter((EDGE_NAMES[s], op) for a in group for s, op in enumerate(a))
    grad_uses = Counter((e, op) for a in group for e, op in zip(EDGE_NAMES, a) if e in _reaching_edges(a))
    for name in _op_params(model):
        edge, op = name.split(".edges.")[1].split(".")[:2]
        assert contributions[name] == grad_uses[edge, op], name
    assert contributions["classifier.weight"] == contributions["stem.0.weight"] == L
    for (_, edge, op), n in runs.items():
        assert n == uses[edge, op]
    assert sum(runs.values()) == sum(n for (e, op), n in uses.items() if op != "none") * len(model.cell_positions)
    # the update is one SGD step on the summed gradient (clipped once), at the step's single learning rate
    grads = _summed_gradients(reference, group, x, y)
    if grad_clip > 0:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads.values()]))
        grads = {n: g * min(1.0, grad_clip / (float(norm) + 1e-6)) for n, g in grads.items()}
        assert float(norm) > grad_clip  # clipping acts
    lr = cosine_lr(0, 10, preset.lr, preset.lr_min)
    after = dict(model.named_parameters())
    for name, p0 in reference.named_parameters():
        expected = _sgd_step(p0.detach(), grads[name], preset, lr) if name in grads else p0.detach()
        torch.testing.assert_close(after[name].detach(), expected, rtol=1e-5, atol=1e-6, msg=name)
    # ... and not the update of the averaged gradient
    mean = _sgd_step(dict(reference.named_parameters())["classifier.weight"].detach(),
                     grads["classifier.weight"] / L, preset, lr)
    assert not torch.allclose(after["classifier.weight"].detach(), mean, rtol=1e-5, atol=1e-6)


def test_one_fair_group_gives_every_op_one_gradient_and_one_summed_update():
    _check_one_group(nb201_space())


def test_a_group_on_a_shrunk_space_with_uneven_slots():
    space = nb201_space()
    keep = [list(space.alive[0]), ["none", "skip_connect"], ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
            ["nor_conv_3x3"], list(space.alive[4])[:4], list(space.alive[5])]
    space.restrict(keep)
    _check_one_group(space)


def test_gradient_clipping_acts_once_on_the_accumulated_gradient():
    _check_one_group(nb201_space(), grad_clip=0.05)


def test_fair_training_takes_one_step_per_batch_and_one_lr_per_group():
    model = _supernet()
    optimizer = make_optimizer(model, PRESET)
    lrs, calls = [], []
    optimizer.register_step_pre_hook(lambda opt, a, k: lrs.append(opt.param_groups[0]["lr"]))
    sampler = FairSampler(nb201_space(), seed=0)
    stats = train_one_epoch(model, sampler, _batches(3), optimizer, PRESET, first_step=4, total_steps=20,
                            on_step=calls.append)
    assert stats["steps"] == 3 and calls == [0, 1, 2]
    assert lrs == [cosine_lr(s, 20, PRESET.lr, PRESET.lr_min) for s in (4, 5, 6)]
    assert sampler.state_dict()["queue"] == []  # a group never straddles a batch (or a checkpoint)


def _plain_loop(model, sampler, batches, optimizer, preset, first_step, total_steps):
    """The uniform loop as it was before groups: one sampled path and one step per batch."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    step, losses = first_step, []
    for x, y in batches:
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, total_steps, preset.lr, preset.lr_min)
        arch = sampler()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x, arch), y)
        loss.backward()
        if preset.grad_clip > 0:
            grads = [p for p in model.parameters() if p.grad is not None]
            nn.utils.clip_grad_norm_(grads, preset.grad_clip, foreach=True)
        optimizer.step()
        losses.append(loss.detach() * len(y))
        step += 1
    return float(sum(losses)) / sum(len(y) for _, y in batches)


@pytest.mark.parametrize("grad_clip", [0.0, 0.05])
def test_uniform_sampling_is_the_plain_loop_bit_for_bit(grad_clip):
    preset = dataclasses.replace(PRESET, grad_clip=grad_clip)
    a, b = _supernet(), _supernet()
    batches = _batches(4)
    stats = train_one_epoch(a, UniformSampler(nb201_space(), 7), batches, make_optimizer(a, preset), preset,
                            first_step=2, total_steps=10)
    loss = _plain_loop(b, UniformSampler(nb201_space(), 7), batches, make_optimizer(b, preset), preset, 2, 10)
    assert stats["steps"] == 4 and stats["loss"] == loss
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], v) for k, v in _supernet().state_dict().items())  # it trained


# ------------------------------------------------------------------------------ the ImageNet epoch
class Planted(nn.Module):
    """Two slots of three linear operations each and a shared head: ``forward(x, arch)`` runs one path."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.ops = nn.ModuleList(nn.ModuleDict({op: nn.Linear(6, 6) for op in "abc"}) for _ in range(2))
        self.head = nn.Linear(6, 4)

    def forward(self, x, arch):
        for slot, op in zip(self.ops, arch):
            x = torch.relu(slot[op](x))
        return self.head(x)


def test_imagenet_epoch_trains_a_group_with_the_summed_gradient():
    model, reference = Planted(), Planted()
    group = strict_fair_group([("a", "b", "c"), ("a", "c")], random.Random(0))
    assert len(group) == 3
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(5, 6, generator=g), torch.randint(0, 4, (5,), generator=g)
    counts = _count_contributions(model)
    optimizer = make_sgd(model, lr=0.3, momentum=0.9, weight_decay=4e-5)
    stats = train_epoch(model, lambda m, v, path: m(v, path), [(x, y)], optimizer, None,
                        DistInfo(0, 1, 0, torch.device("cpu")), paths=lambda: group)
    assert stats["steps"] == 1 and stats["images"] == 15  # three paths on one batch of 5
    assert counts["head.weight"] == 3 and counts["ops.0.a.weight"] == 1 and counts["ops.1.a.weight"] >= 1
    grads = _summed_gradients(reference, group, x, y)
    after = dict(model.named_parameters())
    for name, p0 in reference.named_parameters():
        if name not in grads:  # an operation no path of the group holds
            assert name.startswith("ops.1.b") and torch.equal(after[name], p0)
            continue
        d = grads[name] + 4e-5 * p0.detach()  # first step: the momentum buffer is the gradient
        torch.testing.assert_close(after[name].detach(), p0.detach() - 0.3 * d, msg=name)


# ------------------------------------------------------------------------- the MobileNet search's --fair
def _window(lo: float, hi: float):
    skeleton = MobileNetSkeleton(0.25, 32, 10)
    table, space = FlopsTable(skeleton), mobilenet_space()
    return WindowSampler(space, table.per_slot_m(space), table.fixed_m, FlopsConstraint(lo, hi, table.flops_m)), table


def test_mobilenet_fair_groups_are_strict_without_a_window_and_in_the_window_inside_it():
    window, _ = _window(0.0, float("inf"))
    sampler = FairGroups(window, seed=0)
    assert sampler.strict
    for _ in range(3):
        group = sampler.group()
        assert len(group) == 7
        for s, ops in enumerate(window.alive):
            used = Counter(a[s] for a in group)
            assert set(used) == set(ops) and (len(ops) < 7 or set(used.values()) == {1})
    state = sampler.state_dict()
    expected = sampler.group()
    again = FairGroups(window, seed=5)
    again.load_state_dict(state)
    assert again.group() == expected  # resumable

    window, table = _window(1.0, 1.3)
    inside = FairGroups(window, seed=0)
    assert not inside.strict
    group = inside.group()
    assert len(group) == 7 and all(1.0 <= table.flops_m(a) <= 1.3 for a in group)
    assert np.mean([table.flops_m(a) for a in strict_fair_group(window.alive, random.Random(0))]) > 1.3


# ------------------------------------------------------------------ DistributedDataParallel (gloo, CPU)
def _fair_ddp_training(dist: DistInfo, root: str) -> dict:
    """One epoch (two batches) of strict-fair MobileNet supernet training: every rank trains the same groups."""
    torch.manual_seed(0)
    model = MobileNetSupernet(MobileNetSkeleton(width_mult=0.25, input_size=32, num_classes=4))
    dataset = ImageFolderDataset(scan_imagenet(root).train, train_transform(32), seed=0)
    loader = make_loader(dataset, check_batch(8, dist.world_size), train=True, workers=0, seed=0, dist=dist)
    set_epoch(loader, 0)
    optimizer = make_sgd(model, lr=0.5)
    ddp = wrap_ddp(model, dist, find_unused_parameters=True)
    sampler = FairSampler(mobilenet_space(), seed=0)  # the same seed on every rank: the same groups
    stats = train_epoch(ddp, lambda m, x, path: m(x, path), loader, optimizer, None, dist, frozen_bn=True,
                        paths=sampler.group)
    return {"state": {k: v.clone() for k, v in model.state_dict().items()}, "stats": stats}


def _ddp_worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist = init_distributed(device="cpu")
    result = _fair_ddp_training(dist, root)
    if rank == 0:
        torch.save(result, out)
    cleanup(dist)


@pytest.mark.slow
def test_fair_groups_under_ddp_equal_one_process(tmp_path):
    """Each path's backward all-reduces its gradient; the accumulated sum then equals one process's."""
    root = str(write_fake_imagenet(tmp_path / "imagenet", classes=4, train_per_class=4, val_per_class=1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = _fair_ddp_training(DistInfo(0, 1, 0, torch.device("cpu")), root)
    finally:
        torch.set_num_threads(threads)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp.pt"
    mp.start_processes(_ddp_worker, args=(2, port, root, str(out)), nprocs=2, start_method="fork")
    ddp = torch.load(out, weights_only=False)
    assert ddp["stats"]["steps"] == single["stats"]["steps"] == 2
    assert ddp["stats"]["images"] == single["stats"]["images"] == 16 * 7  # 7 paths per batch
    for name, value in single["state"].items():
        torch.testing.assert_close(ddp["state"][name], value, atol=1e-6, rtol=1e-5, msg=name)


# ------------------------------------------------------------------ an NB201 run with sampler=fair, resumed
@pytest.mark.slow
def test_spos_with_fair_sampling_and_eq4_averaging_resumes_to_the_same_result(root, tmp_path, monkeypatch):
    """``--set sampler=fair``: one group per batch, so the schedule and the Eq. 4 snapshots count the same steps
    as uniform sampling, and a run killed after epoch 1 resumes to the uninterrupted result."""
    from conftest import FAST, kill_at_epoch

    from benchmark.methods.base import RunConfig
    from benchmark.methods.registry import METHODS
    from benchmark.presets import get_preset

    preset = get_preset("tiny", {**FAST, "sampler": "fair", "weight_avg_k": "2", "stages": "1",
                                 "epochs_per_stage": "2", "tau_epochs": "2", "max_train": "128"})
    cfg = RunConfig(method="spos", dataset="cifar10", preset=preset, device="cpu", data_root=str(root))
    cls = METHODS.get("spos").oneshot

    def run(out):
        return cls(cfg, tmp_path / out, progress=False, log=lambda s: None).run()

    whole = run("whole")
    assert [e["steps"] for e in whole["train_log"]] == [128 // 64] * 2  # one step per batch, 5 paths each
    kill_at_epoch(monkeypatch, cls, 2)
    with pytest.raises(KeyboardInterrupt):
        run("resumed")
    monkeypatch.undo()
    resumed = run("resumed")
    for key in ("tau", "best_arch", "train_log"):
        assert same(resumed[key], whole[key]), key
