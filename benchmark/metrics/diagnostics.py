"""Why a supernet misranks: two bias diagnostics reported beside every tau.

* **Size bias** -- Kendall's tau of the supernet accuracy against the parameter count of the same
  architectures, beside the ground truth's own tau against parameters. Weight-sharing supernets are known
  to favour small, shallow cells early in training (the larger networks share their weights more and
  train less); a supernet tau-vs-params far below the ground truth's shows it.
* **Within equal convolution counts** -- tau against the ground truth inside groups of architectures
  with the same number of convolution edges (``nor_conv_1x1`` / ``nor_conv_3x3``, 0..6), combined as the
  mean weighted by each group's number of pairs. It asks whether the supernet orders architectures of
  the same size class, once the size effect is taken out.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from benchmark.metrics.precision import undefined_reason
from benchmark.metrics.ranking import kendall_tau
from benchmark.spaces.nb201 import conv_edges


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    return float("nan") if undefined_reason(x, y) else kendall_tau(x, y)


def within_conv_tau(est: Sequence[float], gt: Sequence[float], archs: Sequence[str],
                    conv_count: Callable[[str], int] = conv_edges) -> dict[str, Any]:
    """Pair-weighted mean of tau within groups of equal convolution count; groups whose tau is undefined
    (fewer than two architectures, or constant accuracies) are left out and counted."""
    e, g = np.asarray(est, dtype=float), np.asarray(gt, dtype=float)
    counts = np.array([conv_count(a) for a in archs])
    total = weight = 0.0
    used = skipped = 0
    for c in np.unique(counts):
        mask = counts == c
        tau = _tau(e[mask], g[mask])
        if not np.isfinite(tau):
            skipped += 1
            continue
        pairs = mask.sum() * (mask.sum() - 1) / 2
        total += pairs * tau
        weight += pairs
        used += 1
    return {"tau_within_conv": total / weight if weight else float("nan"), "conv_groups": used,
            "conv_groups_undefined": skipped}


def bias_diagnostics(est: Sequence[float], gt: Sequence[float], params: Sequence[float],
                     archs: Sequence[str], conv_count: Callable[[str], int] = conv_edges) -> dict[str, Any]:
    """The size bias (supernet and ground truth against parameters) and the within-conv-count tau
    (``conv_count``: convolutions of an architecture string; NB201's by default)."""
    e, g, p = (np.asarray(x, dtype=float) for x in (est, gt, params))
    return {"tau_supernet_params": _tau(e, p), "tau_gt_params": _tau(g, p),
            **within_conv_tau(e, g, archs, conv_count)}
