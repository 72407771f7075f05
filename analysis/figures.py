"""The SE-NAS paper's figures from a results directory (matplotlib + seaborn, Agg backend).

One function per figure; each takes a :class:`~analysis.results.Results`, writes ``<name>.png`` and
``<name>.pdf`` into ``out_dir`` and returns both paths. Every figure carries a caption line naming the
preset, seeds and run count that produced it, so a tiny-scale figure is never read as the paper's.
A panel whose data is absent says what is missing instead of staying blank.

- :func:`fig1_ranking_distribution` - Fig. 1, ranks of 30 random architectures over repeated runs.
- :func:`fig6_operator_distribution` - Fig. 6, operators kept/removed against ground-truth rank per stage.
- :func:`fig7_tau_curve` - Fig. 7, Kendall's tau against epoch, SE-NAS against SPOS, per dataset.
- :func:`fig8_tau_distribution` - Fig. 8, tau over repeated runs per dataset and method.
- :func:`fig7_like_for_like`, :func:`fig8_like_for_like` - the same two figures like-for-like: every
  method ranks exactly the architectures SE-NAS ranked (``paired.parquet``, :mod:`benchmark.pairing`).

Figs. 7 and 8 draw the noise ceiling (:func:`benchmark.metrics.precision.noise_ceiling`): the tau a
perfect estimator reaches on the same architectures and number of validation images.
- :func:`bias_diagnostics` - why a supernet misranks: tau against parameters (supernet and ground truth)
  and tau within equal convolution counts, beside tau itself.
- :func:`tau_vs_budget` - SPOS tau against training epochs over one or more results directories, with
  the noise ceiling (the cpu-scale study, docs/cpu-scale.md).
- :func:`tau_comparison`, :func:`ranking_scatter`, :func:`criteria_retention` - quick looks.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from analysis.results import Results, dataset_name, load_results, order_labels, provenance  # noqa: E402
from analysis.stats import (  # noqa: E402
    method_rows,
    operator_retention,
    paired_curves,
    ranking_distribution,
    tau_curves,
    tau_statistics,
    topk_retention,
)
from benchmark.groundtruth import GroundTruth, default_metric  # noqa: E402
from benchmark.io import atomic_path  # noqa: E402
from benchmark.metrics.ranking import kendall_tau  # noqa: E402

BASELINE, OURS = "SPOS", "SE-NAS"
CEILING_COLOR = "0.35"
PAPER_PAIR = (OURS, BASELINE)
CRITERION_ORDER = ("random", "magnitude", "senas")
CRITERION_NAMES = {"random": "Random", "magnitude": "Magnitude", "senas": "SE-NAS (Eq. 7)",
                   "accuracy": "Accuracy (SI, Eq. 5)", "groundtruth": "Ground truth", "bsnas": "BS-NAS"}
SOURCE_COLORS = {"supernet": "#d1495b", "standalone": "#00798c"}
RETENTION_COLORS = {"kept": "#2e7d32", "removed": "#c62828", "gone": "#d9d9d9"}
DPI = 150


# --------------------------------------------------------------------------------------------- style
def _style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1,
                  rc={"axes.edgecolor": "0.3", "grid.color": "0.9", "legend.frameon": False,
                      "savefig.bbox": "tight", "pdf.fonttype": 42})


def label_colors(labels: Sequence[str]) -> dict[str, str]:
    """One fixed colour per method label: SPOS grey-blue, SE-NAS red, the rest from seaborn 'deep'."""
    fixed = {BASELINE: "#4c72b0", OURS: "#c44e52"}
    others = [lab for lab in dict.fromkeys(labels) if lab not in fixed]
    palette = [c for c in sns.color_palette("deep", len(others) + 4).as_hex() if c not in fixed.values()]
    return {**fixed, **dict(zip(others, palette))}


def _missing(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, textwrap.fill(f"missing: {text}", 70), ha="center", va="center", fontsize=9,
            color="0.35", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig: Figure, out_dir: str | Path, name: str, caption: str) -> list[Path]:
    """Add the provenance caption under the axes, write PNG and PDF (atomically), close the figure."""
    out = Path(out_dir)
    fig.text(0.01, 0.0, caption, ha="left", va="top", fontsize=7.5, color="0.35", wrap=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        with atomic_path(p) as tmp:
            fig.savefig(tmp, dpi=DPI, format=p.suffix[1:])
    plt.close(fig)
    return paths


def _caption(what: str, results: Results, runs: pd.DataFrame) -> str:
    return f"{what}. Source: {results.provenance(runs)}."


DATASET_ORDER = ("cifar10", "cifar100", "imagenet16-120")


def _sort_datasets(datasets: set[str]) -> list[str]:
    return [d for d in DATASET_ORDER if d in datasets] + sorted(datasets - set(DATASET_ORDER))


def _first_dataset(results: Results, method: str | None = None) -> str:
    """CIFAR-10 when it has finished runs (of ``method``), else the first dataset that has; the paper's
    single-dataset figures (1, 6) are on CIFAR-10."""
    present = _sort_datasets(set(results.runs(method=method)["dataset"]))
    return present[0] if present else DATASET_ORDER[0]


# ------------------------------------------------------------------------------------------ Fig. 1
def fig1_ranking_distribution(results: Results, out_dir: str | Path, dataset: str | None = None,
                              label: str = BASELINE, n_archs: int = 30, seed: int = 0,
                              groundtruth: GroundTruth | None = None) -> list[Path]:
    """SE-NAS Fig. 1: box plots of each architecture's rank over repeated runs, x sorted by ground truth.

    Top: rank by supernet accuracy in each ``label`` run. Bottom: rank by standalone accuracy in each
    training seed (standalone runs in the results, else per-seed ground truth), or what is missing.
    ``dataset=None`` takes the first dataset of the results (CIFAR-10 when present, as in the paper).
    """
    _style()
    dataset = dataset or _first_dataset(results)
    dist = ranking_distribution(results, label, dataset, n_archs, seed, groundtruth)
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.6), sharex=True)
    n = len(dist.archs)
    handles = []
    for ax, source, ylabel in ((axes[0], "supernet", "Rank (supernet accuracy)"),
                               (axes[1], "standalone", "Rank (standalone accuracy)")):
        part = dist.ranks(source)
        ax.set_ylabel(ylabel)
        if part.empty:
            _missing(ax, dist.notes.get(source, "no ranks"))
            continue
        data = [part.loc[part["gt_rank"] == r, "rank"].to_numpy() for r in range(1, n + 1)]
        color = SOURCE_COLORS[source]
        fliers = {"marker": "o", "markersize": 4, "markerfacecolor": "none", "markeredgecolor": color}
        ax.boxplot(data, positions=np.arange(1, n + 1), widths=0.6, patch_artist=True,
                   boxprops={"facecolor": color, "alpha": 0.45, "edgecolor": color},
                   medianprops={"color": "black", "linewidth": 1.2}, whiskerprops={"color": color},
                   capprops={"color": color}, flierprops=fliers)
        ax.plot([1, n], [1, n], ls="--", lw=0.8, color="0.4")
        ax.set_ylim(0, n + 1)
        runs = part["seed"].nunique()
        handles.append(Patch(facecolor=color, alpha=0.45, edgecolor=color,
                             label=f"{source} accuracy ({runs} run{'s' * (runs != 1)})"))
    if n:
        axes[1].set_xticks(np.arange(1, n + 1))
        axes[1].set_xlim(0.3, n + 0.7)
    axes[1].set_xlabel("Ground-truth rank (best to worst)")
    if handles:
        handles.append(plt.Line2D([], [], ls="--", lw=0.8, color="0.4", label="rank = ground-truth rank"))
    count = f"{n} " if n else ""
    fig.suptitle(f"Ranking distribution of {count}random child models, {dataset_name(dataset)} "
                 f"({label} supernet)")
    if handles:
        fig.legend(handles=handles, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 0.955),
                   fontsize=8.5)
    fig.tight_layout(rect=(0, 0, 1, 0.945))
    runs = results.runs(label=label, dataset=dataset)
    return _save(fig, out_dir, "fig1_ranking_distribution",
                 _caption(f"SE-NAS Fig. 1 layout; supernet ranks from {label}", results, runs))


# ------------------------------------------------------------------------------------------ Fig. 6
def _criterion_key(criterion: str) -> tuple[int, str]:
    position = CRITERION_ORDER.index(criterion) if criterion in CRITERION_ORDER else len(CRITERION_ORDER)
    return position, criterion


def _panel_title(label: str, criterion: str) -> str:
    if criterion == label:  # a method that shrinks by its own rule (BS-NAS step-shrinking)
        return f"{label} method"
    name = CRITERION_NAMES.get(criterion, criterion)
    return name if label in (OURS, f"{OURS} [{criterion}]") else f"{name} - {label}"


def fig6_operator_distribution(results: Results, out_dir: str | Path,
                               dataset: str | None = None) -> list[Path]:
    """SE-NAS Fig. 6: per criterion (row) and stage (column), how often each of the 30 (edge, op) pairs,
    ordered by ground-truth rank, was kept, removed at that stage, or already removed before it."""
    _style()
    dataset = dataset or _first_dataset(results, method="senas")
    ret = operator_retention(results.operators[results.operators["dataset"] == dataset]
                             if len(results.operators) else results.operators)
    panels = sorted({(r.label, r.criterion) for r in ret.itertuples()},
                    key=lambda lc: (_criterion_key(lc[1]), lc[0]))
    stages = sorted(ret["stage"].unique()) if len(ret) else []
    nrows, ncols = max(len(panels), 1), max(len(stages), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 2.5 * nrows + 0.6), squeeze=False,
                             sharex=True, sharey="row")
    if not panels:
        _missing(axes[0, 0], f"no operator records (SE-NAS runs) on {dataset}")
    for i, (label, criterion) in enumerate(panels):
        for j, stage in enumerate(stages):
            ax = axes[i, j]
            part = ret[(ret["label"] == label) & (ret["stage"] == stage)]
            part = part.sort_values(["gt_rank", "edge", "op"])
            if part.empty:
                _missing(ax, f"no stage {stage}")
                continue
            x = np.arange(1, len(part) + 1)
            bottom = np.zeros(len(part))
            for key, name in (("kept", "kept"), ("removed", f"removed at stage {stage}"),
                              ("gone", "removed earlier")):
                h = part[key].to_numpy(dtype=float)
                ax.bar(x, h, bottom=bottom, width=0.8, color=RETENTION_COLORS[key], label=name)
                bottom += h
            n_runs = int(part["n_runs"].iloc[0])
            alive_after = part["kept"].sum() / n_runs
            ax.axvline(alive_after + 0.5, ls=":", color="0.3", lw=1)
            ax.set_xticks(x[::3] if len(x) > 15 else x, part["gt_rank"].to_numpy()[::3] if len(x) > 15
                          else part["gt_rank"].to_numpy())
            ax.set_ylim(0, n_runs)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{_panel_title(label, criterion)}, stage {stage}", fontsize=10)
            if j == 0:
                ax.set_ylabel(f"runs (of {n_runs})")
            if i == nrows - 1:
                ax.set_xlabel("Ground-truth operator rank")
    legend = (("kept", "kept"), ("removed", "removed at this stage"), ("gone", "removed at an earlier stage"))
    handles = [Patch(color=RETENTION_COLORS[k], label=t) for k, t in legend]
    handles.append(plt.Line2D([], [], ls=":", color="0.3", label="ideal cut (as many kept, all best)"))
    fig.legend(handles=handles, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 1.0), fontsize=8.5)
    fig.suptitle(f"Operator distribution at each shrinking stage, {dataset_name(dataset)}", y=1.04)
    fig.tight_layout()
    runs = results.runs(dataset=dataset)
    return _save(fig, out_dir, "fig6_operator_distribution",
                 _caption("SE-NAS Fig. 6 layout; 30 NB201 (edge, op) pairs ranked by mean ground-truth "
                          "accuracy", results, runs[runs["method"] == "senas"]))


# ------------------------------------------------------------------------------------------ Fig. 7
def _datasets(results: Results, labels: Sequence[str]) -> list[str]:
    return _sort_datasets(set(results.runs()[lambda d: d["label"].isin(labels)]["dataset"]))


def fig7_tau_curve(results: Results, out_dir: str | Path, labels: Sequence[str] = PAPER_PAIR) -> list[Path]:
    """SE-NAS Fig. 7: Kendall's tau against epoch, mean +- std over seeds, one panel per dataset;
    dotted lines mark the epochs where SE-NAS shrinks (end of each stage)."""
    _style()
    curves = tau_curves(results.tau_curve, labels) if len(results.tau_curve) else pd.DataFrame()
    ceilings = _ceilings(results.tau_curve)
    datasets = _datasets(results, labels)
    colors = label_colors(labels)
    ncols = max(len(datasets), 1)
    fig, axes = plt.subplots(1, ncols, figsize=(max(4.6 * ncols, 7.5), 3.8), squeeze=False)
    if not datasets:
        _missing(axes[0, 0], f"no finished runs of {', '.join(labels)}")
    ends = results.stage_ends(OURS)
    for ax, ds in zip(axes[0], datasets):
        for label in order_labels(labels):
            c = curves[(curves["dataset"] == ds) & (curves["label"] == label)]
            if c.empty:
                continue
            n = int(c["n"].max())
            ax.plot(c["epoch"], c["mean"], marker="o", ms=4, color=colors[label], label=f"{label} (n={n})")
            std = c["std"].fillna(0)
            ax.fill_between(c["epoch"], c["mean"] - std, c["mean"] + std, color=colors[label], alpha=0.18,
                            lw=0)
            ceiling = ceilings.get((ds, label))
            if ceiling is not None and ceiling.notna().any():
                ax.plot(ceiling.index, ceiling.values, ls="--", lw=1, color=colors[label],
                        label=f"{label} noise ceiling")
        for e in ends[:-1]:
            ax.axvline(e, ls=":", color="0.4", lw=1)
        ax.set_title(dataset_name(ds))
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best", fontsize=8)
    axes[0, 0].set_ylabel("Kendall's Tau")
    fig.suptitle("Evolution of ranking correlation, the paper's reading: each method over its own space\n"
                 "(mean ± std over seeds; dashed: noise ceiling; dotted: SE-NAS shrinks)", fontsize=11)
    fig.tight_layout()
    runs = results.runs()[lambda d: d["label"].isin(labels)]
    return _save(fig, out_dir, "fig7_tau_curve",
                 _caption("SE-NAS Fig. 7 layout (not like-for-like: SE-NAS ranks its shrunk space, SPOS "
                          "the whole space); baseline = SPOS", results, runs))


def _ceilings(tau_curve: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """Mean noise ceiling over runs per (dataset, label), indexed by epoch (empty for old results)."""
    if tau_curve.empty or "ceiling_median" not in tau_curve:
        return {}
    g = tau_curve.groupby(["dataset", "label", "epoch"])["ceiling_median"].mean()
    return {(ds, label): s.droplevel([0, 1]) for (ds, label), s in g.groupby(level=[0, 1])}


def _point_names(points: pd.DataFrame) -> list[str]:
    return list(points.sort_values("order")["point"].drop_duplicates())


def fig7_like_for_like(results: Results, out_dir: str | Path) -> list[Path]:
    """Fig. 7 like-for-like: at each ranking point of SE-NAS (tau epochs, then the final space) every
    method ranks exactly the architectures SE-NAS ranked; mean +- std over seeds, with the noise ceiling
    of those architectures (grey band: its 95% range)."""
    _style()
    curves = paired_curves(results.paired)
    datasets = _sort_datasets(set(curves["dataset"]))
    ncols = max(len(datasets), 1)
    fig, axes = plt.subplots(1, ncols, figsize=(max(4.8 * ncols, 7.5), 3.9), squeeze=False)
    if not datasets:
        _missing(axes[0, 0], "no like-for-like pairs: sweep SE-NAS with spos or spos_avg of the same seeds "
                             "(`nasbench compare` does)")
    labels = order_labels(curves["label"].unique())
    colors = label_colors(labels)
    for ax, ds in zip(axes[0], datasets):
        c_ds = curves[curves["dataset"] == ds]
        names = _point_names(c_ds)
        x_of = {p: i for i, p in enumerate(names)}
        ceiling = c_ds.drop_duplicates("point").set_index("point").loc[names]
        xs = np.arange(len(names))
        ax.fill_between(xs, ceiling["ceiling_low"], ceiling["ceiling_high"], color=CEILING_COLOR, alpha=0.12,
                        lw=0)
        ax.plot(xs, ceiling["ceiling_median"], ls="--", lw=1, color=CEILING_COLOR, label="noise ceiling")
        for label in labels:
            c = c_ds[c_ds["label"] == label]
            if c.empty:
                continue
            x = c["point"].map(x_of).to_numpy()
            std = c["std"].fillna(0).to_numpy()
            ax.plot(x, c["mean"], marker="o", ms=4, color=colors[label], label=f"{label} (n={int(c['n'].max())})")
            ax.fill_between(x, c["mean"] - std, c["mean"] + std, color=colors[label], alpha=0.15, lw=0)
        archs = ceiling["n_ranked"].round().astype(int)
        ax.set_xticks(xs, [f"{p}\n{n} archs" for p, n in zip(names, archs)], fontsize=8)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(dataset_name(ds))
        ax.legend(loc="best", fontsize=7.5)
    axes[0, 0].set_ylabel("Kendall's Tau (same architectures)")
    fig.suptitle("Ranking correlation like-for-like: every method ranks the architectures SE-NAS ranked\n"
                 "(mean ± std over seeds; dashed and grey: noise ceiling and its 95% range)", fontsize=11)
    fig.tight_layout()
    return _save(fig, out_dir, "fig7_like_for_like",
                 _caption("Fig. 7 like-for-like", results, results.paired_runs()))



# ------------------------------------------------------------------------------------------ Fig. 8
def _count_text(runs: pd.DataFrame, label: str) -> str:
    """``n=9, 1 undefined``: runs of ``label`` with a tau, and those whose tau is undefined (every ranked
    architecture got the same supernet accuracy, e.g. a shrunk space of functionally equal networks)."""
    taus = runs.loc[runs["label"] == label, "tau"].astype(float)
    undefined = int(taus.isna().sum())
    return f"n={len(taus) - undefined}" + (f", {undefined} undefined" if undefined else "")


def fig8_tau_distribution(results: Results, out_dir: str | Path,
                          labels: Sequence[str] = PAPER_PAIR) -> list[Path]:
    """SE-NAS Fig. 8: distribution of the final Kendall's tau over repeated runs, per dataset and method."""
    _style()
    runs = results.runs()[lambda d: d["label"].isin(labels)].copy()
    fig, ax = plt.subplots(figsize=(9.0, 4.0))
    if runs.empty:
        _missing(ax, f"no finished runs of {', '.join(labels)}")
    else:
        _tau_boxes(ax, runs, [dataset_name(d) for d in _datasets(results, labels)], lambda label: "")
        ax.set_xlabel("")
        ax.set_ylabel("Kendall's Tau")
    ax.set_title("Distribution of ranking correlation over repeated runs (the paper's reading: each method "
                 "over its own final space)", fontsize=9.5)
    fig.tight_layout()
    return _save(fig, out_dir, "fig8_tau_distribution",
                 _caption("SE-NAS Fig. 8 layout (not like-for-like); baseline = SPOS; black ticks: noise "
                          "ceiling of each method's ranked set", results, runs))


def _tau_boxes(ax: plt.Axes, frame: pd.DataFrame, order: list[str], extra: Callable[[str], str]) -> None:
    """Fig. 8's drawing: tau per dataset (box and one dot per run) dodged by label, each method's noise
    ceiling as a tick, and a legend giving each label's run count (plus ``extra(label)``)."""
    frame["Dataset"] = frame["dataset"].map(dataset_name)
    hue_order = order_labels(frame["label"].unique())
    palette = label_colors(hue_order)
    common = {"data": frame, "x": "Dataset", "y": "tau", "hue": "label", "order": order, "hue_order": hue_order,
              "ax": ax, "palette": palette}
    sns.boxplot(**common, width=0.6, fliersize=0, boxprops={"alpha": 0.5})
    sns.stripplot(**common, dodge=True, size=4, jitter=0.12, edgecolor="0.2", linewidth=0.5, legend=False)
    handles, texts = ax.get_legend_handles_labels()
    drawn = _ceiling_ticks(ax, frame, order, hue_order)
    ax.legend(handles[:len(hue_order)] + drawn,
              [f"{t} ({_count_text(frame, t)}{extra(t)})" for t in texts[:len(hue_order)]]
              + ["noise ceiling"] * len(drawn), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8.5)


def _ceiling_ticks(ax: plt.Axes, frame: pd.DataFrame, order: Sequence[str], hue_order: Sequence[str],
                   width: float = 0.8) -> list:
    """A black tick at the mean noise ceiling of each (dataset, method) box of a dodged box plot (seaborn
    dodges hues over ``width`` = 0.8 of each category); returns one legend handle when any was drawn."""
    if "ceiling_median" not in frame:
        return []
    step = width / len(hue_order)
    drawn = []
    for i, ds in enumerate(order):
        for j, label in enumerate(hue_order):
            c = frame.loc[(frame["Dataset"] == ds) & (frame["label"] == label), "ceiling_median"].astype(float)
            if c.notna().any():
                x = i - width / 2 + step * (j + 0.5)
                drawn = [ax.hlines(c.mean(), x - step * 0.45, x + step * 0.45, color="black", lw=2)]
    ax.set_xlim(-0.5, len(order) - 0.5)
    return drawn


def fig8_like_for_like(results: Results, out_dir: str | Path) -> list[Path]:
    """Fig. 8 like-for-like: the final tau of every method over exactly the architectures of SE-NAS's final
    space, per seed and dataset, with the noise ceiling of those architectures (black ticks)."""
    _style()
    paired = results.paired
    fig, ax = plt.subplots(figsize=(9.0, 4.0))
    final = paired[paired["point"] == "final"] if len(paired) else paired
    if final.empty:
        _missing(ax, "no like-for-like pairs: sweep SE-NAS with spos or spos_avg of the same seeds "
                     "(`nasbench compare` does)")
    else:
        final = method_rows(final)
        archs = final.groupby("label")["n_ranked"].mean()
        _tau_boxes(ax, final, [dataset_name(d) for d in _sort_datasets(set(final["dataset"]))],
                   lambda label: f", {archs[label]:.0f} archs")
        ax.set_xlabel("")
        ax.set_ylabel("Kendall's Tau (same architectures)")
    ax.set_title("Final ranking correlation like-for-like: every method ranks SE-NAS's final space",
                 fontsize=9.5)
    fig.tight_layout()
    return _save(fig, out_dir, "fig8_like_for_like",
                 _caption("Fig. 8 like-for-like", results, results.paired_runs()))


# ----------------------------------------------------------------------------------- quick looks
def tau_comparison(results: Results, out_dir: str | Path) -> list[Path]:
    """Final tau of every method label per dataset: mean with bootstrap 95% interval, runs as dots."""
    _style()
    runs = results.runs()
    runs = runs[runs["method"] != "standalone"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * runs["label"].nunique() + 2), 3.8))
    if runs.empty:
        _missing(ax, "no finished one-shot runs")
    else:
        labels = order_labels(runs["label"])
        datasets = _datasets(results, labels)
        st = tau_statistics(runs).set_index(["label", "dataset"])
        width = 0.8 / len(datasets)
        palette = dict(zip(datasets, sns.color_palette("colorblind", len(datasets))))
        for j, ds in enumerate(datasets):
            for i, label in enumerate(labels):
                if (label, ds) not in st.index:
                    continue
                s = st.loc[(label, ds)]
                x = i - 0.4 + width * (j + 0.5)
                yerr = np.array([[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]])
                ax.bar(x, s["mean"], width * 0.9, color=palette[ds], alpha=0.6, label=dataset_name(ds))
                if np.isfinite(yerr).all():
                    ax.errorbar(x, s["mean"], yerr=yerr, color="0.2", capsize=3, lw=1)
                pts = runs[(runs["label"] == label) & (runs["dataset"] == ds)]["tau"]
                ax.scatter(np.full(len(pts), x), pts, s=10, color="0.15", zorder=3)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=15)
        ax.set_ylabel("Kendall's Tau (final ranking)")
        handles, texts = ax.get_legend_handles_labels()
        unique = dict(zip(texts, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=8.5)
    ax.set_title("Final ranking correlation per method (bars: mean, whiskers: bootstrap 95% CI)")
    fig.tight_layout()
    return _save(fig, out_dir, "tau_comparison", _caption("Final tau per run", results, runs))


def ranking_scatter(results: Results, out_dir: str | Path, dataset: str | None = None,
                    seed: int | None = None) -> list[Path]:
    """Supernet accuracy against ground-truth accuracy of the final ranking, one panel per method
    label, for one dataset and seed (default: the first dataset and the lowest seed present)."""
    _style()
    rk = results.ranking
    if len(rk):
        dataset = dataset or _datasets(results, list(rk["label"].unique()))[0]
        rk = rk[rk["dataset"] == dataset]
        seed = int(rk["seed"].min()) if seed is None and len(rk) else seed
        rk = rk[rk["seed"] == seed]
    labels = order_labels(rk["label"]) if len(rk) else []
    ncols = max(len(labels), 1)
    fig, axes = plt.subplots(1, ncols, figsize=(3.8 * ncols, 3.6), squeeze=False)
    if not labels:
        _missing(axes[0, 0], "no final rankings")
    colors = label_colors(labels)
    for ax, label in zip(axes[0], labels):
        part = rk[rk["label"] == label]
        ax.scatter(part["gt_acc"], part["supernet_acc"], s=12, alpha=0.7, color=colors[label],
                   edgecolor="none")
        tau = kendall_tau(part["supernet_acc"], part["gt_acc"]) if len(part) >= 2 else float("nan")
        ax.set_title(f"{label}: tau = {tau:.3f} (n={len(part)})", fontsize=10)
        ax.set_xlabel("Ground-truth accuracy (%)")
    axes[0, 0].set_ylabel("Supernet accuracy")
    fig.suptitle(f"Final ranking, {dataset_name(dataset or '')} seed {seed}")
    fig.tight_layout()
    runs = results.runs()
    runs = runs[(runs["dataset"] == dataset) & (runs["seed"] == seed) & runs["label"].isin(labels)]
    return _save(fig, out_dir, "ranking_scatter", _caption("One run per method", results, runs))


def criteria_retention(results: Results, out_dir: str | Path, dataset: str | None = None,
                       k: int = 10) -> list[Path]:
    """Scoring criteria compared: fraction of the top-k ground-truth (edge, op) pairs alive after each
    stage (left) and the ground-truth accuracy of the architecture each SE-NAS variant found (right)."""
    _style()
    dataset = dataset or _first_dataset(results, method="senas")
    ops = results.operators
    ret = topk_retention(ops[ops["dataset"] == dataset], k) if len(ops) else topk_retention(ops, k)
    runs = results.runs(dataset=dataset, method="senas")
    criterion_of = dict(zip(runs["label"], runs["criterion"].astype(str)))
    criterion_of.update(zip(ret["label"], ret["criterion"].astype(str)))
    labels = sorted(criterion_of, key=lambda lab: (_criterion_key(criterion_of[lab]), lab))
    colors = label_colors(labels)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    if ret.empty:
        _missing(left, f"no operator records on {dataset}")
    else:
        stages = sorted(ret["stage"].unique())
        width = 0.8 / len(labels)
        for i, label in enumerate(labels):
            part = ret[ret["label"] == label].set_index("stage").reindex(stages)
            x = np.arange(len(stages)) - 0.4 + width * (i + 0.5)
            left.bar(x, part["mean"], width * 0.9, color=colors[label], alpha=0.8,
                     yerr=part["std"].fillna(0), capsize=3, label=f"{label} (n={int(part['n'].max())})")
        left.set_xticks(range(len(stages)), [f"after stage {s}" for s in stages])
        left.set_ylim(0, 1.19)
        left.set_yticks(np.linspace(0, 1, 6))
        left.set_ylabel("fraction kept")
        left.legend(fontsize=8, loc="upper right", ncol=min(len(labels), 3))
    left.set_title(f"Top-{k} ground-truth operators still in the space", fontsize=10)
    metric = default_metric(dataset)
    if runs.empty:
        _missing(right, f"no SE-NAS runs on {dataset}")
    else:
        data = runs.assign(value=runs[f"best_gt.{metric}"].astype(float))
        common = {"data": data, "x": "label", "y": "value", "order": labels, "hue": "label",
                  "hue_order": labels, "palette": colors, "ax": right, "legend": False}
        sns.boxplot(**common, width=0.5, fliersize=0, boxprops={"alpha": 0.5})
        sns.stripplot(**common, size=4, jitter=0.1, edgecolor="0.2", linewidth=0.5)
        right.set_xlabel("")
        right.tick_params(axis="x", rotation=15)
        right.set_ylabel("ground-truth accuracy (%)")
    right.set_title(f"Searched architecture, {metric}", fontsize=10)
    fig.suptitle(f"Scoring criteria compared, {dataset_name(dataset)}")
    fig.tight_layout()
    return _save(fig, out_dir, "criteria_retention",
                 _caption("SE-NAS runs per criterion", results, runs))


# ------------------------------------------------------------------------------------ diagnostics
DIAGNOSTICS = {"tau": "tau vs\nground truth", "tau_within_conv": "tau within equal\nconv counts",
               "tau_supernet_params": "supernet accuracy\nvs params", "tau_gt_params": "ground truth\nvs params"}


def bias_diagnostics(results: Results, out_dir: str | Path) -> list[Path]:
    """The bias diagnostics of each method's final ranking (:mod:`benchmark.metrics.diagnostics`): mean
    over runs with one dot per run; the ground truth's own tau against parameters is the reference for the
    supernet's."""
    _style()
    runs = results.runs()
    runs = runs[runs["method"] != "standalone"]
    have = [c for c in DIAGNOSTICS if c in runs and runs[c].notna().any()]
    fig, ax = plt.subplots(figsize=(8.4, 3.9))
    if runs.empty or len(have) < 2:
        _missing(ax, "no run recorded bias diagnostics (runs of this toolkit version record them)")
    else:
        long = runs.melt(id_vars=["label"], value_vars=have, var_name="measure", value_name="value")
        long["measure"] = long["measure"].map(DIAGNOSTICS)
        hue_order = order_labels(runs["label"])
        order = [DIAGNOSTICS[c] for c in have]
        sns.barplot(data=long, x="measure", y="value", hue="label", order=order, hue_order=hue_order,
                    palette=label_colors(hue_order), errorbar=None, alpha=0.6, ax=ax)
        sns.stripplot(data=long, x="measure", y="value", hue="label", order=order, hue_order=hue_order,
                      palette=label_colors(hue_order), dodge=True, size=3.5, edgecolor="0.2", linewidth=0.5,
                      legend=False, ax=ax)
        counts = runs.groupby("label").size()
        handles, texts = ax.get_legend_handles_labels()
        ax.legend(handles[:len(hue_order)], [f"{t} (n={counts[t]})" for t in texts[:len(hue_order)]],
                  fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel("")
        ax.set_ylabel("Kendall's Tau")
    ax.set_title("Why a supernet misranks: size bias and tau within equal convolution counts", fontsize=10)
    fig.tight_layout()
    return _save(fig, out_dir, "bias_diagnostics", _caption("Final ranking of each run", results, runs))


# ------------------------------------------------------------------------------------ budget study
def tau_vs_budget(results: Sequence[Results], out_dir: str | Path, label: str = BASELINE) -> list[Path]:
    """Tau of ``label`` runs against training epochs, one line per run, marked by the length of its
    schedule (a tau after 6 of 12 epochs is not one after 6 of 6: the cosine schedule differs), with the
    mean noise ceiling of the ranked architectures and its 95% range."""
    _style()
    frames = []
    for r in results:
        curve = r.tau_curve[r.tau_curve["label"] == label] if len(r.tau_curve) else r.tau_curve
        for run_id, c in curve.groupby("run_id"):
            preset = r.configs.get(run_id, {}).get("preset", {})
            total = int(preset.get("stages", 0)) * int(preset.get("epochs_per_stage", 0))
            frames.append(c.assign(schedule=f"{preset.get('name', '?')} preset, {total}-epoch schedule",
                                   run=f"{r.root.name}/{run_id}"))
    fig, ax = plt.subplots(figsize=(7.6, 4.0))
    runs = pd.concat([r.runs(label=label) for r in results], ignore_index=True)
    if not frames:
        _missing(ax, f"no {label} runs with a tau curve")
    else:
        curve = pd.concat(frames, ignore_index=True).sort_values("epoch")
        if "ceiling_median" in curve:
            band = curve.groupby("epoch")[["ceiling_median", "ceiling_low", "ceiling_high"]].mean()
            ax.fill_between(band.index, band["ceiling_low"], band["ceiling_high"], color=CEILING_COLOR,
                            alpha=0.12, lw=0)
            ax.plot(band.index, band["ceiling_median"], ls="--", color=CEILING_COLOR, lw=1,
                    label="noise ceiling")
        schedules = sorted(curve["schedule"].unique())
        colors = dict(zip(schedules, sns.color_palette("colorblind", len(schedules))))
        for (schedule, _), c in curve.groupby(["schedule", "run"]):
            ax.plot(c["epoch"], c["tau"], marker="o", ms=4, color=colors[schedule], alpha=0.8, lw=1.2)
        for schedule in schedules:
            n = curve.loc[curve["schedule"] == schedule, "run"].nunique()
            ax.plot([], [], marker="o", color=colors[schedule], label=f"{label}, {schedule} (n={n})")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Kendall's Tau")
        ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{label} ranking correlation against training budget")
    fig.tight_layout()
    scales = {k: v for r in results for k, v in r.scales.items()}
    return _save(fig, out_dir, "tau_vs_budget", f"One line per run. Source: {provenance(runs, scales)}.")


# ------------------------------------------------------------------------------------------ all
def make_all_figures(results_dir: str | Path | Results, out_dir: str | Path,
                     groundtruth: GroundTruth | None = None, budget: Sequence[Results] = ()) -> list[Path]:
    """Every figure of this module from one results directory (or loaded results); returns the files.
    ``budget``: more results whose SPOS runs join the tau-against-budget figure."""
    results = results_dir if isinstance(results_dir, Results) else load_results(results_dir)
    paths: list[Path] = []
    paths += fig1_ranking_distribution(results, out_dir, groundtruth=groundtruth)
    paths += fig6_operator_distribution(results, out_dir)
    paths += fig7_tau_curve(results, out_dir)
    paths += fig8_tau_distribution(results, out_dir)
    paths += fig7_like_for_like(results, out_dir)
    paths += fig8_like_for_like(results, out_dir)
    paths += tau_comparison(results, out_dir)
    paths += bias_diagnostics(results, out_dir)
    paths += tau_vs_budget([results, *budget], out_dir)
    paths += ranking_scatter(results, out_dir)
    paths += criteria_retention(results, out_dir)
    return paths
