"""The NAS-Bench-201 operations and cell rule (Dong & Yang, ICLR 2020, Sec. 2.1 and Fig. 1).

Every cell edge keeps the channel count and the resolution (reductions happen in the residual blocks
between stages), so each operation here maps ``C`` channels to ``C`` channels at stride 1:

* ``nor_conv_3x3`` / ``nor_conv_1x1``: ReLU -> Conv (no bias) -> BatchNorm;
* ``avg_pool_3x3``: 3x3 average pooling, stride 1, padding 1, padding not counted;
* ``skip_connect``: identity;
* ``none``: zeros.

A cell is a DAG over 4 nodes: node ``j = sum_{i<j} op_{j<-i}(node_i)``; its output is node 3.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from benchmark.spaces.nb201 import EDGES, OPS


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, NB201's convolution operation."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The ``none`` operation: an all-zero tensor shaped like its input (no parameters, no FLOPs)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class ResNetBasicblock(nn.Module):
    """NB201's reduction block between stages: two 3x3 ReLUConvBN (the first with stride 2) plus a
    shortcut of 2x2 average pooling and a 1x1 convolution (no bias, no BatchNorm)."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, affine, track_running_stats)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(C_in, C_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def nb201_op(name: str, C: int, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    """A fresh module for cell operation ``name`` on ``C`` channels (stride 1, as on every NB201 edge)."""
    if name == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1, affine, track_running_stats)
    if name == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0, affine, track_running_stats)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity()
    if name == "none":
        return Zero()
    raise ValueError(f"unknown NB201 operation {name!r}; choose from {', '.join(OPS)}")


def cell_forward(x: torch.Tensor, edge_ops: Sequence[nn.Module | None]) -> torch.Tensor:
    """The NB201 cell rule over six edges in ``EDGES`` order; ``None`` marks a ``none`` edge.

    ``none`` edges add nothing instead of adding zeros (same result, no work); a node whose inputs are
    all ``none`` is zeros of the input's shape. Every other operation runs, also on edges whose node
    never reaches the output, as in NB201.
    """
    nodes: list[torch.Tensor] = [x]
    acc: torch.Tensor | None = None
    for (j, i), op in zip(EDGES, edge_ops):
        if j > len(nodes):  # first edge into node j: close node j-1
            nodes.append(torch.zeros_like(x) if acc is None else acc)
            acc = None
        if op is not None:
            y = op(nodes[i])
            acc = y if acc is None else acc + y
    return torch.zeros_like(x) if acc is None else acc
