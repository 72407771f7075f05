"""The MobileNet-like search space of SE-NAS (Sec. 3.5, Table 2), identical to ProxylessNAS's GPU space.

Skeleton (input 224): 3x3 conv 40 stride 2; a fixed inverted-bottleneck block to 24 channels (expansion
1, kernel 3, not searched); stages of 32, 56, 112, 128, 256 channels with 4 blocks each (strides 2, 2,
2, 1, 2) and one 432-channel block (stride 1); 1x1 conv to 1728; global pooling; classifier.

Each of the 21 searchable blocks (layers) chooses one of 6 inverted bottlenecks (kernel 3/5/7 x
expansion 3/6, named ``k{kernel}_e{expansion}``) or ``identity``. Identity is not offered in the first
block of a stage (Sec. 3.5): there the channels (and mostly the resolution) change, so identity cannot
map input to output. The 432-channel block is the first (and only) block of its stage (256 -> 432
channels), so it has no identity either. Hence 6 layers x 6 choices and 15 layers x 7 choices:

    size = 6^6 * 7^15 = 221,502,229,807,900,608 (~2.2e17; the paper's nominal 7^21 is ~5.6e17).

FLOPs at 224 x 224, width 1.0, 1000 classes: 182.48M (identity wherever allowed, k3_e3 in the six first
blocks) to 1036.67M (k7_e6 everywhere) multiply-accumulates (:mod:`benchmark.spaces.mobilenet_flops`).

``MobileNetSkeleton`` scales every channel count by a width multiplier (rounded to a multiple of 8, as
ProxylessNAS / MobileNetV2 do) and sets the input size and the number of classes; the tiny preset uses
it to run on CPU. The space itself (slots and choices) does not depend on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch, SearchSpace

KERNELS = (3, 5, 7)
EXPANSIONS = (3, 6)
MB_OPS: tuple[str, ...] = tuple(f"k{k}_e{e}" for k in KERNELS for e in EXPANSIONS)
IDENTITY = "identity"
OPS: tuple[str, ...] = MB_OPS + (IDENTITY,)

STEM_CHANNELS = 40
FIRST_BLOCK_CHANNELS = 24  # expansion 1, kernel 3, stride 1: fixed (Table 2, row 2)
STAGES: tuple[tuple[int, int, int], ...] = (  # (output channels, blocks, stride of the first block)
    (32, 4, 2), (56, 4, 2), (112, 4, 2), (128, 4, 1), (256, 4, 2), (432, 1, 1))
LAST_CHANNELS = 1728
NOMINAL_SIZE = 7 ** 21  # as stated in Sec. 3.5


def parse_op(op: str) -> tuple[int, int]:
    """``'k5_e6'`` -> (kernel 5, expansion 6); a one-line error for anything else (identity included)."""
    if op not in MB_OPS:
        raise NasBenchError(f"{op!r} is not an inverted-bottleneck operation", f"use one of: {', '.join(MB_OPS)}")
    k, e = op[1:].split("_e")
    return int(k), int(e)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never below it nor 10 % under ``value``
    (the MobileNetV2 / ProxylessNAS rule)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def conv_out(side: int, stride: int) -> int:
    """Output side of a 'same'-padded convolution with an odd kernel: ceil(side / stride)."""
    return -(-side // stride)


@dataclass(frozen=True)
class LayerSpec:
    """One searchable layer: input and output channels, stride and input side."""

    index: int
    name: str
    in_channels: int
    out_channels: int
    stride: int
    in_side: int
    first_of_stage: bool

    @property
    def out_side(self) -> int:
        return conv_out(self.in_side, self.stride)


@dataclass(frozen=True)
class MobileNetSkeleton:
    """Table 2 with a width multiplier, an input size and a number of classes."""

    width_mult: float = 1.0
    input_size: int = 224
    num_classes: int = 1000

    def __post_init__(self) -> None:
        if self.width_mult <= 0 or self.input_size < 8 or self.num_classes < 1:
            raise NasBenchError(f"invalid skeleton {self}", "use width_mult > 0, input_size >= 8, num_classes >= 1")

    def channels(self, c: int) -> int:
        return make_divisible(c * self.width_mult)

    @property
    def stem_channels(self) -> int:
        return self.channels(STEM_CHANNELS)

    @property
    def first_channels(self) -> int:
        return self.channels(FIRST_BLOCK_CHANNELS)

    @property
    def last_channels(self) -> int:
        return self.channels(LAST_CHANNELS)

    @property
    def stem_side(self) -> int:
        return conv_out(self.input_size, 2)

    @cached_property
    def layers(self) -> tuple[LayerSpec, ...]:
        out: list[LayerSpec] = []
        c_in, side = self.first_channels, self.stem_side
        for s, (c, n, stride) in enumerate(STAGES, start=1):
            for b in range(n):
                spec = LayerSpec(len(out), f"s{s}b{b + 1}", c_in, self.channels(c), stride if b == 0 else 1,
                                 side, b == 0)
                out.append(spec)
                c_in, side = spec.out_channels, spec.out_side
        return tuple(out)

    @property
    def final_side(self) -> int:
        return self.layers[-1].out_side


def layer_choices(spec: LayerSpec) -> tuple[str, ...]:
    """The operations of one layer: identity only where input and output shapes agree (Sec. 3.5)."""
    return MB_OPS if spec.first_of_stage else OPS


def mobilenet_space() -> SearchSpace:
    """The 21-layer MobileNet-like space with every operation alive (size 6^6 * 7^15)."""
    layers = MobileNetSkeleton().layers
    return SearchSpace("mobilenet", tuple(s.name for s in layers), tuple(layer_choices(s) for s in layers))


TRUE_SIZE = math.prod(len(layer_choices(s)) for s in MobileNetSkeleton().layers)


def check_arch(arch: Arch, space: SearchSpace | None = None) -> Arch:
    """``arch`` as a tuple if it is in ``space`` (default: the full space), else a one-line error."""
    space = mobilenet_space() if space is None else space
    arch = tuple(arch)
    if len(arch) != space.num_slots:
        raise NasBenchError(f"a MobileNet architecture has {space.num_slots} layers, got {len(arch)}",
                            "give one operation per searchable layer")
    for slot, op, alive in zip(space.slots, arch, space.alive):
        if op not in alive:
            raise NasBenchError(f"layer {slot}: {op!r} is not allowed", f"choose one of: {', '.join(alive)}")
    return arch
