"""The SE-NAS paper's figures from a results directory (matplotlib + seaborn, Agg backend).

One function per figure; each takes a :class:`~analysis.results.Results`, writes ``<name>.png`` and
``<name>.pdf`` into ``out_dir`` and returns both paths. Every figure carries a caption line naming the
preset, seeds and run count that produced it, so a tiny-scale figure is never read as the paper's;
PNG and PDF also carry the title and caption in their metadata (:mod:`analysis.overview` reads them).
A panel whose data is absent says what is missing, and which command fills it, instead of staying blank.
A spread over runs (box, std band, CI whiskers) is drawn only from two or more runs: a single run is a
dot or tick and the figure says "1 run: no distribution". Bars of tau carry their run count.

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

import math
import textwrap
from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
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
ONE_RUN = "1 run: no distribution"
DODGE = 0.8  # width of a category shared by its dodged methods (as seaborn dodges)


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
    """Say in an empty panel what is missing (and which command fills it). Ticks are cleared only on
    axes this panel does not share: clearing a shared axis would clear its siblings' ticks too."""
    ax.text(0.5, 0.5, textwrap.fill(f"missing: {text}", 70), ha="center", va="center", fontsize=9,
            color="0.35", transform=ax.transAxes)
    for axis, shared in ((ax.xaxis, ax.get_shared_x_axes()), (ax.yaxis, ax.get_shared_y_axes())):
        if len(shared.get_siblings(ax)) == 1:
            axis.set_ticks([])


def _runs_text(n: int) -> str:
    """``n=3``; for a single run, that there is no distribution (no box, band or interval is drawn)."""
    return ONE_RUN if n == 1 else f"n={n}"


def _title(fig: Figure) -> str:
    """The figure's title on one line: its suptitle, else its first panel's title."""
    text = fig.get_suptitle() or (fig.axes[0].get_title() if fig.axes else "")
    return " ".join(text.split())


def _save(fig: Figure, out_dir: str | Path, name: str, caption: str) -> list[Path]:
    """Add the provenance caption under the axes, write PNG and PDF (atomically), close the figure.
    Both files carry the title and caption in their metadata (the overview page reads them back); the
    PDF has no creation date, so the same results give the same files."""
    out = Path(out_dir)
    fig.text(0.01, 0.0, caption, ha="left", va="top", fontsize=7.5, color="0.35", wrap=True)
    title = _title(fig)
    metadata = {"png": {"Title": title, "Description": caption},
                "pdf": {"Title": title, "Subject": caption, "CreationDate": None}}
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        with atomic_path(p) as tmp:
            fig.savefig(tmp, dpi=DPI, format=p.suffix[1:], metadata=metadata[p.suffix[1:]])
    plt.close(fig)
    return paths


def _boxes(ax: plt.Axes, groups: Sequence[np.ndarray], positions: Sequence[float], colors: Sequence[str],
           width: float, seed: int = 0) -> None:
    """A box (quartiles, median, whiskers to 1.5 IQR) for each group of two or more finite values, and
    one jittered dot per value (seeded); a group of one value is a dot only: it has no distribution."""
    rng = np.random.default_rng(seed)
    for values, x, color in zip(groups, positions, colors):
        values = values[np.isfinite(values)]
        if len(values) >= 2:
            ax.boxplot([values], positions=[x], widths=width, patch_artist=True, showfliers=False,
                       manage_ticks=False, boxprops={"facecolor": color, "alpha": 0.5, "edgecolor": "0.25"},
                       medianprops={"color": "0.15"}, whiskerprops={"color": "0.25"},
                       capprops={"color": "0.25"})
        ax.scatter(x + rng.uniform(-width / 4, width / 4, len(values)), values, s=16, color=color,
                   edgecolor="0.2", linewidth=0.5, zorder=3)


def _bar_of_runs(ax: plt.Axes, x: float, values: np.ndarray, width: float, color: str) -> None:
    """A bar at the mean of ``values`` (one per run), a dot per run, and the run count above it all."""
    values = values[np.isfinite(values)]
    ax.bar(x, values.mean() if len(values) else np.nan, width, color=color, alpha=0.6)
    ax.scatter(np.full(len(values), x), values, s=10, color="0.15", zorder=3)
    top = max([0.0, *values])
    ax.annotate(f"n={len(values)}", (x, top), xytext=(0, 2), textcoords="offset points", ha="center",
                va="bottom", fontsize=7, color="0.25")


def _caption(what: str, results: Results, runs: pd.DataFrame) -> str:
    """``what``, then the preset(s), seeds and count of the runs drawn (or that none of them is)."""
    if runs.empty:
        return f"{what}. Source: none of the {len(results.done)} finished runs."
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
FIG1_FILLS = {
    "supernet": "SPOS runs that rank the same architectures: nasbench sweep benchmark/configs/fig1.yaml "
                "--out {root}",
    "standalone": "train the architectures from scratch in the same sweep (methods [spos, standalone], as in "
                  "benchmark/configs/fig1.yaml), or read a per-seed ground truth: nasbench figures {root} "
                  "--out DIR --gt <NB201 .pth or NATS-tss folder>",
}


def _rank_boxes(ax: plt.Axes, part: pd.DataFrame, n: int, color: str, name: str) -> Artist:
    """One Fig. 1 panel: per architecture (x: ground-truth rank) a box of its ranks over runs; with a
    single run its rank as a tick and the note that there is no distribution. Returns the legend handle
    of what was drawn."""
    ax.plot([1, n], [1, n], ls="--", lw=0.8, color="0.4")
    ax.set_ylim(0, n + 1)
    runs = part["seed"].nunique()
    if runs == 1:
        one = part.sort_values("gt_rank")
        tick = {"ls": "none", "marker": "_", "ms": 16, "mew": 2.5, "color": color}
        ax.plot(one["gt_rank"], one["rank"], **tick)
        ax.text(0.01, 0.97, ONE_RUN, ha="left", va="top", fontsize=9, color="0.3", transform=ax.transAxes)
        return Line2D([], [], **tick, label=f"{name} ({ONE_RUN})")
    data = [part.loc[part["gt_rank"] == r, "rank"].to_numpy() for r in range(1, n + 1)]
    fliers = {"marker": "o", "markersize": 4, "markerfacecolor": "none", "markeredgecolor": color}
    ax.boxplot(data, positions=np.arange(1, n + 1), widths=0.6, patch_artist=True,
               boxprops={"facecolor": color, "alpha": 0.45, "edgecolor": color},
               medianprops={"color": "black", "linewidth": 1.2}, whiskerprops={"color": color},
               capprops={"color": color}, flierprops=fliers)
    return Patch(facecolor=color, alpha=0.45, edgecolor=color, label=f"{name} ({runs} runs)")


def fig1_ranking_distribution(results: Results, out_dir: str | Path, dataset: str | None = None,
                              label: str = BASELINE, n_archs: int = 30, seed: int = 0,
                              groundtruth: GroundTruth | None = None) -> list[Path]:
    """SE-NAS Fig. 1: box plots of each architecture's rank over repeated runs, x sorted by ground truth.

    Top: rank by supernet accuracy in each ``label`` run. Bottom: rank by standalone accuracy in each
    training seed (standalone runs in the results, else per-seed ground truth), or what is missing and
    the command that fills it. ``dataset=None`` takes the first dataset of the results (CIFAR-10 when
    present, as in the paper).
    """
    _style()
    dataset = dataset or _first_dataset(results)
    dist = ranking_distribution(results, label, dataset, n_archs, seed, groundtruth)
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.6), sharex=True)
    n = len(dist.archs)
    handles: list[Artist] = []
    for ax, source, ylabel in ((axes[0], "supernet", "Rank (supernet accuracy)"),
                               (axes[1], "standalone", "Rank (standalone accuracy)")):
        part = dist.ranks(source)
        ax.set_ylabel(ylabel)
        if part.empty:
            fill = FIG1_FILLS[source].format(root=results.root)
            _missing(ax, f"{dist.notes.get(source, 'no ranks')}. To fill it: {fill}")
            continue
        handles.append(_rank_boxes(ax, part, n, SOURCE_COLORS[source], f"{source} accuracy"))
    if n:
        axes[1].set_xticks(np.arange(1, n + 1))
        axes[1].set_xlim(0.3, n + 0.7)
    axes[1].set_xlabel("Ground-truth rank (best to worst)")
    if any(isinstance(h, Patch) for h in handles):
        handles.append(Line2D([], [], color="black", lw=1.2, label="median over runs"))
    if handles:
        handles.append(Line2D([], [], ls="--", lw=0.8, color="0.4", label="rank = ground-truth rank"))
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
def _count_ticks(n: int, most: int = 6) -> list[int]:
    """Integer ticks 0..n for a count of runs: every count up to ``most - 1`` runs, else evenly stepped."""
    step = max(1, math.ceil(n / (most - 1)))
    return list(range(0, n + 1, step))


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
        _missing(axes[0, 0], f"no operator records (SE-NAS runs) on {dataset}. To fill it: nasbench sweep "
                             f"benchmark/configs/fig6.yaml --out {results.root}")
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
            ax.set_yticks(_count_ticks(n_runs))
            ax.set_title(f"{_panel_title(label, criterion)}, stage {stage}", fontsize=10)
            if j == 0:
                ax.set_ylabel(f"runs (of {n_runs})")
            if i == nrows - 1:
                ax.set_xlabel("Ground-truth operator rank")
    legend = (("kept", "kept"), ("removed", "removed at this stage"), ("gone", "removed at an earlier stage"))
    handles = [Patch(color=RETENTION_COLORS[k], label=t) for k, t in legend]
    handles.append(Line2D([], [], ls=":", color="0.3", label="ideal cut (as many kept, all best)"))
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


def _mean_line(ax: plt.Axes, x: np.ndarray, curve: pd.DataFrame, color: str, label: str) -> int:
    """Mean tau over runs against ``x``, with a +- std band only when two or more runs give it; returns
    the number of runs."""
    n = int(curve["n"].max())
    mean = curve["mean"].to_numpy(dtype=float)
    ax.plot(x, mean, marker="o", ms=4, color=color, label=f"{label} ({_runs_text(n)})")
    if n >= 2:
        std = curve["std"].fillna(0).to_numpy(dtype=float)
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.18, lw=0)
    return n


def _band_note(counts: Sequence[int]) -> str:
    """What the bands around the mean lines show: std over seeds, or nothing where lines are single runs."""
    if counts and max(counts) == 1:
        return ONE_RUN
    return "mean ± std over seeds" + (f"; {ONE_RUN} where n=1" if 1 in counts else "")


def _no_runs(results: Results, labels: Sequence[str]) -> str:
    """What an empty Fig. 7 or 8 lacks and the sweep that fills it."""
    return (f"no finished runs of {', '.join(labels)}. To fill it: nasbench sweep "
            f"benchmark/configs/fig7_8.yaml --out {results.root}")


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
        _missing(axes[0, 0], _no_runs(results, labels))
    ends = results.stage_ends(OURS)
    counts: list[int] = []
    for ax, ds in zip(axes[0], datasets):
        for label in order_labels(labels):
            c = curves[(curves["dataset"] == ds) & (curves["label"] == label)]
            if c.empty:
                continue
            counts.append(_mean_line(ax, c["epoch"].to_numpy(), c, colors[label], label))
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
                 f"({_band_note(counts)}; dashed: noise ceiling; dotted: SE-NAS shrinks)", fontsize=11)
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
    counts: list[int] = []
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
            counts.append(_mean_line(ax, c["point"].map(x_of).to_numpy(), c, colors[label], label))
        archs = ceiling["n_ranked"].round().astype(int)
        ax.set_xticks(xs, [f"{p}\n{n} archs" for p, n in zip(names, archs)], fontsize=8)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(dataset_name(ds))
        ax.legend(loc="best", fontsize=7.5)
    axes[0, 0].set_ylabel("Kendall's Tau (same architectures)")
    fig.suptitle("Ranking correlation like-for-like: every method ranks the architectures SE-NAS ranked\n"
                 f"({_band_note(counts)}; dashed and grey: noise ceiling and its 95% range)", fontsize=11)
    fig.tight_layout()
    return _save(fig, out_dir, "fig7_like_for_like",
                 _caption("Fig. 7 like-for-like", results, results.paired_runs()))



# ------------------------------------------------------------------------------------------ Fig. 8
def _count_text(runs: pd.DataFrame, label: str) -> str:
    """``n=9, 1 undefined``: runs of ``label`` with a tau, and those whose tau is undefined (every ranked
    architecture got the same supernet accuracy, e.g. a shrunk space of functionally equal networks)."""
    taus = runs.loc[runs["label"] == label, "tau"].astype(float)
    undefined = int(taus.isna().sum())
    return _runs_text(len(taus) - undefined) + (f", {undefined} undefined" if undefined else "")


def fig8_tau_distribution(results: Results, out_dir: str | Path,
                          labels: Sequence[str] = PAPER_PAIR) -> list[Path]:
    """SE-NAS Fig. 8: distribution of the final Kendall's tau over repeated runs, per dataset and method."""
    _style()
    runs = results.runs()[lambda d: d["label"].isin(labels)].copy()
    fig, ax = plt.subplots(figsize=(9.0, 4.0))
    if runs.empty:
        _missing(ax, _no_runs(results, labels))
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
    """Fig. 8's drawing: tau per dataset (box and one dot per run; a dot only for a single run) dodged by
    label, each method's noise ceiling as a tick, and a legend giving each label's run count (plus
    ``extra(label)``) with a box or a dot as drawn."""
    frame["Dataset"] = frame["dataset"].map(dataset_name)
    hue_order = order_labels(frame["label"].unique())
    palette = label_colors(hue_order)
    step = DODGE / len(hue_order)
    cells = [(_dodged(i, j, len(hue_order)), label,
              frame.loc[(frame["Dataset"] == ds) & (frame["label"] == label), "tau"].to_numpy(dtype=float))
             for i, ds in enumerate(order) for j, label in enumerate(hue_order)]
    _boxes(ax, [taus for _, _, taus in cells], [x for x, _, _ in cells],
           [palette[lab] for _, lab, _ in cells], step * 0.75)
    ax.set_xticks(range(len(order)), order)
    ax.set_xlim(-0.5, len(order) - 0.5)
    boxed = {lab for _, lab, taus in cells if np.isfinite(taus).sum() >= 2}
    handles = [Patch(facecolor=palette[lab], alpha=0.5, edgecolor="0.25") if lab in boxed
               else Line2D([], [], ls="none", marker="o", color=palette[lab], markeredgecolor="0.2")
               for lab in hue_order]
    drawn = _ceiling_ticks(ax, frame, order, hue_order)
    ax.legend(handles + drawn, [f"{lab} ({_count_text(frame, lab)}{extra(lab)})" for lab in hue_order]
              + ["noise ceiling"] * len(drawn), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8.5)


def _ceiling_ticks(ax: plt.Axes, frame: pd.DataFrame, order: Sequence[str], hue_order: Sequence[str]) -> list:
    """A black tick at the mean noise ceiling of each (dataset, method) box of a dodged box plot; returns
    one legend handle when any was drawn."""
    if "ceiling_median" not in frame:
        return []
    step = DODGE / len(hue_order)
    drawn = []
    for i, ds in enumerate(order):
        for j, label in enumerate(hue_order):
            c = frame.loc[(frame["Dataset"] == ds) & (frame["label"] == label), "ceiling_median"].astype(float)
            if c.notna().any():
                x = _dodged(i, j, len(hue_order))
                drawn = [ax.hlines(c.mean(), x - step * 0.45, x + step * 0.45, color="black", lw=2)]
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
def _dodged(i: int, j: int, k: int) -> float:
    """x of the ``j``-th of ``k`` items dodged within category ``i`` (categories at 0, 1, ...)."""
    return i - DODGE / 2 + DODGE / k * (j + 0.5)


def _spread_note(counts: Sequence[int], spread: str) -> str:
    """What the whiskers of a bar chart over runs show: ``spread`` where groups have two or more runs,
    nothing where each has a single run."""
    if counts and max(counts) <= 1:
        return f"bars: the run's value; {ONE_RUN}"
    return f"bars: mean over runs, whiskers: {spread}" + (f"; n=1: {ONE_RUN}" if 1 in counts else "")


def tau_comparison(results: Results, out_dir: str | Path) -> list[Path]:
    """Final tau of every method label per dataset: mean with bootstrap 95% interval (two or more runs),
    runs as dots, the run count above each bar."""
    _style()
    runs = results.runs()
    runs = runs[runs["method"] != "standalone"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * runs["label"].nunique() + 2), 3.8))
    counts: list[int] = []
    if runs.empty:
        _missing(ax, f"no finished one-shot runs. To fill it: nasbench sweep CONFIG --out {results.root}")
    else:
        labels = order_labels(runs["label"])
        datasets = _datasets(results, labels)
        st = tau_statistics(runs).set_index(["label", "dataset"])
        palette = dict(zip(datasets, sns.color_palette("colorblind", len(datasets))))
        for j, ds in enumerate(datasets):
            for i, label in enumerate(labels):
                if (label, ds) not in st.index:
                    continue
                s = st.loc[(label, ds)]
                x, width = _dodged(i, j, len(datasets)), DODGE / len(datasets) * 0.9
                pts = runs[(runs["label"] == label) & (runs["dataset"] == ds)]["tau"].to_numpy(dtype=float)
                _bar_of_runs(ax, x, pts, width, palette[ds])
                counts.append(int(s["n"]))
                if s["n"] >= 2:
                    yerr = [[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]]
                    ax.errorbar(x, s["mean"], yerr=yerr, color="0.2", capsize=3, lw=1)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.margins(y=0.12)
        ax.set_xticks(range(len(labels)), labels, rotation=15)
        ax.set_ylabel("Kendall's Tau (final ranking)")
        ax.legend([Patch(color=palette[ds], alpha=0.6) for ds in datasets],
                  [dataset_name(d) for d in datasets], fontsize=8.5)
    ax.set_title(f"Final ranking correlation per method ({_spread_note(counts, 'bootstrap 95% CI')})")
    fig.tight_layout()
    return _save(fig, out_dir, "tau_comparison", _caption("Final tau per run", results, runs))


def _scatter_ties(ax: plt.Axes, part: pd.DataFrame, color: str) -> int:
    """Supernet against ground-truth accuracy, one dot per architecture; architectures that share their
    supernet accuracy with another (ties in the supernet's ranking) hollow. Returns how many are tied."""
    tied = part["supernet_acc"].duplicated(keep=False).to_numpy()
    ax.scatter(part["gt_acc"][~tied], part["supernet_acc"][~tied], s=14, alpha=0.8, color=color,
               edgecolor="none")
    ax.scatter(part["gt_acc"][tied], part["supernet_acc"][tied], s=18, alpha=0.9, facecolor="none",
               edgecolor=color, linewidth=0.9)
    return int(tied.sum())


def ranking_scatter(results: Results, out_dir: str | Path, dataset: str | None = None,
                    seed: int | None = None, most_columns: int = 4) -> list[Path]:
    """Supernet accuracy against ground-truth accuracy of the final ranking, one panel per method
    label (``most_columns`` per row), for one dataset and seed (default: the first dataset and the
    lowest seed present). Tied supernet accuracies are hollow dots, counted in each panel's title."""
    _style()
    rk = results.ranking
    if len(rk):
        dataset = dataset or _datasets(results, list(rk["label"].unique()))[0]
        rk = rk[rk["dataset"] == dataset]
        seed = int(rk["seed"].min()) if seed is None and len(rk) else seed
        rk = rk[rk["seed"] == seed]
    labels = order_labels(rk["label"]) if len(rk) else []
    ncols = min(max(len(labels), 1), most_columns)
    nrows = max(math.ceil(len(labels) / ncols), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.3 * nrows + 0.5), squeeze=False)
    if not labels:
        _missing(axes[0, 0], f"no final rankings. To fill it: nasbench sweep CONFIG --out {results.root}")
    colors = label_colors(labels)
    for ax, label in zip(axes.flat, labels):
        part = rk[rk["label"] == label]
        tied = _scatter_ties(ax, part, colors[label])
        groups = part.loc[part["supernet_acc"].duplicated(keep=False), "supernet_acc"].nunique()
        tau = kendall_tau(part["supernet_acc"], part["gt_acc"]) if len(part) >= 2 else float("nan")
        ties = f"\n{tied} tied at {groups} accurac{'ies' if groups != 1 else 'y'}" if tied else "\nno ties"
        ax.set_title(f"{label}: tau = {tau:.3f} (n={len(part)}){ties}", fontsize=9.5)
        ax.set_xlabel("Ground-truth accuracy (%)")
    for ax in axes.flat[len(labels):] if labels else ():
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("Supernet accuracy")
    fig.suptitle(f"Final ranking, {dataset_name(dataset or '')} seed {seed}")
    fig.tight_layout()
    runs = results.runs()
    runs = runs[(runs["dataset"] == dataset) & (runs["seed"] == seed) & runs["label"].isin(labels)]
    return _save(fig, out_dir, "ranking_scatter",
                 _caption("One run per method; hollow dots: architectures tied at the same supernet accuracy "
                          "(counted in each title; Kendall's tau-b counts them as ties)", results, runs))


def _retention_bars(ax: plt.Axes, ret: pd.DataFrame, labels: Sequence[str],
                    colors: dict[str, str]) -> list[int]:
    """Mean fraction of the top-k operators kept after each stage per label, std whiskers where two or
    more runs give one; returns each label's run count."""
    stages = sorted(ret["stage"].unique())
    counts = []
    for i, label in enumerate(labels):
        part = ret[ret["label"] == label].set_index("stage").reindex(stages)
        counts.append(int(part["n"].max()))
        x = np.array([_dodged(s, i, len(labels)) for s in range(len(stages))])
        mean = part["mean"].to_numpy(dtype=float)
        ax.bar(x, mean, DODGE / len(labels) * 0.9, color=colors[label], alpha=0.8)
        spread = part["std"].where(part["n"] >= 2).to_numpy(dtype=float)
        ok = np.isfinite(spread)
        if ok.any():
            ax.errorbar(x[ok], mean[ok], yerr=spread[ok], fmt="none", ecolor="0.2", capsize=3, lw=1)
    ax.set_xticks(range(len(stages)), [f"after stage {s}" for s in stages])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction kept")
    return counts


def criteria_retention(results: Results, out_dir: str | Path, dataset: str | None = None,
                       k: int = 10) -> list[Path]:
    """Scoring criteria compared (SE-NAS Sec. 4.4): fraction of the top-k ground-truth (edge, op) pairs
    alive after each stage (left) and the ground-truth accuracy of the architecture each variant found
    (right); spreads (whiskers, boxes) only where a criterion has two or more runs."""
    _style()
    dataset = dataset or _first_dataset(results, method="senas")
    ops = results.operators
    ret = topk_retention(ops[ops["dataset"] == dataset], k) if len(ops) else topk_retention(ops, k)
    senas = results.runs(dataset=dataset, method="senas")
    criterion_of = dict(zip(senas["label"], senas["criterion"].astype(str)))
    criterion_of.update(zip(ret["label"], ret["criterion"].astype(str)))
    labels = sorted(criterion_of, key=lambda lab: (_criterion_key(criterion_of[lab]), lab))
    runs = results.runs(dataset=dataset)[lambda d: d["label"].isin(labels)]
    colors = label_colors(labels)
    rows = math.ceil(len(labels) / 4)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4 + 0.25 * rows))
    counts: list[int] = []
    if ret.empty:
        _missing(left, f"no operator records on {dataset}. To fill it: nasbench sweep "
                       f"benchmark/configs/fig6.yaml --out {results.root}")
    else:
        counts = _retention_bars(left, ret, labels, colors)
    left.set_title(f"Top-{k} ground-truth operators still in the space\n({_spread_note(counts, 'std')})",
                   fontsize=10)
    metric = default_metric(dataset)
    if runs.empty:
        _missing(right, f"no SE-NAS runs on {dataset}. To fill it: nasbench sweep "
                        f"benchmark/configs/fig6.yaml --out {results.root}")
    else:
        values = [runs.loc[runs["label"] == lab, f"best_gt.{metric}"].to_numpy(dtype=float) for lab in labels]
        _boxes(right, values, range(len(labels)), [colors[lab] for lab in labels], 0.5)
        names = [f"{lab}\n({_runs_text(np.isfinite(v).sum())})" for lab, v in zip(labels, values)]
        right.set_xticks(range(len(labels)), names, rotation=30, ha="right", fontsize=8)
        right.set_xlim(-0.5, len(labels) - 0.5)
        right.set_ylabel("ground-truth accuracy (%)")
    right.set_title(f"Searched architecture, {metric}", fontsize=10)
    fig.suptitle(f"Scoring criteria compared, {dataset_name(dataset)}")
    if labels:
        fig.legend([Patch(color=colors[lab], alpha=0.8) for lab in labels], labels, loc="upper center",
                   bbox_to_anchor=(0.5, 0.94), ncol=min(len(labels), 4), fontsize=8.5)
    fig.tight_layout(rect=(0, 0, 1, 0.97 - 0.045 * rows))
    return _save(fig, out_dir, "criteria_retention",
                 _caption("SE-NAS runs per criterion (BS-NAS: its own shrinking rule)", results, runs))


# ------------------------------------------------------------------------------------ diagnostics
DIAGNOSTICS = {"tau": "tau vs\nground truth", "tau_within_conv": "tau within equal\nconv counts",
               "tau_supernet_params": "supernet accuracy\nvs params", "tau_gt_params": "ground truth\nvs params"}


def bias_diagnostics(results: Results, out_dir: str | Path) -> list[Path]:
    """The bias diagnostics of each method's final ranking (:mod:`benchmark.metrics.diagnostics`): mean
    over runs with one dot per run and the run count above each bar; the ground truth's own tau against
    parameters is the reference for the supernet's."""
    _style()
    runs = results.runs()
    runs = runs[runs["method"] != "standalone"]
    have = [c for c in DIAGNOSTICS if c in runs and runs[c].notna().any()]
    fig, ax = plt.subplots(figsize=(8.4, 3.9))
    if runs.empty or len(have) < 2:
        _missing(ax, "no run recorded bias diagnostics (runs of this toolkit version record them)")
    else:
        labels = order_labels(runs["label"])
        colors = label_colors(labels)
        for i, measure in enumerate(have):
            for j, label in enumerate(labels):
                values = runs.loc[runs["label"] == label, measure].to_numpy(dtype=float)
                _bar_of_runs(ax, _dodged(i, j, len(labels)), values, DODGE / len(labels) * 0.9, colors[label])
        counts = runs.groupby("label").size()
        ax.legend([Patch(color=colors[lab], alpha=0.6) for lab in labels],
                  [f"{lab} ({_runs_text(counts[lab])})" for lab in labels],
                  fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.set_xticks(range(len(have)), [DIAGNOSTICS[c] for c in have])
        ax.axhline(0, color="0.5", lw=0.8)
        ax.margins(y=0.12)
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
