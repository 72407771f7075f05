"""Training throughput of the MobileNet-like supernet (the ``nasbench perf`` MobileNet line) and of a plain
MobileNetV2-1.0 of about the same size, on synthetic 224x224 batches (no data loading in the timing).

Each supernet step trains one architecture drawn uniformly from the space; on CUDA both models use bf16
autocast and channels-last, as the search does. Peak memory: ``torch.cuda.max_memory_allocated`` on
CUDA, the process's peak resident set size on CPU.
"""

from __future__ import annotations

import random
import resource
import time
from typing import Any

import torch
from torch import nn

from benchmark.imagenet.train import fast_settings, make_sgd
from benchmark.models.mobilenet import MobileNetSupernet, mobilenet_v2
from benchmark.spaces.mobilenet import MobileNetSkeleton, mobilenet_space

MODELS = ("supernet", "mobilenetv2")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mobilenet_throughput(device: str | torch.device, batch_size: int, steps: int, model: str = "supernet",
                         input_size: int = 224, warmup: int = 3, seed: int = 0) -> dict[str, Any]:
    """Training images/s over ``steps`` timed steps (after ``warmup``) and peak memory in bytes."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}")
    device = torch.device(device)
    torch.manual_seed(seed)
    autocast, channels_last = fast_settings(device)
    space = mobilenet_space()
    net: nn.Module = (MobileNetSupernet(MobileNetSkeleton(input_size=input_size), space) if model == "supernet"
                      else mobilenet_v2()).to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    optimizer = make_sgd(net, lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch_size, 3, input_size, input_size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch_size,), device=device)
    rng = random.Random(seed)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            logits = net(x, space.sample(rng)) if model == "supernet" else net(x)
            loss = loss_fn(logits.float(), y)
        loss.backward()
        optimizer.step()

    net.train()
    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"model": model, "device": str(device), "batch_size": batch_size, "steps": steps,
            "input_size": input_size, "autocast": None if autocast is None else str(autocast).replace("torch.", ""),
            "channels_last": channels_last, "images_per_s": batch_size * steps / elapsed, "peak_mem": int(peak)}
