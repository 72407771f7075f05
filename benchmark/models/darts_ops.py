"""The DARTS candidate operations (Liu et al., ICLR 2019, Sec. 3.1; SE-NAS Sec. 3.5).

Every operation maps ``C`` channels to ``C`` channels; ``stride`` is 2 on the edges that leave a
reduction cell's two inputs, else 1:

* ``sep_conv_3x3`` / ``sep_conv_5x5``: (ReLU -> depthwise k x k -> pointwise 1x1 -> BatchNorm) twice,
  the stride in the first depthwise convolution;
* ``dil_conv_3x3`` / ``dil_conv_5x5``: ReLU -> depthwise k x k with dilation 2 -> pointwise -> BatchNorm;
* ``max_pool_3x3`` / ``avg_pool_3x3``: 3x3 pooling, padding 1 (average pooling does not count padding);
* ``skip_connect``: identity, or a factorized reduction (two offset strided 1x1 convolutions) at stride 2;
* ``none``: zeros (only the DARTS relaxation runs it; a discrete cell never keeps a ``none`` edge).

``affine`` / ``track_running_stats`` set every BatchNorm of an operation (DARTS searches with non-affine
BatchNorm and retrains with affine BatchNorm).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.spaces.darts import PRIMITIVES


def _bn(C: int, affine: bool, track: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=affine, track_running_stats=track)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d: the cells' 1x1 input preprocessing."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True, track: bool = True):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
                         _bn(C_out, affine, track))


class DilConv(nn.Sequential):
    """ReLU -> depthwise dilated k x k -> pointwise 1x1 -> BatchNorm."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 affine: bool = True, track: bool = True):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                   groups=C_in, bias=False),
                         nn.Conv2d(C_in, C_out, 1, bias=False),
                         _bn(C_out, affine, track))


class SepConv(nn.Sequential):
    """Two stacked :class:`DilConv` blocks with dilation 1, the stride in the first."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True, track: bool = True):
        super().__init__(DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine, track),
                         DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine, track))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: ReLU, two stride-2 1x1 convolutions (the second
    shifted by one pixel) of C_out / 2 channels each, concatenated, BatchNorm. Needs an even C_out."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True, track: bool = True):
        super().__init__()
        if C_out % 2:
            raise NasBenchError(f"a factorized reduction to {C_out} channels cannot be built (odd width)",
                                "use an even number of channels (--set C=...)")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = _bn(C_out, affine, track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """``none``: zeros at the output resolution (stride 1 or 2)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x[:, :, ::self.stride, ::self.stride])


def darts_op(name: str, C: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
    """A fresh module for operation ``name`` on ``C`` channels with ``stride`` 1 or 2."""
    if name == "sep_conv_3x3":
        return SepConv(C, C, 3, stride, 1, affine, track)
    if name == "sep_conv_5x5":
        return SepConv(C, C, 5, stride, 2, affine, track)
    if name == "dil_conv_3x3":
        return DilConv(C, C, 3, stride, 2, 2, affine, track)
    if name == "dil_conv_5x5":
        return DilConv(C, C, 5, stride, 4, 2, affine, track)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine, track)
    if name == "none":
        return Zero(stride)
    raise NasBenchError(f"unknown DARTS operation {name!r}", f"choose from {', '.join(PRIMITIVES)}")


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest (DARTS' drop path)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep
