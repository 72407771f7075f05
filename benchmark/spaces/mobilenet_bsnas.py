"""The BS-NAS channel-searchable MobileNetV2 space (BS-NAS Sec. 3.1, Table 1): 19 blocks in six clusters.

Each block (slot ``b1`` .. ``b19``) chooses one of 18 operations ``k{3,5,7}_t{3,6}_c{w}``: kernel size,
expansion ratio and the output width ``w`` of its cluster. All blocks of a cluster share one width (the
cluster's channel number, Sec. 3.1 "Constructing Channel Number Searchable Supernet"), so the space holds
3^6 x 6^19 architectures (Sec. 4.1), not 18^19. :class:`SpringSpace` is a :class:`SearchSpace` whose
sampling, size, enumeration, shrinking, fair groups, mutation and crossover keep that coupling.

FLOPs are counted analytically per block (multiply-accumulates of every convolution and of the classifier,
plus one addition per classifier output for its bias: the convention of
:func:`benchmark.models.complexity.count_flops`, which the tests check on built networks).
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from benchmark.errors import NasBenchError
from benchmark.spaces.base import Arch, SearchSpace

PAPER_FLOPS_RANGE_M = (209.0, 812.0)  # BS-NAS Sec. 4.1, 224 x 224 input, 1000 classes
_OP = re.compile(r"^k(\d+)_t(\d+)_c(\d+)$")


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class Cluster:
    """Blocks sharing one searchable width (a row of Table 1); the first block has ``stride``.

    ``spring`` is the fixed output width of the cluster's last block (the spring block) during supernet
    training; the paper sets it to the largest choice (Sec. 3.1), which is the default.
    """

    widths: tuple[int, ...]
    blocks: int
    stride: int
    spring: int | None = None

    @property
    def spring_width(self) -> int:
        return max(self.widths) if self.spring is None else self.spring


TABLE1: tuple[Cluster, ...] = (
    Cluster((24, 32, 40), 2, 2),
    Cluster((40, 48, 56), 4, 2),
    Cluster((64, 72, 80), 4, 2),
    Cluster((96, 112, 128), 4, 1),
    Cluster((160, 192, 224), 4, 2),
    Cluster((240, 280, 320), 1, 1),
)


@dataclass(frozen=True)
class SpringConfig:
    """The supernet of Table 1: stem conv (``stem`` channels, stride 2), a separable block to ``separable``
    channels, the clusters, then a 1x1 conv to ``last`` channels, global pooling and the classifier."""

    clusters: tuple[Cluster, ...] = TABLE1
    stem: int = 32
    separable: int = 16
    kernels: tuple[int, ...] = (3, 5, 7)
    expansions: tuple[int, ...] = (3, 6)
    last: int = 1280

    def __post_init__(self) -> None:
        check_config(self)

    @property
    def num_blocks(self) -> int:
        return sum(c.blocks for c in self.clusters)

    def block_cluster(self) -> list[int]:
        """The cluster index of every block, in order."""
        return [ci for ci, c in enumerate(self.clusters) for _ in range(c.blocks)]


def check_config(cfg: SpringConfig) -> None:
    """One-line errors for a supernet that cannot be built, e.g. a channel choice that the following layer
    cannot take (wider than the cluster's spring width, Sec. 3.1)."""
    if not cfg.clusters:
        raise NasBenchError("the spring supernet has no cluster", "give at least one cluster of blocks")
    for name in ("stem", "separable", "last"):
        if getattr(cfg, name) < 1:
            raise NasBenchError(f"{name} width must be positive, got {getattr(cfg, name)}", f"set {name} >= 1")
    if not cfg.kernels or any(k < 1 or k % 2 == 0 for k in cfg.kernels):
        raise NasBenchError(f"kernel sizes {cfg.kernels} must be odd and positive", "use e.g. (3, 5, 7)")
    if not cfg.expansions or any(t < 1 for t in cfg.expansions):
        raise NasBenchError(f"expansion ratios {cfg.expansions} must be positive", "use e.g. (3, 6)")
    for i, c in enumerate(cfg.clusters, start=1):
        if not c.widths or any(w < 1 for w in c.widths) or len(set(c.widths)) != len(c.widths):
            raise NasBenchError(f"cluster {i}: channel choices {c.widths} must be distinct positive integers",
                                "list each width once, e.g. (24, 32, 40)")
        if c.blocks < 1 or c.stride not in (1, 2):
            raise NasBenchError(f"cluster {i}: {c.blocks} blocks with stride {c.stride}",
                                "use at least one block and stride 1 or 2")
        too_wide = [w for w in c.widths if w > c.spring_width]
        if too_wide:
            raise NasBenchError(
                f"cluster {i}: channel choice {too_wide[0]} exceeds the spring width {c.spring_width} that the "
                "following pointwise convolution takes",
                f"raise the spring width to >= {max(c.widths)} or drop the choice")


def op_name(k: int, t: int, w: int) -> str:
    return f"k{k}_t{t}_c{w}"


def parse_op(op: str) -> tuple[int, int, int]:
    """``"k5_t6_c48"`` -> (kernel 5, expansion 6, width 48)."""
    m = _OP.match(op)
    if m is None:
        raise NasBenchError(f"malformed spring-space operation {op!r}", "write k<kernel>_t<expansion>_c<width>")
    k, t, w = (int(g) for g in m.groups())
    return k, t, w


def op_width(op: str) -> int:
    return parse_op(op)[2]


# ----------------------------------------------------------------------------------------------- space
@dataclass
class SpringSpace(SearchSpace):
    """A :class:`SearchSpace` whose slots are grouped into clusters that share the operations' width.

    ``clusters[c]`` lists the slot indices of cluster ``c``. Only widths alive in every block of a cluster
    can be chosen; operations of any other width are pruned whenever the alive sets change.
    """

    clusters: tuple[tuple[int, ...], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.alive = self._consistent(self.alive)

    # -- the width coupling -------------------------------------------------------------------------
    def widths(self, cluster: int, alive: Sequence[Sequence[str]] | None = None) -> tuple[int, ...]:
        """Widths alive in every block of ``cluster``, in the first block's canonical order."""
        alive = self.alive if alive is None else alive
        slots = self.clusters[cluster]
        common = set.intersection(*({op_width(o) for o in alive[s]} for s in slots))
        return tuple(dict.fromkeys(op_width(o) for o in self.choices[slots[0]] if op_width(o) in common))

    def ops_with(self, slot: int, width: int) -> tuple[str, ...]:
        """Alive operations of ``slot`` with ``width``."""
        return tuple(o for o in self.alive[slot] if op_width(o) == width)

    def _consistent(self, alive: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
        """``alive`` without operations whose width some other block of their cluster lacks."""
        out = [tuple(a) for a in alive]
        for ci, slots in enumerate(self.clusters):
            common = set(self.widths(ci, out))
            if not common:
                names = ", ".join(self.slots[s] for s in slots)
                raise NasBenchError(f"blocks {names} share no channel width, so cluster {ci + 1} is empty",
                                    "keep at least one width alive in every block of a cluster")
            for s in slots:
                out[s] = tuple(o for o in out[s] if op_width(o) in common)
        return out

    def consistent_keep(self, keep: Sequence[Sequence[str]], score: dict[tuple[int, str], float]
                        ) -> list[list[str]]:
        """Make per-block selections ``keep`` share a width per cluster (BS-NAS Sec. 3.2: "the channel number
        choice of blocks in a cluster is limited by its spring block").

        Operations whose width is not kept in every block of the cluster are dropped. If the blocks kept no
        common width, the width whose best operation per block has the highest summed ``score`` is kept, and
        each block keeps its selected operations of that width, or else its best-scored one of that width.
        """
        out = [list(k) for k in keep]
        for ci, slots in enumerate(self.clusters):
            common = set.intersection(*({op_width(o) for o in out[s]} for s in slots))
            if not common:
                def strength(w: int) -> float:
                    return sum(max(score[s, o] for o in self.ops_with(s, w)) for s in slots)

                best = max(self.widths(ci), key=lambda w: (strength(w), -self.widths(ci).index(w)))
                common = {best}
                for s in slots:
                    if not any(op_width(o) == best for o in out[s]):
                        out[s].append(max(self.ops_with(s, best),
                                          key=lambda o: (score[s, o], -self.choices[s].index(o))))
            for s in slots:
                out[s] = [o for o in out[s] if op_width(o) in common]
        return out

    # -- size and membership ------------------------------------------------------------------------
    def _cluster_count(self, ci: int, width: int) -> int:
        return math.prod(len(self.ops_with(s, width)) for s in self.clusters[ci])

    def size(self) -> int:
        return math.prod(sum(self._cluster_count(ci, w) for w in self.widths(ci)) for ci in range(len(self.clusters)))

    def contains(self, arch: Arch) -> bool:
        return super().contains(arch) and all(
            len({op_width(arch[s]) for s in slots}) == 1 for slots in self.clusters)

    # -- sampling and enumeration -------------------------------------------------------------------
    def _sample_cluster(self, ci: int, rng: random.Random, arch: list[str], width: int | None = None) -> None:
        widths = self.widths(ci)
        if width is None:  # uniform over the cluster's architectures: a width in proportion to its count
            width = rng.choices(widths, weights=[self._cluster_count(ci, w) for w in widths])[0]
        for s in self.clusters[ci]:
            arch[s] = rng.choice(self.ops_with(s, width))

    def sample(self, rng: random.Random) -> Arch:
        arch = [""] * self.num_slots
        for ci in range(len(self.clusters)):
            self._sample_cluster(ci, rng, arch)
        return tuple(arch)

    def sample_containing(self, slot: int, op: str, rng: random.Random) -> Arch:
        arch = list(self.sample(rng))
        ci = self.cluster_of(slot)
        self._sample_cluster(ci, rng, arch, op_width(op))
        arch[slot] = op
        return tuple(arch)

    def enumerate(self) -> Iterator[Arch]:
        per_cluster = [[sub for w in self.widths(ci) for sub in itertools.product(
            *(self.ops_with(s, w) for s in slots))] for ci, slots in enumerate(self.clusters)]
        return (tuple(op for sub in combo for op in sub) for combo in itertools.product(*per_cluster))

    def cluster_of(self, slot: int) -> int:
        return next(ci for ci, slots in enumerate(self.clusters) if slot in slots)

    # -- shrinking ----------------------------------------------------------------------------------
    def remove(self, slot: int, op: str) -> None:
        before = list(self.alive)
        super().remove(slot, op)
        try:
            self.alive = self._consistent(self.alive)
        except NasBenchError:
            self.alive = before
            raise

    def restrict(self, alive: Sequence[Sequence[str]]) -> None:
        before = list(self.alive)
        super().restrict(alive)
        try:
            self.alive = self._consistent(self.alive)
        except NasBenchError:
            self.alive = before
            raise

    # -- fair groups (FairNAS strict fairness, per cluster) -----------------------------------------
    def fair_group(self, rng: random.Random) -> list[Arch]:
        """L architectures (L = the largest cluster's sum over widths of its blocks' most operations of that
        width; 18 in the full Table 1 space) in which every alive operation of every block appears, exactly
        once when all blocks of the cluster hold the same operations per width (e.g. the full space).

        Per cluster, a column of widths gives each width ``n_w`` positions (the most alive operations of
        that width in a block) plus extra positions drawn in proportion to ``n_w``; then each block fills
        the positions of each width with shuffled rounds of its operations of that width.
        """
        need = []
        for ci, slots in enumerate(self.clusters):
            need.append({w: max(len(self.ops_with(s, w)) for s in slots) for w in self.widths(ci)})
        length = max(sum(n.values()) for n in need)
        columns: list[list[str]] = [[] for _ in range(self.num_slots)]
        for ci, slots in enumerate(self.clusters):
            n = need[ci]
            col = [w for w, k in n.items() for _ in range(k)]
            col += rng.choices(list(n), weights=list(n.values()), k=length - len(col))
            rng.shuffle(col)
            for s in slots:
                column = [""] * length
                for w in n:
                    where = [i for i, x in enumerate(col) if x == w]
                    ops = list(self.ops_with(s, w))
                    rounds: list[str] = []
                    while len(rounds) < len(where):
                        rng.shuffle(ops)
                        rounds += ops
                    for i, op in zip(where, rounds):
                        column[i] = op
                columns[s] = column
        return [tuple(col[i] for col in columns) for i in range(length)]

    # -- evolution (Archai's mutate/crossover capability) -------------------------------------------
    def mutate(self, arch: Arch, prob: float, rng: random.Random) -> Arch:
        """BS-NAS Sec. 3.3 mutation: every choice (a cluster's width, a block's kernel and expansion) is
        redrawn with probability ``prob``; blocks whose operation is not alive at a new width are redrawn."""
        out = list(arch)
        for ci, slots in enumerate(self.clusters):
            width = op_width(out[slots[0]])
            if rng.random() < prob:
                width = rng.choice(self.widths(ci))
            for s in slots:
                ops = self.ops_with(s, width)
                if out[s] not in ops or rng.random() < prob:
                    out[s] = rng.choice(ops)
        return tuple(out)

    def crossover(self, a: Arch, b: Arch, rng: random.Random) -> Arch:
        """BS-NAS Sec. 3.3 crossover: per cluster, blocks take either parent's operation when both parents
        chose the same width; otherwise the cluster is taken whole from one parent."""
        out: list[str] = []
        for slots in self.clusters:
            if op_width(a[slots[0]]) == op_width(b[slots[0]]):
                out += [rng.choice((a[s], b[s])) for s in slots]
            else:
                parent = rng.choice((a, b))
                out += [parent[s] for s in slots]
        return tuple(out)


def spring_space(cfg: SpringConfig | None = None, name: str = "mobilenet-bsnas") -> SpringSpace:
    """The space of ``cfg`` (default: Table 1) with every operation alive."""
    cfg = SpringConfig() if cfg is None else cfg
    choices, clusters, slot = [], [], 0
    for c in cfg.clusters:
        ops = tuple(op_name(k, t, w) for w in c.widths for k in cfg.kernels for t in cfg.expansions)
        choices += [ops] * c.blocks
        clusters.append(tuple(range(slot, slot + c.blocks)))
        slot += c.blocks
    slots = tuple(f"b{i}" for i in range(1, slot + 1))
    return SpringSpace(name, slots, tuple(choices), clusters=tuple(clusters))


def check_arch(cfg: SpringConfig, arch: Sequence[str]) -> Arch:
    """``arch`` as a tuple after one-line errors for the wrong length, an unknown kernel or expansion, a
    width that is not a choice of its cluster (the following layer cannot take it) or widths that differ
    inside a cluster."""
    arch = tuple(arch)
    if len(arch) != cfg.num_blocks:
        raise NasBenchError(f"{len(arch)} operations given, the spring supernet has {cfg.num_blocks} blocks",
                            "give one k<kernel>_t<expansion>_c<width> operation per block")
    for b, (op, ci) in enumerate(zip(arch, cfg.block_cluster()), start=1):
        k, t, w = parse_op(op)
        c = cfg.clusters[ci]
        if k not in cfg.kernels or t not in cfg.expansions:
            raise NasBenchError(f"block b{b}: kernel {k} / expansion {t} is not a choice",
                                f"use kernels {cfg.kernels} and expansions {cfg.expansions}")
        if w not in c.widths:
            raise NasBenchError(
                f"block b{b}: channel choice {w} is not a width of cluster {ci + 1} {c.widths}; the following "
                f"pointwise convolution takes the cluster's widths up to {c.spring_width}",
                f"choose one of {c.widths}")
    for ci, c in enumerate(cfg.clusters):
        ws = {op_width(arch[b]) for b, cj in enumerate(cfg.block_cluster()) if cj == ci}
        if len(ws) > 1:
            raise NasBenchError(f"cluster {ci + 1} mixes channel widths {sorted(ws)}",
                                "give every block of a cluster the same width")
    return arch


# ----------------------------------------------------------------------------------------------- FLOPs
def _out_side(side: int, stride: int) -> int:
    return (side - 1) // stride + 1  # odd kernel, padding k // 2


def block_flops(c_in: int, c_out: int, k: int, t: int, stride: int, side: int) -> int:
    """Multiply-accumulates of an inverted residual block at input ``side`` (expand 1x1, depthwise k x k,
    project 1x1)."""
    hidden, out = t * c_in, _out_side(side, stride)
    return side * side * c_in * hidden + out * out * hidden * (k * k + c_out)


def _block_plan(cfg: SpringConfig, resolution: int) -> tuple[int, list[tuple[int, int, int]]]:
    """FLOPs of stem and separable block, and (cluster, stride, input side) of every block."""
    side = _out_side(resolution, 2)
    fixed = side * side * 3 * 9 * cfg.stem + side * side * cfg.stem * (9 + cfg.separable)
    plan = []
    for ci, c in enumerate(cfg.clusters):
        for j in range(c.blocks):
            stride = c.stride if j == 0 else 1
            plan.append((ci, stride, side))
            side = _out_side(side, stride)
    return fixed, plan + [(-1, 1, side)]


def _tail_flops(cfg: SpringConfig, c_in: int, side: int, num_classes: int) -> int:
    return side * side * c_in * cfg.last + cfg.last * num_classes + num_classes


def arch_flops(cfg: SpringConfig, arch: Sequence[str], resolution: int = 224, num_classes: int = 1000) -> int:
    """Multiply-accumulates of the derived (spring-released) network of ``arch`` for one image."""
    arch = check_arch(cfg, arch)
    fixed, plan = _block_plan(cfg, resolution)
    total, c_in = fixed, cfg.separable
    for op, (_, stride, side) in zip(arch, plan):
        k, t, w = parse_op(op)
        total += block_flops(c_in, w, k, t, stride, side)
        c_in = w
    return total + _tail_flops(cfg, c_in, plan[-1][2], num_classes)


def flops_range(cfg: SpringConfig, space: SpringSpace | None = None, resolution: int = 224,
                num_classes: int = 1000) -> tuple[int, int]:
    """Exact (min, max) multiply-accumulates over the alive architectures of ``space`` (default: all of
    ``cfg``), by dynamic programming over the clusters with the previous cluster's width as state."""
    space = spring_space(cfg) if space is None else space
    fixed, plan = _block_plan(cfg, resolution)
    result = []
    for pick in (min, max):
        best = {cfg.separable: fixed}
        for ci, slots in enumerate(space.clusters):
            nxt: dict[int, int] = {}
            for w in space.widths(ci):
                for w_in, so_far in best.items():
                    cost, c_in = so_far, w_in
                    for s in slots:
                        _, stride, side = plan[s]
                        cost += pick(block_flops(c_in, w, k, t, stride, side)
                                     for k, t, _ in map(parse_op, space.ops_with(s, w)))
                        c_in = w
                    nxt[w] = pick(nxt.get(w, cost), cost)
            best = nxt
        result.append(pick(cost + _tail_flops(cfg, w, plan[-1][2], num_classes) for w, cost in best.items()))
    return result[0], result[1]
