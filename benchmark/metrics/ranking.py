"""Ranking correlation between estimated and ground-truth accuracies (SE-NAS Sec. 3.2 and 4.2, Table 1).

``est`` and ``gt`` are equally long sequences, one value per architecture, higher = better. Many
NB201 architectures share an accuracy (all degenerate cells score chance level), so Kendall's tau is
the tie-aware tau-b. A correlation is NaN when either side is constant (undefined, as in scipy).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from benchmark.errors import NasBenchError

ArrayLike = Sequence[float] | np.ndarray


def _pair(est: ArrayLike, gt: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float arrays, checked: 1-D, same length, at least 2 items, all finite."""
    e, g = np.asarray(est, dtype=float), np.asarray(gt, dtype=float)
    if e.ndim != 1 or g.ndim != 1:
        raise NasBenchError("estimates and ground truth must be 1-D", "pass one value per architecture")
    if len(e) != len(g):
        raise NasBenchError(f"{len(e)} estimates but {len(g)} ground-truth values",
                            "pass one of each per architecture")
    if len(e) < 2:
        raise NasBenchError(f"a ranking needs at least 2 architectures, got {len(e)}",
                            "rank more architectures")
    for name, x in (("estimates", e), ("ground truth", g)):
        if not np.all(np.isfinite(x)):
            bad = np.flatnonzero(~np.isfinite(x))
            raise NasBenchError(f"{name} hold NaN or inf at position(s) {bad[:5].tolist()}",
                                "drop those architectures or fill in their values")
    return e, g


def _constant(*xs: np.ndarray) -> bool:
    return any(np.all(x == x[0]) for x in xs)


def kendall_tau(est: ArrayLike, gt: ArrayLike) -> float:
    """Kendall's tau-b between the two rankings (``scipy.stats.kendalltau``, variant 'b')."""
    e, g = _pair(est, gt)
    if _constant(e, g):
        return float("nan")
    return float(stats.kendalltau(e, g, variant="b").statistic)


def spearman_rho(est: ArrayLike, gt: ArrayLike) -> float:
    """Spearman's rank correlation (ties get their average rank)."""
    e, g = _pair(est, gt)
    if _constant(e, g):
        return float("nan")
    return float(stats.spearmanr(e, g).statistic)


def sparse_kendall_tau(est: ArrayLike, gt: ArrayLike, decimals: int = 1) -> float:
    """Sparse Kendall tau (Yu et al., ICLR 2020): tau-b after rounding both sides to ``decimals``.

    With accuracies in percent and ``decimals=1``, differences below 0.1 pp become ties, so noise
    between near-equal architectures no longer counts as a discordant pair.
    """
    e, g = _pair(est, gt)
    return kendall_tau(np.round(e, decimals), np.round(g, decimals))


def _top(x: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest values; ties at the boundary go to the earlier position."""
    return np.argsort(-x, kind="stable")[:k]


def _check_k(k: int, n: int, lowest: int) -> None:
    if not lowest <= k <= n:
        raise NasBenchError(f"k={k} is outside {lowest}..{n} for {n} architectures",
                            f"choose k in {lowest}..{n}")


def topk_kendall_tau(est: ArrayLike, gt: ArrayLike, k: int) -> float:
    """Kendall's tau-b among the k architectures that are best by ground truth."""
    e, g = _pair(est, gt)
    _check_k(k, len(e), 2)
    top = _top(g, k)
    return kendall_tau(e[top], g[top])


def precision_at_k(est: ArrayLike, gt: ArrayLike, k: int) -> float:
    """Fraction of the true top-k architectures that are also in the estimated top-k."""
    e, g = _pair(est, gt)
    _check_k(k, len(e), 1)
    return len(set(_top(e, k).tolist()) & set(_top(g, k).tolist())) / k


def ranking_metrics(est: ArrayLike, gt: ArrayLike, ks: Sequence[int] = (10, 100)) -> dict[str, float]:
    """kendall_tau, spearman_rho, sparse_kendall_tau and, for each k <= n, precision@k and topk_kendall_tau@k.

    A k larger than the number of architectures is left out (a shrunk space can be smaller than k).
    """
    e, g = _pair(est, gt)
    out: dict[str, float] = {
        "n": len(e),
        "kendall_tau": kendall_tau(e, g),
        "spearman_rho": spearman_rho(e, g),
        "sparse_kendall_tau": sparse_kendall_tau(e, g),
    }
    for k in ks:
        if k <= len(e):
            out[f"precision@{k}"] = precision_at_k(e, g, k)
            if k >= 2:
                out[f"topk_kendall_tau@{k}"] = topk_kendall_tau(e, g, k)
    return out


def non_isomorphic(archs: Sequence[str], unique_str_map: Mapping[str, str]) -> list[str]:
    """The first architecture of each isomorphism class, in input order.

    ``unique_str_map`` maps an arch string to its NATS-Bench unique string (``GroundTruth.table()``
    columns ``arch`` and ``unique_str``). The 15,625 NB201 cells form 6,466 classes: cells of one class
    compute the same function, so ranking all of them counts the same network several times.
    """
    missing = [a for a in archs if a not in unique_str_map]
    if missing:
        raise NasBenchError(f"{len(missing)} architecture(s) have no unique string, e.g. {missing[0]}",
                            "build the map from GroundTruth.table() (columns arch, unique_str)")
    seen: set[str] = set()
    keep = []
    for a in archs:
        key = unique_str_map[a]
        if key not in seen:
            seen.add(key)
            keep.append(a)
    return keep
