"""The spring block and the channel-searchable MobileNetV2 supernet of BS-NAS (Sec. 3.1, Fig. 2, Table 1).

Every block holds one inverted-residual candidate per (kernel, expansion), allocated at the largest input
and output widths; an architecture slices the weights it uses. During supernet training the last block of
a cluster -- the *spring block* -- outputs the cluster's fixed spring width (its largest choice), and the
following block's first pointwise convolution takes the chosen number of channels of it, so any width
choice fits (Fig. 2, right). :meth:`SpringSupernet.derive` releases the springs: the widths become
consistent and the result is a plain MobileNetV2-style :class:`SpringNetwork` (Fig. 2, left) that, given
the supernet's weights, computes exactly what the supernet computes for that architecture.

Residual connections: a block has one when its stride is 1 and it is not the first of its cluster (input
and output then share the cluster's width, the MobileNetV2 rule for Table 1). A spring block adds its input
to the first (chosen-width) channels of its output, which are the only ones the next block reads.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.mobilenet import init_weights
from benchmark.spaces.base import Arch
from benchmark.spaces.mobilenet_bsnas import SpringConfig, check_arch, op_width, parse_op


def sliced_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor, n: int) -> torch.Tensor:
    """``bn`` applied to ``x`` (``n`` channels) with the first ``n`` of its statistics and affine weights;
    the same rules as ``nn.BatchNorm2d.forward`` (running statistics updated in place, cumulative average
    when ``momentum`` is None), so the BatchNorm policies of :mod:`benchmark.estimation` work unchanged."""
    momentum = 0.0
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    use_batch = bn.training or (bn.running_mean is None and bn.running_var is None)
    track = not bn.training or bn.track_running_stats
    return F.batch_norm(
        x,
        bn.running_mean[:n] if track and bn.running_mean is not None else None,
        bn.running_var[:n] if track and bn.running_var is not None else None,
        None if bn.weight is None else bn.weight[:n],
        None if bn.bias is None else bn.bias[:n],
        use_batch, momentum, bn.eps)


class SlicedInvertedResidual(nn.Module):
    """One (kernel, expansion) candidate of a block at the largest widths (expand 1x1, depthwise k x k,
    linear project 1x1); ``forward`` uses ``c_in`` input and ``c_out`` output channels."""

    def __init__(self, in_max: int, out_max: int, kernel: int, expansion: int, stride: int):
        super().__init__()
        hidden = expansion * in_max
        self.kernel, self.expansion, self.stride = kernel, expansion, stride
        self.expand = nn.Conv2d(in_max, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.depthwise = nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, out_max, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_max)

    def forward(self, x: torch.Tensor, c_in: int, c_out: int) -> torch.Tensor:
        h = self.expansion * c_in
        y = F.conv2d(x[:, :c_in], self.expand.weight[:h, :c_in])
        y = F.relu6(sliced_batch_norm(self.bn1, y, h))
        y = F.conv2d(y, self.depthwise.weight[:h], None, self.stride, self.kernel // 2, 1, h)
        y = F.relu6(sliced_batch_norm(self.bn2, y, h))
        y = F.conv2d(y, self.project.weight[:c_out, :h])
        return sliced_batch_norm(self.bn3, y, c_out)


class SpringChoiceBlock(nn.Module):
    """A searchable block: one candidate per (kernel, expansion); a spring block if ``spring`` is set."""

    def __init__(self, cfg: SpringConfig, in_max: int, out_max: int, stride: int, residual: bool,
                 spring: int | None):
        super().__init__()
        self.residual, self.spring = residual, spring
        self.candidates = nn.ModuleDict({
            f"k{k}_t{t}": SlicedInvertedResidual(in_max, out_max, k, t, stride)
            for k in cfg.kernels for t in cfg.expansions})

    def forward(self, x: torch.Tensor, c_in: int, op: str) -> torch.Tensor:
        k, t, w = parse_op(op)
        y = self.candidates[f"k{k}_t{t}"](x, c_in, w if self.spring is None else self.spring)
        if not self.residual:
            return y
        if y.shape[1] == c_in:
            return y + x[:, :c_in]
        return torch.cat([y[:, :c_in] + x[:, :c_in], y[:, c_in:]], dim=1)


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]


def _stem(cfg: SpringConfig) -> tuple[nn.Sequential, nn.Sequential]:
    """Table 1's stem (3x3 conv, stride 2) and separable block (3x3 depthwise, linear 1x1 to 16)."""
    stem = nn.Sequential(*_conv_bn(3, cfg.stem, 3, 2), nn.ReLU6(inplace=True))
    separable = nn.Sequential(*_conv_bn(cfg.stem, cfg.stem, 3, groups=cfg.stem), nn.ReLU6(inplace=True),
                              *_conv_bn(cfg.stem, cfg.separable, 1))
    return stem, separable


def _layout(cfg: SpringConfig) -> list[dict]:
    """Per block: the largest input and output widths, stride, residual and spring width (or None)."""
    out, prev = [], (cfg.separable,)
    for c in cfg.clusters:
        for j in range(c.blocks):
            last = j == c.blocks - 1
            out.append({"in_max": max(prev if j == 0 else c.widths),
                        "out_max": c.spring_width if last else max(c.widths),
                        "stride": c.stride if j == 0 else 1, "residual": j > 0,
                        "spring": c.spring_width if last else None})
        prev = c.widths
    return out


class SpringSupernet(nn.Module):
    """The channel-searchable supernet of Table 1; ``forward(x, arch)`` runs one architecture's path."""

    def __init__(self, cfg: SpringConfig | None = None, num_classes: int = 1000):
        super().__init__()
        self.cfg = SpringConfig() if cfg is None else cfg
        self.num_classes = num_classes
        self.stem, self.separable = _stem(self.cfg)
        self.blocks = nn.ModuleList(
            SpringChoiceBlock(self.cfg, b["in_max"], b["out_max"], b["stride"], b["residual"], b["spring"])
            for b in _layout(self.cfg))
        self.head = nn.Conv2d(self.cfg.clusters[-1].spring_width, self.cfg.last, 1, bias=False)
        self.head_bn = nn.BatchNorm2d(self.cfg.last)
        self.classifier = nn.Linear(self.cfg.last, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor, arch: Sequence[str]) -> torch.Tensor:
        arch = check_arch(self.cfg, arch)
        h = self.separable(self.stem(x))
        c_in = self.cfg.separable
        for block, op in zip(self.blocks, arch):
            h = block(h, c_in, op)
            c_in = op_width(op)
        h = F.conv2d(h[:, :c_in], self.head.weight[:, :c_in])
        h = F.relu6(sliced_batch_norm(self.head_bn, h, self.cfg.last))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))

    @torch.no_grad()
    def derive(self, arch: Sequence[str]) -> SpringNetwork:
        """The stand-alone network of ``arch`` with the springs released (Sec. 3.1) and this supernet's
        weights and BatchNorm statistics sliced into it."""
        arch = check_arch(self.cfg, arch)
        net = build_network(self.cfg, arch, self.num_classes)
        for dst, src in ((net.stem, self.stem), (net.separable, self.separable)):
            dst.load_state_dict(src.state_dict())
        c_in = self.cfg.separable
        for block, choice, op in zip(net.blocks, self.blocks, arch):
            k, t, w = parse_op(op)
            cand = choice.candidates[f"k{k}_t{t}"]
            h = t * c_in
            _copy_conv(block.expand[0], cand.expand.weight[:h, :c_in])
            _copy_bn(block.expand[1], cand.bn1, h)
            _copy_conv(block.depthwise[0], cand.depthwise.weight[:h])
            _copy_bn(block.depthwise[1], cand.bn2, h)
            _copy_conv(block.project[0], cand.project.weight[:w, :h])
            _copy_bn(block.project[1], cand.bn3, w)
            c_in = w
        _copy_conv(net.head[0], self.head.weight[:, :c_in])
        _copy_bn(net.head[1], self.head_bn, self.cfg.last)
        net.classifier.load_state_dict(self.classifier.state_dict())
        return net.to(self.head.weight.device)


def _copy_conv(conv: nn.Conv2d, weight: torch.Tensor) -> None:
    conv.weight.copy_(weight)


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, n: int) -> None:
    dst.weight.copy_(src.weight[:n])
    dst.bias.copy_(src.bias[:n])
    dst.running_mean.copy_(src.running_mean[:n])
    dst.running_var.copy_(src.running_var[:n])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


class InvertedResidual(nn.Module):
    """MobileNetV2's block with fixed widths: expand 1x1, depthwise k x k, linear project 1x1."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expansion: int, stride: int, residual: bool):
        super().__init__()
        hidden = expansion * c_in
        self.residual = residual
        self.expand = nn.Sequential(*_conv_bn(c_in, hidden, 1), nn.ReLU6(inplace=True))
        self.depthwise = nn.Sequential(*_conv_bn(hidden, hidden, kernel, stride, groups=hidden), nn.ReLU6(inplace=True))
        self.project = nn.Sequential(*_conv_bn(hidden, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class SpringNetwork(nn.Module):
    """A derived architecture as a plain MobileNetV2-style network (springs released: consistent widths)."""

    def __init__(self, cfg: SpringConfig, arch: Arch, num_classes: int):
        super().__init__()
        self.arch = check_arch(cfg, arch)
        self.stem, self.separable = _stem(cfg)
        blocks, c_in = [], cfg.separable
        for op, b in zip(self.arch, _layout(cfg)):
            k, t, w = parse_op(op)
            blocks.append(InvertedResidual(c_in, w, k, t, b["stride"], b["residual"]))
            c_in = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(*_conv_bn(c_in, cfg.last, 1), nn.ReLU6(inplace=True))
        self.classifier = nn.Linear(cfg.last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(self.blocks(self.separable(self.stem(x))))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def build_network(cfg: SpringConfig, arch: Sequence[str], num_classes: int = 1000) -> SpringNetwork:
    """A freshly initialised stand-alone network of ``arch`` (for retraining from scratch)."""
    net = SpringNetwork(cfg, tuple(arch), num_classes)
    init_weights(net)
    return net
