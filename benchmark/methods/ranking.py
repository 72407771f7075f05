"""What a one-shot run records each time it ranks architectures (SE-NAS Sec. 4.2, Figs. 7-8): the ranking
itself (supernet accuracy, ground truth, parameters), and the tau report beside it -- how many
architectures, bootstrap CI, noise ceiling, Spearman, and the bias diagnostics.

Run folder layout of these files::

    rankings/epoch_0004.parquet   the ranking at each tau epoch (arch, supernet_acc, gt_acc, params)
    snapshots/epoch_0004.pt       the evaluated weights at each tau epoch and the last one (baselines only)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from benchmark.metrics.diagnostics import bias_diagnostics
from benchmark.metrics.precision import tau_report
from benchmark.metrics.ranking import spearman_rho
from benchmark.spaces.nb201 import conv_edges

RANKINGS_DIR = "rankings"
SNAPSHOTS_DIR = "snapshots"
RANKING_COLUMNS = ["arch", "supernet_acc", "gt_acc", "params"]


def ranking_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / RANKINGS_DIR / f"epoch_{epoch:04d}.parquet"


def snapshot_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / SNAPSHOTS_DIR / f"epoch_{epoch:04d}.pt"


def ranking_frame(archs: Sequence[str], supernet_acc: Sequence[float], gt: Any, dataset: str) -> pd.DataFrame:
    """One row per ranked architecture: supernet accuracy, ground-truth accuracy, parameters."""
    archs = list(archs)
    return pd.DataFrame({"arch": archs, "supernet_acc": np.asarray(supernet_acc, dtype=float),
                         "gt_acc": gt.accuracies(archs, dataset), "params": gt.params(archs, dataset)})


def ranking_report(ranking: pd.DataFrame, val_images: int, seed: int = 0,
                   conv_count: Callable[[str], int] = conv_edges) -> dict[str, Any]:
    """Tau over the ranking with its precision (:func:`benchmark.metrics.precision.tau_report`), Spearman,
    and the bias diagnostics (:mod:`benchmark.metrics.diagnostics`; ``conv_count`` of the ranked space);
    keys are the columns of ``tau_curve.parquet``."""
    est, gt = ranking["supernet_acc"].to_numpy(), ranking["gt_acc"].to_numpy()
    report = tau_report(est, gt, val_images, seed=seed)
    spearman = float("nan") if report["undefined"] else spearman_rho(est, gt)
    return {**report, "spearman": spearman,
            **bias_diagnostics(est, gt, ranking["params"].to_numpy(), list(ranking["arch"]), conv_count)}


TAU_CURVE_COLUMNS = ["epoch", "stage", "space_size", "n_ranked", "tau", "ci_low", "ci_high", "ceiling_median",
                     "ceiling_low", "ceiling_high", "val_images", "undefined", "spearman",
                     "tau_supernet_params", "tau_gt_params", "tau_within_conv", "conv_groups",
                     "conv_groups_undefined"]
