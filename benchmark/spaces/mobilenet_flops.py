"""Per-layer FLOPs lookup table of the MobileNet-like space (SE-NAS Sec. 4.3's FLOPs budgets).

FLOPs are multiply-accumulates (MACs) of one image's forward pass, the unit of the paper's 250M-592M
budgets and of MobileNetV2's 300M. As in :mod:`benchmark.models.complexity`, a convolution counts
``k*k*C_in/groups*C_out*H_out*W_out``, a linear layer ``in*out`` plus one per output for its bias;
BatchNorm, activations, pooling and residual additions count nothing. An architecture's FLOPs are
the fixed part (stem, the 24-channel block, the 1x1 conv to 1728, the classifier) plus one table entry
per layer, so they are a sum of per-layer terms; ``tests/test_mobilenet.py`` checks the sum against
``torch.utils.flop_counter`` on the built network.
"""

from __future__ import annotations

from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.mobilenet import (
    IDENTITY,
    LayerSpec,
    MobileNetSkeleton,
    conv_out,
    layer_choices,
    parse_op,
)


def conv_macs(c_in: int, c_out: int, kernel: int, out_side: int, groups: int = 1) -> int:
    return kernel * kernel * (c_in // groups) * c_out * out_side * out_side


def inverted_bottleneck_macs(c_in: int, c_out: int, kernel: int, expansion: int, stride: int, in_side: int) -> int:
    """MACs of an inverted bottleneck (MobileNetV2): 1x1 expand (absent for expansion 1), k x k
    depthwise with ``stride``, 1x1 project."""
    hidden = c_in * expansion
    out_side = conv_out(in_side, stride)
    expand = 0 if expansion == 1 else conv_macs(c_in, hidden, 1, in_side)
    return expand + conv_macs(hidden, hidden, kernel, out_side, groups=hidden) + conv_macs(hidden, c_out, 1, out_side)


def layer_macs(spec: LayerSpec, op: str) -> int:
    if op == IDENTITY:
        return 0
    kernel, expansion = parse_op(op)
    return inverted_bottleneck_macs(spec.in_channels, spec.out_channels, kernel, expansion, spec.stride, spec.in_side)


class FlopsTable:
    """FLOPs (in M MACs) of every operation of every layer of a skeleton, and of the fixed parts."""

    def __init__(self, skeleton: MobileNetSkeleton):
        sk = skeleton
        self.skeleton = sk
        stem = conv_macs(3, sk.stem_channels, 3, sk.stem_side)
        first = inverted_bottleneck_macs(sk.stem_channels, sk.first_channels, 3, 1, 1, sk.stem_side)
        last = conv_macs(sk.layers[-1].out_channels, sk.last_channels, 1, sk.final_side)
        classifier = sk.last_channels * sk.num_classes + sk.num_classes
        self.fixed_macs = stem + first + last + classifier
        self.layer_macs: list[dict[str, int]] = [
            {op: layer_macs(spec, op) for op in layer_choices(spec)} for spec in sk.layers]

    @property
    def fixed_m(self) -> float:
        return self.fixed_macs / 1e6

    def macs(self, arch: Arch) -> int:
        """Exact MACs of ``arch``."""
        return self.fixed_macs + sum(table[op] for table, op in zip(self.layer_macs, arch))

    def flops_m(self, arch: Arch) -> float:
        """FLOPs of ``arch`` in M MACs."""
        return self.macs(arch) / 1e6

    def __call__(self, arch: Arch) -> float:
        return self.flops_m(arch)

    def per_slot_m(self, space: SearchSpace) -> list[dict[str, float]]:
        """FLOPs (M) of each alive operation of each layer of ``space`` (the sampler's additive costs)."""
        return [{op: self.layer_macs[i][op] / 1e6 for op in ops} for i, ops in enumerate(space.alive)]

    def range_m(self, space: SearchSpace) -> tuple[float, float]:
        """Smallest and largest FLOPs (M) over the alive architectures of ``space``."""
        per = self.per_slot_m(space)
        return (self.fixed_m + sum(min(c.values()) for c in per), self.fixed_m + sum(max(c.values()) for c in per))

    def extreme_archs(self, space: SearchSpace) -> tuple[Arch, Arch]:
        """The cheapest and the most expensive alive architectures."""
        per = self.per_slot_m(space)
        return (tuple(min(c, key=c.__getitem__) for c in per), tuple(max(c, key=c.__getitem__) for c in per))

