"""Sampling architectures uniformly inside a FLOPs window, without a rejection loop over the whole space.

SE-NAS (Sec. 4.3) samples child models under a FLOPs constraint: "SE-NAS dumps models that don't
satisfy FLOPs constraint". Rejecting uniform draws of the whole space is hopeless for a narrow window
(e.g. 245-250M out of 182-1037M), so :class:`WindowSampler` samples exactly from the window instead.

Method (an exact sampler). An architecture's FLOPs are a sum of per-layer terms
(:mod:`benchmark.spaces.mobilenet_flops`). Per-layer costs are quantised to integer bins of width ``q``
(rounded, so the quantised total is within ``n * q / 2`` of the true one, n = number of layers). A
dynamic programme counts, for every layer i and quantised remainder s, the number N_i(s) of completions
of layers i..n-1 whose quantised cost is s (exact integers). Drawing layer by layer, each operation is
chosen with probability proportional to the number of completions that keep the quantised total in the
widened window [lo - n*q/2, hi + n*q/2]: this draws *uniformly* among the architectures of that
slightly larger set, which contains every architecture of the true window. A draw outside the true
window is then discarded; as the set is only slightly larger (acceptance ~1 - n*q/(hi - lo)), this
rarely happens, and the accepted draws are exactly uniform over the true window. Conditioning on an
operation in a layer (the sample sets of Eq. 5) uses a prefix count too: the cost of the layers before
it is drawn first, then those layers backwards, then the layers after it -- no new programme per pair.

Counts are exact int64 while the space has < 2^62 architectures (MobileNet: 2.2e17), else Python ints.
"""

from __future__ import annotations

import math
import random
from typing import Any, Mapping, Sequence

import numpy as np

from benchmark.errors import NasBenchError
from benchmark.search.constraints import FlopsConstraint
from benchmark.spaces.base import Arch, SearchSpace

DEFAULT_BINS = 50_000
MAX_EMPTY_ROUNDS = 20


class WindowSampler:
    """Uniform draws among the alive architectures of ``space`` that satisfy ``constraint``.

    ``per_slot[i][op]`` is the cost (same unit as the constraint, M FLOPs) of ``op`` in slot i and
    ``fixed`` the cost every architecture pays; ``constraint.flops_fn(arch)`` must equal
    ``fixed + sum_i per_slot[i][arch[i]]`` (it gives the exact value used for the final check).
    """

    def __init__(self, space: SearchSpace, per_slot: Sequence[Mapping[str, float]], fixed: float,
                 constraint: FlopsConstraint, bins: int = DEFAULT_BINS):
        self.alive = [tuple(ops) for ops in space.alive]
        self.space_name = space.name
        self.slots = tuple(space.slots)
        self.constraint = constraint
        costs = [np.array([per_slot[i][op] for op in ops], dtype=np.float64) for i, ops in enumerate(self.alive)]
        base = fixed + sum(float(c.min()) for c in costs)
        span = sum(float(c.max() - c.min()) for c in costs)
        self.q = span / bins if span > 0 else 1.0
        self.k = [np.rint((c - c.min()) / self.q).astype(np.int64) for c in costs]
        n = len(self.alive)
        self.k_max = int(sum(int(k.max()) for k in self.k))
        slack = n / 2 + 1e-9
        lo_units = (constraint.lo_m - base) / self.q - slack
        hi_units = (constraint.hi_m - base) / self.q + slack  # may be infinite: no upper bound
        self.k_lo = 0 if lo_units <= 0 else min(self.k_max + 1, math.ceil(lo_units))
        self.k_hi = self.k_max if hi_units >= self.k_max else math.floor(hi_units)
        dtype = np.int64 if math.prod(len(a) for a in self.alive) < 2 ** 62 else object
        self._prefix, self._suffix_cum = self._dynamic_programme(dtype)

    # ------------------------------------------------------------------ the dynamic programme
    def _dynamic_programme(self, dtype: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``prefix[i][s]``: ways for slots 0..i-1 to cost exactly s; ``suffix_cum[i][t]``: ways for
        slots i..n-1 to cost less than t (t = 0..k_max+1). Quantised costs, exact counts."""
        size, n = self.k_max + 1, len(self.alive)

        def step(counts: np.ndarray, shifts: np.ndarray) -> np.ndarray:
            out = np.zeros(size, dtype=dtype)
            for shift in shifts:
                out[shift:] += counts[:size - shift]
            return out

        delta = np.zeros(size, dtype=dtype)
        delta[0] = 1
        prefix = [delta]
        for i in range(n - 1):
            prefix.append(step(prefix[-1], self.k[i]))
        suffix_cum = [_cumulative(delta)] * (n + 1)
        counts = delta
        for i in range(n - 1, -1, -1):
            counts = step(counts, self.k[i])
            suffix_cum[i] = _cumulative(counts)
        return prefix, suffix_cum

    def _range_count(self, i: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Completions of slots i.. with quantised cost in [lo, hi] (element-wise; 0 when hi < lo)."""
        top = self.k_max + 1
        a = np.clip(lo, 0, top)
        b = np.clip(hi + 1, 0, top)
        cum = self._suffix_cum[i]
        out = np.asarray(cum[b] - cum[a], dtype=cum.dtype)  # object dtype: exact Python ints
        return np.where(b > a, out, np.zeros_like(out))

    def _prefix_weights(self, slot: int, j: int) -> np.ndarray:
        """For each prefix cost s: ways for slots < ``slot`` to cost s times ways for slots > ``slot`` to
        bring the total into the widened window, with op index ``j`` in ``slot`` (float64)."""
        s = np.arange(self.k_max + 1)
        k = self.k[slot][j]
        suffix = self._range_count(slot + 1, self.k_lo - k - s, self.k_hi - k - s)
        return self._prefix[slot].astype(np.float64) * suffix.astype(np.float64)

    def superset_count(self, slot: int | None = None, op: str | None = None) -> int | float:
        """Architectures in the widened window (those holding ``op`` in ``slot`` if given): an upper bound
        of the true window's count (exact without ``slot``, float with it); 0: certainly empty."""
        if slot is None:
            return int(self._range_count(0, np.array(self.k_lo), np.array(self.k_hi)))
        return float(self._prefix_weights(slot, self.alive[slot].index(op)).sum())

    # ------------------------------------------------------------------ drawing
    @staticmethod
    def _choose(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One index per row of ``weights`` (m x c, >= 0), with probability proportional to its weight."""
        cw = np.cumsum(weights, axis=1)
        u = rng.random(len(weights)) * cw[:, -1]
        return np.minimum((u[:, None] >= cw).sum(axis=1), weights.shape[1] - 1)

    def _propose(self, m: int, rng: np.random.Generator, fixed: tuple[int, int] | None) -> np.ndarray:
        """m uniform draws (op indices, m x n) from the widened window, slot ``fixed[0]`` held at op
        index ``fixed[1]`` if given: its prefix cost is drawn first, then the slots before it backwards
        (exact prefix cost), then the slots after it (remaining window)."""
        n = len(self.alive)
        picks = np.empty((m, n), dtype=np.int64)
        lo = np.full(m, self.k_lo, dtype=np.int64)
        hi = np.full(m, self.k_hi, dtype=np.int64)
        first = 0
        if fixed is not None:
            slot, j = fixed
            w = self._prefix_weights(slot, j)
            rest = rng.choice(len(w), size=m, p=w / w.sum())
            lo -= rest + self.k[slot][j]
            hi -= rest + self.k[slot][j]
            picks[:, slot] = j
            for i in range(slot - 1, -1, -1):
                idx = rest[:, None] - self.k[i][None, :]
                w = np.where(idx >= 0, self._prefix[i][np.clip(idx, 0, None)], 0).astype(np.float64)
                picks[:, i] = self._choose(w, rng)
                rest = rest - self.k[i][picks[:, i]]
            first = slot + 1
        for i in range(first, n):
            k = self.k[i]
            w = self._range_count(i + 1, lo[:, None] - k[None, :], hi[:, None] - k[None, :]).astype(np.float64)
            j = self._choose(w, rng)
            picks[:, i] = j
            lo -= k[j]
            hi -= k[j]
        return picks

    def _draw(self, n: int, rng: np.random.Generator, fixed: tuple[int, int] | None) -> list[Arch]:
        out: list[Arch] = []
        empty_rounds = 0
        while len(out) < n:
            picks = self._propose(max(2 * (n - len(out)), 16), rng, fixed)
            archs = [tuple(self.alive[i][j] for i, j in enumerate(row)) for row in picks]
            kept = [a for a in archs if self.constraint(a)]
            empty_rounds = 0 if kept else empty_rounds + 1
            if empty_rounds >= MAX_EMPTY_ROUNDS:
                raise NasBenchError(self._empty_message(), "widen the FLOPs window")
            out += kept[:n - len(out)]
        return out

    def sample(self, n: int, rng: np.random.Generator) -> list[Arch]:
        """``n`` architectures drawn independently and uniformly from the window."""
        if self.superset_count() == 0:
            raise NasBenchError(self._empty_message(), "widen the FLOPs window or keep more operations")
        return self._draw(n, rng, None)

    def sample_arch(self, rng: random.Random) -> Arch:
        """One uniform draw from the window seeded from ``rng`` (``SearchSpace.sample``'s signature: the
        random members of :func:`benchmark.search.evolution.evolutionary_search`)."""
        return self.sample(1, np.random.default_rng(rng.getrandbits(64)))[0]

    def sample_containing(self, slot: int, op: str, n: int, rng: np.random.Generator) -> list[Arch]:
        """``n`` uniform draws among the window's architectures with ``op`` in ``slot`` (Eq. 5's sample set)."""
        if op not in self.alive[slot]:
            raise NasBenchError(f"operation {op!r} is not alive in slot {self.slots[slot]}")
        if self.superset_count(slot, op) == 0:
            raise NasBenchError(f"{self._empty_message()} and {op!r} in slot {self.slots[slot]}",
                                "widen the FLOPs window")
        return self._draw(n, rng, (slot, self.alive[slot].index(op)))

    def feasible(self, slot: int, op: str, rng: np.random.Generator) -> bool:
        """Whether some architecture of the window holds ``op`` in ``slot`` (an exact draw is attempted)."""
        try:
            self.sample_containing(slot, op, 1, rng)
        except NasBenchError:
            return False
        return True

    def _empty_message(self) -> str:
        return (f"no architecture of the {self.space_name} space (alive operations) has "
                f"{self.constraint.name}")


def _cumulative(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=counts.dtype)
    np.cumsum(counts, out=out[1:])
    return out


# --------------------------------------------------------------------------- training-time samplers
class WindowUniformSampler:
    """One architecture per training step, uniform in the window (SPOS uniform sampling + the constraint).
    Draws are made 256 at a time; the pending ones are part of the checkpointed state."""

    def __init__(self, window: WindowSampler, seed: int):
        self.window = window
        self.rng = np.random.default_rng(seed)
        self._queue: list[Arch] = []

    def __call__(self) -> Arch:
        if not self._queue:
            self._queue = self.window.sample(256, self.rng)
        return self._queue.pop()

    def reset(self, window: WindowSampler) -> None:
        """The space shrank: draw from ``window`` from now on."""
        self.window, self._queue = window, []

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "queue": [list(a) for a in self._queue]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._queue = [tuple(a) for a in state["queue"]]


class WindowFairSampler(WindowUniformSampler):
    """Pair-balanced sampling in the window: steps cycle through every feasible alive (slot, op) in a
    shuffled order, and each step draws uniformly among the window's architectures holding that pair.

    Every operation is thus the target equally often (FairNAS's aim); FairNAS's strict rule -- every
    operation of every layer exactly once per group of steps -- cannot hold inside a FLOPs window in
    general, since the group's architectures would all have to meet the budget at once.
    """

    def __init__(self, window: WindowSampler, seed: int):
        super().__init__(window, seed)
        self._pairs: list[tuple[int, str]] = []

    def _cycle(self) -> list[tuple[int, str]]:
        pairs = [(s, op) for s, ops in enumerate(self.window.alive) for op in ops
                 if len(ops) > 1 and self.window.feasible(s, op, self.rng)]
        if not pairs:  # one architecture left per slot: nothing to balance
            return [(0, self.window.alive[0][0])]
        return [pairs[i] for i in self.rng.permutation(len(pairs))]

    def __call__(self) -> Arch:
        if not self._pairs:
            self._pairs = self._cycle()
        slot, op = self._pairs.pop()
        return self.window.sample_containing(slot, op, 1, self.rng)[0]

    def reset(self, window: WindowSampler) -> None:
        self.window, self._pairs = window, []

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "pairs": [list(p) for p in self._pairs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._pairs = [(int(s), str(o)) for s, o in state["pairs"]]
