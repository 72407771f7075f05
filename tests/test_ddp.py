"""Two processes with DistributedDataParallel (gloo, CPU) train exactly like one process with the same global
batch: the same images (sharded loader), the same sampled paths, gradients averaged over the ranks.

BatchNorm is frozen (eval mode) here: in training mode each rank normalises its own half batch, which is
standard DDP behaviour and differs from one process by design (SyncBatchNorm needs CUDA).
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from benchmark.data.imagenet import (
    ImageFolderDataset,
    make_loader,
    scan_imagenet,
    set_epoch,
    train_transform,
    write_fake_imagenet,
)
from benchmark.distributed import DistInfo, check_batch, cleanup, init_distributed
from benchmark.imagenet.train import linear_decay, make_sgd, train_epoch, wrap_ddp
from benchmark.models.mobilenet import MobileNetSupernet
from benchmark.spaces.mobilenet import MobileNetSkeleton, mobilenet_space

GLOBAL_BATCH = 8


def train_supernet(dist: DistInfo, root: Path) -> dict:
    """Two steps of supernet training (one path per step) on the generated folder; the final weights."""
    torch.manual_seed(0)
    model = MobileNetSupernet(MobileNetSkeleton(width_mult=0.25, input_size=32, num_classes=4))
    dataset = ImageFolderDataset(scan_imagenet(root).train, train_transform(32), seed=0)
    loader = make_loader(dataset, check_batch(GLOBAL_BATCH, dist.world_size), train=True, workers=0, seed=0,
                         dist=dist)
    set_epoch(loader, 0)
    optimizer = make_sgd(model, lr=0.5)
    scheduler = linear_decay(optimizer, total_steps=len(loader))
    ddp = wrap_ddp(model, dist, find_unused_parameters=True)
    space, rng = mobilenet_space(), random.Random(0)  # the same seed on every rank: the same paths
    stats = train_epoch(ddp, lambda m, x: m(x, space.sample(rng)), loader, optimizer, scheduler, dist,
                        frozen_bn=True)
    return {"state": {k: v.clone() for k, v in model.state_dict().items()}, "stats": stats}


def _worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist = init_distributed(device="cpu")
    result = train_supernet(dist, Path(root))
    if rank == 0:
        torch.save(result, out)
    cleanup(dist)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_equals_one_process(tmp_path):
    root = write_fake_imagenet(tmp_path / "imagenet", classes=4, train_per_class=4, val_per_class=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train_supernet(DistInfo(0, 1, 0, torch.device("cpu")), root)
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "ddp.pt"  # fork: the workers start with this process's imports (seconds, not tens)
    mp.start_processes(_worker, args=(2, _free_port(), str(root), str(out)), nprocs=2, start_method="fork")
    ddp = torch.load(out, weights_only=False)
    assert ddp["stats"]["steps"] == 2 and single["stats"]["steps"] == 2
    assert ddp["stats"]["images"] == single["stats"]["images"] == 16
    assert abs(ddp["stats"]["loss"] - single["stats"]["loss"]) < 1e-5
    for name, value in single["state"].items():
        torch.testing.assert_close(ddp["state"][name], value, atol=1e-6, rtol=1e-5, msg=name)
    initial = _initial_state()
    moved = [n for n, v in single["state"].items() if v.is_floating_point() and not torch.equal(v, initial[n])]
    assert len(moved) > 10  # the steps changed the sampled paths' weights


def _initial_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return MobileNetSupernet(MobileNetSkeleton(width_mult=0.25, input_size=32, num_classes=4)).state_dict()
