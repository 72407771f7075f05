"""Parameters and FLOPs under NB201's conventions (NB201 Table/API "Params (MB)" and "FLOP (M)").

FLOPs are multiply-accumulates of one forward pass, counted with ``torch.utils.flop_counter`` (which
reports 2 FLOPs per multiply-accumulate). Like NB201's counter, a bias adds one operation per output
element, while BatchNorm, ReLU, pooling, additions and ``none`` (zeros) add nothing. Every operation
that runs is counted, also on cell edges that never reach the output.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count, mm_flop

from benchmark.errors import NasBenchError
from benchmark.models.nb201_network import NB201Network, as_arch
from benchmark.spaces.base import Arch

aten = torch.ops.aten

# dataset -> (number of classes, input side); NB201's names and the ground-truth table's prefixes
DATASETS: dict[str, tuple[int, int]] = {
    "cifar10": (10, 32),
    "cifar10-valid": (10, 32),
    "cifar100": (100, 32),
    "imagenet16-120": (120, 16),
    "imagenet16": (120, 16),
}


def count_params(model: nn.Module) -> int:
    """Number of parameters (BatchNorm affine weights included, buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def _addmm_with_bias(bias_shape: Sequence[int], a_shape: Sequence[int], b_shape: Sequence[int],
                     out_shape: Sequence[int] | None = None, **kwargs: Any) -> int:
    """Linear layer: 2 x (m*n*k multiply-accumulates + m*n bias additions)."""
    m, n = a_shape[0], b_shape[1]
    return mm_flop(a_shape, b_shape) + 2 * m * n


def _conv_with_bias(x_shape: Sequence[int], w_shape: Sequence[int], bias: Sequence[int] | None,
                    stride: Any, padding: Any, dilation: Any, transposed: bool, *args: Any,
                    out_shape: Sequence[int] | None = None, **kwargs: Any) -> int:
    """Convolution: 2 x (multiply-accumulates + one bias addition per output element if biased)."""
    flops = conv_flop_count(x_shape, w_shape, out_shape, transposed=transposed)
    if bias is not None and out_shape is not None:
        flops += 2 * int(torch.Size(out_shape).numel())
    return flops


_NB201_MAPPING = {aten.addmm: _addmm_with_bias, aten.convolution: _conv_with_bias,
                  aten._convolution: _conv_with_bias}


def count_flops(model: nn.Module, input_shape: Sequence[int], *forward_args: Any) -> int:
    """Multiply-accumulates of ``model(x, *forward_args)`` for an input of ``input_shape`` (batch
    included: pass ``(1, 3, 32, 32)`` for NB201's per-image CIFAR count). Runs in eval mode without
    gradients, so BatchNorm statistics are untouched; the model's mode is restored."""
    ref = next(iter(model.parameters()), None)
    x = torch.zeros(tuple(input_shape), device=None if ref is None else ref.device,
                    dtype=None if ref is None else ref.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_NB201_MAPPING) as counter:
            model(x, *forward_args)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def dataset_shape(dataset: str) -> tuple[int, int]:
    """``(num_classes, input side)`` of an NB201 dataset name (case-insensitive)."""
    try:
        return DATASETS[dataset.lower()]
    except KeyError:
        raise NasBenchError(f"unknown NB201 dataset {dataset!r}",
                            f"choose one of: {', '.join(DATASETS)}") from None


_COST_CACHE: dict[tuple[int, int, int, int], tuple[float, float]] = {}


def nb201_params_flops(arch: str | Arch, dataset: str = "cifar10") -> tuple[float, float]:
    """NB201's ``(params in M, FLOPs in M)`` of ``arch`` on ``dataset``, counted on the built network
    (C=16, N=5). Only the numbers of 1x1 and 3x3 convolution edges change the counts, so results are
    cached per (n1, n3, classes, input side)."""
    ops = as_arch(arch)
    num_classes, side = dataset_shape(dataset)
    key = (ops.count("nor_conv_1x1"), ops.count("nor_conv_3x3"), num_classes, side)
    if key not in _COST_CACHE:
        net = NB201Network(ops, num_classes=num_classes)
        _COST_CACHE[key] = (count_params(net) / 1e6, count_flops(net, (1, 3, side, side)) / 1e6)
    return _COST_CACHE[key]
