"""Inverted-bottleneck networks: the MobileNet-like supernet and standalone networks of SE-NAS Table 2,
and a plain MobileNetV2 built from the same blocks (Sandler et al., 2018: 300M MACs at 224).

* :class:`InvertedResidual` -- 1x1 expand (absent for expansion 1), k x k depthwise, 1x1 project, each
  with BatchNorm, ReLU6 after the first two; a residual connection when stride 1 and channels agree.
* :class:`MobileNetNetwork` -- stem, a list of blocks, 1x1 conv, pooling, classifier (standalone).
* :class:`MobileNetSupernet` -- every candidate block of every layer; ``forward(x, arch)`` runs one
  path (SPOS). Each layer's module is resolved by :meth:`MobileNetSupernet.layer_op`, the single place
  SE-NAS's expanding (Sec. 3.4) hands out per-partial-model copies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from benchmark.expanding import partial_key
from benchmark.models.expandable import ExpandableSupernet, Site
from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.mobilenet import IDENTITY, MobileNetSkeleton, check_arch, mobilenet_space, parse_op


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2's inverted bottleneck (the CBS of SE-NAS Table 2)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expansion: int, stride: int):
        super().__init__()
        hidden = c_in * expansion
        layers = [] if expansion == 1 else [conv_bn(c_in, hidden, 1)]
        layers += [conv_bn(hidden, hidden, kernel, stride, groups=hidden), conv_bn(hidden, c_out, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


@dataclass(frozen=True)
class BlockConfig:
    c_in: int
    c_out: int
    kernel: int
    expansion: int
    stride: int

    def build(self) -> InvertedResidual:
        return InvertedResidual(self.c_in, self.c_out, self.kernel, self.expansion, self.stride)


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal (fan-out) convolutions, unit BatchNorm, N(0, 0.01) classifier (MobileNetV2 init)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class _Trunk(nn.Module):
    """Stem and head shared by the standalone network and the supernet."""

    def __init__(self, stem_channels: int, first: BlockConfig | None, last_in: int, last_channels: int,
                 num_classes: int):
        super().__init__()
        self.stem = conv_bn(3, stem_channels, 3, stride=2)
        self.first = first.build() if first is not None else nn.Identity()
        self.last = conv_bn(last_in, last_channels, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last_channels, num_classes)
        self.num_classes = num_classes

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.last(x)), 1))


class MobileNetNetwork(_Trunk):
    """A standalone inverted-bottleneck network: stem, ``first`` block, ``blocks``, head."""

    def __init__(self, stem_channels: int, first: BlockConfig, blocks: Sequence[BlockConfig], last_channels: int,
                 num_classes: int):
        last_in = blocks[-1].c_out if blocks else first.c_out
        super().__init__(stem_channels, first, last_in, last_channels, num_classes)
        self.blocks = nn.Sequential(*(b.build() for b in blocks))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.first(self.stem(x))))


def arch_blocks(arch: Arch, skeleton: MobileNetSkeleton) -> list[BlockConfig | None]:
    """The block of each searchable layer of ``arch`` (``None`` for identity)."""
    out: list[BlockConfig | None] = []
    for spec, op in zip(skeleton.layers, check_arch(arch)):
        if op == IDENTITY:
            out.append(None)
        else:
            k, e = parse_op(op)
            out.append(BlockConfig(spec.in_channels, spec.out_channels, k, e, spec.stride))
    return out


def first_block(skeleton: MobileNetSkeleton) -> BlockConfig:
    return BlockConfig(skeleton.stem_channels, skeleton.first_channels, 3, 1, 1)


def mobilenet_network(arch: Arch, skeleton: MobileNetSkeleton | None = None) -> MobileNetNetwork:
    """The standalone network of an architecture of the MobileNet-like space (identity layers dropped)."""
    sk = MobileNetSkeleton() if skeleton is None else skeleton
    blocks = [b for b in arch_blocks(arch, sk) if b is not None]
    return MobileNetNetwork(sk.stem_channels, first_block(sk), blocks, sk.last_channels, sk.num_classes)


MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1))  # (expansion, channels, repeats, stride), kernel 3


def mobilenet_v2(num_classes: int = 1000) -> MobileNetNetwork:
    """MobileNetV2-1.0 (Sandler et al., 2018, Table 2) from the same blocks: stem 32, head 1280."""
    c_in, blocks = 32, []
    for t, c, n, s in MOBILENET_V2_STAGES:
        for i in range(n):
            blocks.append(BlockConfig(c_in, c, 3, t, s if i == 0 else 1))
            c_in = c
    return MobileNetNetwork(32, blocks[0], blocks[1:], 1280, num_classes)


# ------------------------------------------------------------------------------------------- supernet
class SupernetPath(nn.Module):
    """The modules of one path of a :class:`MobileNetSupernet` (the same objects); ``forward(x, arch=None)``."""

    def __init__(self, supernet: MobileNetSupernet, arch: Arch):
        super().__init__()
        self.stem, self.first, self.last = supernet.stem, supernet.first, supernet.last
        self.pool, self.classifier = supernet.pool, supernet.classifier
        blocks = [supernet.layer_op(i, op, arch) for i, op in enumerate(arch)]
        self.blocks = nn.Sequential(*(b for b in blocks if b is not None))
        self.train(supernet.training)

    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        x = self.blocks(self.first(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(self.last(x)), 1))


def copy_key(layer: int, op: str, partial: str) -> str:
    """ModuleDict key of one copied layer operation (no dots)."""
    return f"l{layer}/{op}/{partial}"


class MobileNetSupernet(ExpandableSupernet, _Trunk):
    """Single-path supernet of the MobileNet-like space with SE-NAS expanding (Sec. 3.4).

    ``layers[i][op]`` holds the shared weights of ``op`` in layer ``i``. After :meth:`expand`, layers of
    a merged child space resolve to the copy of the partial model ``arch`` selects there (identity has
    no weights and no copy). An expanding site (:mod:`benchmark.models.expandable`) is (layer, arch).
    """

    def __init__(self, skeleton: MobileNetSkeleton | None = None, space: SearchSpace | None = None):
        sk = MobileNetSkeleton() if skeleton is None else skeleton
        space = mobilenet_space() if space is None else space
        super().__init__(sk.stem_channels, first_block(sk), sk.layers[-1].out_channels, sk.last_channels,
                         sk.num_classes)
        self.skeleton = sk
        self.choices = tuple(tuple(c) for c in space.choices)
        self.layers = nn.ModuleList()
        for spec, ops in zip(sk.layers, self.choices):
            self.layers.append(nn.ModuleDict({
                op: InvertedResidual(spec.in_channels, spec.out_channels, *parse_op(op), spec.stride)
                for op in ops if op != IDENTITY}))
        self.init_expanding()
        init_weights(self)

    def layer_op(self, layer: int, op: str, arch: Arch) -> nn.Module | None:
        """The module computing ``op`` in ``layer`` when the sampled architecture is ``arch`` (``None``
        for identity): the shared weights, or the copy of ``arch``'s partial model in a merged child space."""
        if op == IDENTITY:
            return None
        group = self.group_of.get(layer)
        if group is None:
            return self.layers[layer][op]
        return self.copies[copy_key(layer, op, partial_key(arch, group))]

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        x = self.first(self.stem(x))
        for i, op in enumerate(arch):
            block = self.layer_op(i, op, arch)
            if block is not None:
                x = block(x)
        return self.head(x)

    def path_view(self, arch: Arch) -> SupernetPath:
        """A module over exactly the modules ``arch`` runs (shared, not copied): evaluating it, e.g. with
        BatchNorm recalibration, touches only this path instead of every candidate of the supernet."""
        return SupernetPath(self, arch)

    def to_standalone(self, arch: Arch) -> MobileNetNetwork:
        """The standalone network of ``arch`` holding copies of this path's weights and statistics."""
        net = mobilenet_network(arch, self.skeleton)
        ref = self.classifier.weight
        net.to(device=ref.device, dtype=ref.dtype)
        for name in ("stem", "first", "last", "classifier"):
            getattr(net, name).load_state_dict(getattr(self, name).state_dict())
        used = [self.layer_op(i, op, arch) for i, op in enumerate(arch) if op != IDENTITY]
        for dst, src in zip(net.blocks, used):
            dst.load_state_dict(src.state_dict())
        return net.train(self.training)

    # --------------------------------------------------------------- expanding (SE-NAS Algorithm 1 lines 4-7)
    def partial_copies(self, group: tuple[int, ...], arch: Arch) -> Iterator[tuple[str, Site]]:
        """Every non-identity layer op of the partial model."""
        partial = partial_key(arch, group)
        for s in group:
            if arch[s] != IDENTITY:
                yield copy_key(s, arch[s], partial), (s, arch)

    def shared_module(self, site: Site) -> nn.Module:
        s, arch = site
        return self.layers[s][arch[s]]

    def serving_module(self, site: Site) -> nn.Module:
        s, arch = site
        return self.layer_op(s, arch[s], arch)
