"""BS-NAS Fig. 5: supernet top-1 accuracy of sampled architectures after each shrinking step, against a
supernet trained as long without shrinking.

A BS-NAS run (``nasbench run bsnas`` on NB201, or the ImageNet ``bsnas`` search) writes
``samples.parquet``: every architecture evaluated at a shrinking step (``phase`` = ``rating``; ``step`` =
the steps applied before it was evaluated, ``epoch`` = when) and the architectures drawn from the final
space after the last epoch (``phase`` = ``final``). The architectures rated at step s + 1 are fair samples
of the space left by step s after T_i more epochs, which is what the paper plots for steps 1 and 2; the
final draw is its step 3. The baseline is the final draw of a run without shrinking (``bsnas`` with
``stages=1``); a run without ``samples.parquet`` (e.g. SPOS) lends its ranked architectures instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.figures import _missing, _save, _style, plt
from analysis.results import Results, provenance

BASELINE = "no shrinking"


def _step_label(step: int) -> str:
    return "before shrinking" if step == 0 else f"after step {step}"


def run_samples(run_dir: str | Path) -> pd.DataFrame:
    """A run's sampled accuracies (``step``, ``epoch``, ``phase``, ``arch``, ``acc``, ``space_size``): its
    ``samples.parquet``, else its ``ranking.parquet`` as one final draw (no shrinking step known)."""
    run_dir = Path(run_dir)
    if (run_dir / "samples.parquet").is_file():
        return pd.read_parquet(run_dir / "samples.parquet")
    ranking = pd.read_parquet(run_dir / "ranking.parquet")
    return pd.DataFrame({"step": 0, "epoch": pd.NA, "phase": "final", "arch": ranking["arch"],
                         "acc": ranking["supernet_acc"], "space_size": pd.NA})


def fig5_table(shrinking: Sequence[str | Path], baseline: Sequence[str | Path] = (), per_group: int | None = None,
               seed: int = 0) -> pd.DataFrame:
    """One row per plotted architecture: ``group`` (``after step k`` / ``before shrinking`` /
    ``no shrinking``), ``order`` (plot position), ``epoch``, ``acc``, ``run``.

    ``per_group`` draws that many architectures per group and run (the paper: 20), seeded; None keeps all.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for kind, dirs in (("shrinking", shrinking), ("baseline", baseline)):
        for run_dir in dirs:
            s = run_samples(run_dir)
            if kind == "baseline":
                s = s[s["phase"] == "final"].assign(group=BASELINE, order=10_000)
            else:
                s = s.assign(group=[_step_label(int(k)) for k in s["step"]], order=s["step"].astype(int))
            for _, g in s.groupby("group", sort=False):
                if per_group is not None and len(g) > per_group:
                    g = g.iloc[np.sort(rng.choice(len(g), per_group, replace=False))]
                parts.append(g.assign(run=str(run_dir)))
    cols = ["group", "order", "epoch", "acc", "run"]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols].sort_values(["order", "run"], kind="stable")


def fig5_accuracy_distribution(shrinking: Sequence[str | Path], baseline: Sequence[str | Path], out_dir: str | Path,
                               per_group: int | None = None, seed: int = 0, caption: str | None = None
                               ) -> list[Path]:
    """Fig. 5 as box plots with every architecture as a dot, one column per group, epochs under the names;
    writes ``fig5_accuracy_distribution.png`` and ``.pdf`` into ``out_dir``."""
    _style()
    table = fig5_table(shrinking, baseline, per_group, seed)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * max(table["group"].nunique(), 2), 3.6))
    if table.empty:
        _missing(ax, "samples.parquet of a BS-NAS run")
    else:
        groups = list(dict.fromkeys(table["group"]))
        data = [table.loc[table["group"] == g, "acc"].to_numpy(float) for g in groups]
        ax.boxplot(data, widths=0.5, showfliers=False, medianprops={"color": "#c44e52"})
        jitter = np.random.default_rng(seed)
        for i, values in enumerate(data, start=1):
            ax.scatter(i + jitter.uniform(-0.12, 0.12, len(values)), values, s=9, alpha=0.6, color="#4c72b0",
                       linewidths=0)
        epochs = [sorted({int(e) for e in table.loc[table["group"] == g, "epoch"].dropna()}) for g in groups]
        ax.set_xticks(range(1, len(groups) + 1), [
            g + (f"\n(epoch {', '.join(map(str, e))})" if e else "") for g, e in zip(groups, epochs)])
        if BASELINE not in groups:
            ax.text(0.99, 0.02, "no baseline run given", ha="right", va="bottom", fontsize=8, color="0.35",
                    transform=ax.transAxes)
        ax.set_ylabel("supernet top-1 (%)")
    ax.set_title("BS-NAS Fig. 5: sampled architectures per shrinking step")
    fig.tight_layout()
    text = caption or f"{len(shrinking)} shrinking run(s), {len(baseline)} baseline run(s)"
    return _save(fig, out_dir, "fig5_accuracy_distribution", text)


def bsnas_runs(results: Results, dataset: str | None = None) -> tuple[list[Path], list[Path]]:
    """Run folders of the finished ``bsnas`` runs of a sweep: (with shrinking steps, without: ``stages`` = 1)."""
    runs = results.runs(method="bsnas", dataset=dataset)
    shrinking, baseline = [], []
    for row in runs.itertuples():
        stages = results.configs.get(row.run_id, {}).get("preset", {}).get("stages", 1)
        (shrinking if stages > 1 else baseline).append(results.root / str(row.run_dir))
    return shrinking, baseline


def fig5_from_results(results: Results, out_dir: str | Path, dataset: str | None = None,
                      per_group: int | None = None) -> list[Path]:
    """Fig. 5 from a sweep's results directory (its ``bsnas`` runs, see :func:`bsnas_runs`)."""
    shrinking, baseline = bsnas_runs(results, dataset)
    runs = results.runs(method="bsnas", dataset=dataset)
    return fig5_accuracy_distribution(shrinking, baseline, out_dir, per_group,
                                      caption=f"BS-NAS runs. Source: {provenance(runs)}.")
