"""How precise a Kendall's tau is: a bootstrap interval over the ranked architectures, the noise ceiling,
and why a tau is undefined.

* **Bootstrap CI** -- the ranked architectures are resampled with replacement and tau-b recomputed
  (percentile interval); it answers "how much would tau move with another draw of architectures".
* **Noise ceiling** -- the tau a *perfect* estimator would reach when its accuracies are measured on the
  same number of validation images: each architecture's ground-truth accuracy ``p`` is replaced by
  ``Binomial(n_images, p) / n_images`` and tau against the ground truth is taken, over many draws
  (median and 95% range). A supernet can only be judged against this, not against 1: with 250 validation
  images even the true networks rank 60 random NB201 architectures at tau of about 0.65.
* **Paired bootstrap** -- two estimators over the *same* architectures (like-for-like): the
  architectures are resampled once per draw for both, so the interval is that of the difference.

Everything is seeded, so the same inputs give the same intervals on any machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from benchmark.metrics.ranking import ArrayLike, kendall_tau

N_BOOT = 1000
N_DRAWS = 1000
LEVEL = 0.95


def undefined_reason(est: ArrayLike, gt: ArrayLike) -> str | None:
    """Why tau over these architectures is undefined (never reported as 0), or None when it is defined."""
    e, g = np.asarray(est, dtype=float), np.asarray(gt, dtype=float)
    if len(e) < 2:
        return f"{len(e)} architecture(s) ranked: tau needs at least two"
    if np.all(e == e[0]):
        return (f"all {len(e)} ranked architectures got the same supernet accuracy ({e[0]:.2f}%), "
                "e.g. a shrunk space of functionally equal networks")
    if np.all(g == g[0]):
        return f"all {len(g)} ranked architectures have the same ground-truth accuracy"
    return None


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _resampled_taus(columns: Sequence[np.ndarray], gt: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """tau of each estimate column against ``gt`` on ``n_boot`` resamples of the architectures, the same
    resample for every column (shape n_boot x columns)."""
    rng = np.random.default_rng(seed)
    n = len(gt)
    out = np.empty((n_boot, len(columns)))
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        g = gt[idx]
        for j, est in enumerate(columns):
            e = est[idx]
            out[b, j] = np.nan if np.all(e == e[0]) or np.all(g == g[0]) else kendall_tau(e, g)
    return out


def tau_bootstrap_ci(est: ArrayLike, gt: ArrayLike, level: float = LEVEL, n_boot: int = N_BOOT,
                     seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of Kendall's tau-b over the ranked architectures (NaN, NaN when tau
    is undefined)."""
    e, g = np.asarray(est, dtype=float), np.asarray(gt, dtype=float)
    if undefined_reason(e, g):
        return float("nan"), float("nan")
    return _interval(_resampled_taus([e], g, n_boot, seed)[:, 0], level)


def paired_difference_ci(est_a: ArrayLike, est_b: ArrayLike, gt: ArrayLike, level: float = LEVEL,
                         n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of tau(a) - tau(b) when both estimators rank the same architectures: each draw
    resamples the architectures once for both (like-for-like)."""
    a, b, g = (np.asarray(x, dtype=float) for x in (est_a, est_b, gt))
    if undefined_reason(a, g) or undefined_reason(b, g):
        return float("nan"), float("nan")
    taus = _resampled_taus([a, b], g, n_boot, seed)
    return _interval(taus[:, 0] - taus[:, 1], level)


@dataclass(frozen=True)
class NoiseCeiling:
    """Median and ``level`` range of the tau a perfect estimator reaches on ``n_images`` images."""

    median: float
    low: float
    high: float
    n_images: int
    draws: int
    undefined_draws: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def noise_ceiling(gt_acc: ArrayLike, n_images: int, level: float = LEVEL, n_draws: int = N_DRAWS,
                  seed: int = 0) -> NoiseCeiling:
    """The noise ceiling of tau over architectures with ground-truth accuracies ``gt_acc`` (percent) when
    accuracies are measured on ``n_images`` images: binomial noise on each, tau-b against the truth."""
    g = np.asarray(gt_acc, dtype=float)
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    if len(g) < 2 or np.all(g == g[0]):
        nan = float("nan")
        return NoiseCeiling(nan, nan, nan, n_images, n_draws, n_draws)
    rng = np.random.default_rng(seed)
    p = np.clip(g / 100.0, 0.0, 1.0)
    measured = rng.binomial(n_images, p, size=(n_draws, len(g))) / n_images * 100.0
    taus = np.array([np.nan if np.all(m == m[0]) else kendall_tau(m, g) for m in measured])
    lo, hi = _interval(taus, level)
    finite = taus[np.isfinite(taus)]
    return NoiseCeiling(float(np.median(finite)) if len(finite) else float("nan"), lo, hi, n_images, n_draws,
                        int(len(taus) - len(finite)))


def tau_report(est: ArrayLike, gt: ArrayLike, n_images: int, seed: int = 0) -> dict[str, Any]:
    """Everything printed and stored beside a tau: the value, how many architectures it covers, its
    bootstrap CI, the noise ceiling on ``n_images`` validation images, and why it is undefined (if so)."""
    e, g = np.asarray(est, dtype=float), np.asarray(gt, dtype=float)
    reason = undefined_reason(e, g)
    lo, hi = tau_bootstrap_ci(e, g, seed=seed)
    ceiling = noise_ceiling(g, n_images, seed=seed)
    return {"tau": float("nan") if reason else kendall_tau(e, g), "n_ranked": int(len(e)),
            "ci_low": lo, "ci_high": hi, "ceiling_median": ceiling.median, "ceiling_low": ceiling.low,
            "ceiling_high": ceiling.high, "val_images": int(n_images), "undefined": reason}


def describe(report: dict[str, Any]) -> str:
    """``tau = +0.183 [95% CI -0.05, +0.40] over 60 archs; noise ceiling 0.65 [0.58, 0.71] (250 images)``."""
    head = (f"tau undefined over {report['n_ranked']} archs ({report['undefined']})" if report["undefined"]
            else f"tau = {report['tau']:+.3f} [95% CI {report['ci_low']:+.2f}, {report['ci_high']:+.2f}] "
                 f"over {report['n_ranked']} archs")
    if np.isfinite(report["ceiling_median"]):
        head += (f"; noise ceiling {report['ceiling_median']:.2f} [{report['ceiling_low']:.2f}, "
                 f"{report['ceiling_high']:.2f}] ({report['val_images']} val images)")
    return head
