"""Figures that never mislead, and the overview page of a figures folder.

A single run is never drawn as a distribution (box, band, whiskers): the figure says "1 run: no
distribution"; legends show what is drawn; an empty panel names the command that fills it; Fig. 6 counts
runs in integer ticks; tied supernet accuracies are marked; tau bars carry their run count. ``nasbench
figures`` (and ``nasbench compare``) write README.md, which embeds every figure with its caption, the
tables, the scale and seeds, and the command that regenerates it all. Every figure is drawn with
deprecation warnings as errors, so a deprecated matplotlib or seaborn call fails here.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.text import Text
from test_analysis import write_results_dir

from analysis import figures
from analysis.overview import figure_text
from analysis.results import Results, load_results
from tests.conftest import nasbench

pytestmark = [pytest.mark.filterwarnings("error::DeprecationWarning"),
              pytest.mark.filterwarnings("error::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("error::FutureWarning")]
ONE_RUN = "1 run: no distribution"
# the figures that draw a spread over runs (box, band, whiskers) where there are two or more
SPREAD = ("fig1_ranking_distribution", "fig7_tau_curve", "fig8_tau_distribution", "tau_comparison",
          "criteria_retention", "bias_diagnostics")


@pytest.fixture
def drawn(monkeypatch) -> dict[str, Figure]:
    """Every figure :mod:`analysis.figures` saves during the test, by name (kept after it is closed)."""
    kept: dict[str, Figure] = {}
    save = figures._save

    def keep(fig: Figure, out_dir, name: str, caption: str) -> list[Path]:
        kept[name] = fig
        return save(fig, out_dir, name, caption)

    monkeypatch.setattr(figures, "_save", keep)
    return kept


def texts(fig: Figure) -> list[str]:
    """Every text of a figure: titles, labels, legends, annotations, the caption."""
    return [t.get_text() for t in fig.findobj(Text)]


def with_diagnostics(results: Results) -> Results:
    """The bias diagnostics a run of this toolkit records, planted on every run."""
    index = results.index.assign(tau_supernet_params=0.3, tau_gt_params=0.5, tau_within_conv=-0.2)
    return dataclasses.replace(results, index=index)


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Results:
    """One run per method, criterion and source (SPOS, SE-NAS, 8 standalone architectures), seed 0."""
    root = write_results_dir(tmp_path_factory.mktemp("one"), seeds=(0,), datasets=("cifar10",),
                             criteria=("senas",))
    return with_diagnostics(load_results(root))


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> Results:
    return with_diagnostics(load_results(write_results_dir(tmp_path_factory.mktemp("three"))))


def _legend_handles(fig: Figure) -> list:
    return [h for legend in fig.legends for h in legend.legend_handles]


def test_a_single_run_is_never_drawn_as_a_distribution(one_run, drawn, tmp_path):
    figures.make_all_figures(one_run, tmp_path)
    for name in SPREAD:
        assert any(ONE_RUN in t for t in texts(drawn[name])), name
    fig1 = _legend_handles(drawn["fig1_ranking_distribution"])
    assert fig1 and not any(isinstance(h, Patch) for h in fig1)  # ticks drawn, ticks in the legend
    assert {h.get_marker() for h in fig1 if isinstance(h, Line2D) and h.get_linestyle() == "None"} == {"_"}
    assert not any(isinstance(p, PathPatch) for p in drawn["fig8_tau_distribution"].axes[0].patches)
    assert not any(isinstance(c, ErrorbarContainer) for c in drawn["tau_comparison"].axes[0].containers)
    assert "whiskers" not in drawn["tau_comparison"].axes[0].get_title()
    assert not drawn["fig7_tau_curve"].axes[0].collections  # no std band around a single run


def test_two_or_more_runs_are_drawn_as_distributions(three_runs, drawn, tmp_path):
    figures.make_all_figures(three_runs, tmp_path)
    for name in SPREAD:
        assert not any(ONE_RUN in t for t in texts(drawn[name])), name
    fig1 = _legend_handles(drawn["fig1_ranking_distribution"])
    assert sum(isinstance(h, Patch) for h in fig1) == 2  # supernet and standalone boxes
    assert any(isinstance(p, PathPatch) for p in drawn["fig8_tau_distribution"].axes[0].patches)
    assert any(isinstance(c, ErrorbarContainer) for c in drawn["tau_comparison"].axes[0].containers)
    done = len(three_runs.done)  # no like-for-like pairs here: the caption does not claim there are no runs
    caption = f"Source: none of the {done} finished runs."
    assert any(t.endswith(caption) for t in texts(drawn["fig8_like_for_like"]))


def test_an_empty_fig1_panel_names_the_command_that_fills_it(three_runs, drawn, tmp_path):
    figures.fig1_ranking_distribution(three_runs, tmp_path, dataset="cifar100")  # no standalone runs there
    missing = [t for t in texts(drawn["fig1_ranking_distribution"]) if t.startswith("missing:")]
    assert len(missing) == 1 and "no standalone runs for cifar100" in missing[0]
    assert "nasbench figures" in missing[0] and "--gt" in missing[0] and "fig1.yaml" in missing[0]
    labels = [h.get_label() for h in _legend_handles(drawn["fig1_ranking_distribution"])]
    assert not any("standalone" in label for label in labels)  # the legend lists only what is drawn


@pytest.mark.parametrize("seeds", [(0,), (0, 1), (0, 1, 2)])
def test_fig6_counts_runs_in_integer_ticks(tmp_path, drawn, seeds):
    results = load_results(write_results_dir(tmp_path / "r", seeds=seeds, datasets=("cifar10",),
                                             standalone=False))
    ops = results.operators
    one_stage = ops[~((ops["label"] == "SE-NAS [random]") & (ops["stage"] == 2))]  # a panel missing in a row
    figures.fig6_operator_distribution(dataclasses.replace(results, operators=one_stage), tmp_path)
    panels = [ax for ax in drawn["fig6_operator_distribution"].axes if ax.patches]
    assert len(panels) == 3
    for ax in panels:
        top = ax.get_ylim()[1]
        ticks = [t for t in ax.get_yticks() if 0 <= t <= top]
        assert top == len(seeds) and ticks == list(range(len(seeds) + 1)), (ax.get_title(), ticks)


def test_count_ticks_stay_few_and_integer():
    assert figures._count_ticks(1) == [0, 1]
    assert figures._count_ticks(5) == [0, 1, 2, 3, 4, 5]
    assert figures._count_ticks(10) == [0, 2, 4, 6, 8, 10]
    assert all(len(figures._count_ticks(n)) <= 6 for n in range(1, 100))


def test_tied_supernet_accuracies_are_marked_and_counted(three_runs, drawn, tmp_path):
    ranking = three_runs.ranking.assign(supernet_acc=(three_runs.ranking["supernet_acc"] / 3).round() * 3)
    figures.ranking_scatter(dataclasses.replace(three_runs, ranking=ranking), tmp_path)
    fig = drawn["ranking_scatter"]
    seed0 = ranking[(ranking["seed"] == 0) & (ranking["dataset"] == "cifar10")]
    for ax in (ax for ax in fig.axes if ax.get_visible()):
        label = ax.get_title().split(":")[0]
        acc = seed0.loc[seed0["label"] == label, "supernet_acc"]
        tied = acc[acc.duplicated(keep=False)]
        assert 0 < len(tied) < len(acc)
        assert f"{len(tied)} tied at {tied.nunique()} accuracies" in ax.get_title()
        hollow = [c for c in ax.collections if np.all(c.get_facecolor()[:, 3] == 0)]
        assert sum(len(c.get_offsets()) for c in hollow) == len(tied)
    assert any("hollow dots: architectures tied" in t for t in texts(fig))
    figures.ranking_scatter(three_runs, tmp_path)  # continuous planted accuracies: no ties
    assert all("no ties" in ax.get_title() for ax in drawn["ranking_scatter"].axes if ax.get_visible())


def test_tau_bars_show_their_run_count(three_runs, drawn, tmp_path):
    figures.tau_comparison(three_runs, tmp_path)
    figures.bias_diagnostics(three_runs, tmp_path)
    counts = [t for t in texts(drawn["tau_comparison"]) if t.startswith("n=")]
    assert counts == ["n=3"] * 6  # 3 methods x 2 datasets, 3 seeds each
    counts = [t for t in texts(drawn["bias_diagnostics"]) if t.startswith("n=")]
    assert counts == ["n=6"] * 12  # 4 measures x 3 methods, 3 seeds x 2 datasets each


# ---------------------------------------------------------------------------------------- overview
def _links(readme: str) -> list[str]:
    return re.findall(r"\]\(([^)]+)\)", readme)


def _command(readme: str) -> list[str]:
    block = re.search(r"```bash\n(.+?)\n```", readme, re.DOTALL)
    assert block, "no command in README.md"
    return shlex.split(block.group(1))


def test_figures_readme_shows_every_file_and_the_command_that_regenerates_it(monkeypatch, capsys, tmp_path):
    root = write_results_dir(tmp_path / "results", seeds=(0, 1), datasets=("cifar10",))
    out = tmp_path / "figs"
    code, stdout, err = nasbench(monkeypatch, capsys, "figures", root, "--out", out)
    assert code == 0, err
    written = [Path(line.removeprefix("wrote ")) for line in stdout.splitlines()]
    readme = (out / "README.md").read_text()
    assert out / "README.md" in written
    links = _links(readme)
    for path in written[:-1]:
        assert path.name in links, path.name
        if path.suffix == ".png":
            title, caption = figure_text(path)
            assert f"![{path.stem}]({path.name})" in readme and f"### {title}" in readme
            assert "Source: " in caption and caption in readme
        if path.suffix == ".md":
            assert path.read_text().strip() in readme  # tables inline
    assert all((out / link).is_file() for link in links)  # relative links that resolve
    assert "| SE-NAS | CIFAR-10 | tiny | 2 | seeds 0, 1 |" in readme
    assert _command(readme) == ["nasbench", "figures", str(root), "--out", str(out)]
    before = {p.name: p.read_bytes() for p in written}
    code, _, err = nasbench(monkeypatch, capsys, *_command(readme)[1:])  # the README's command again
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in written} == before  # it regenerates the same files


def test_compare_writes_what_figures_writes(monkeypatch, capsys, tmp_path):
    """``nasbench compare`` analyses its results as ``nasbench figures`` does (training left out here)."""
    import analysis.report
    import benchmark.harness.sweep

    root = write_results_dir(tmp_path / "quick", seeds=(0, 1), datasets=("cifar10",), criteria=("senas",),
                             standalone=False)
    monkeypatch.setattr(benchmark.harness.sweep, "sweep", lambda config, out: SimpleNamespace(
        index=None, paired=None, failed=[]))
    monkeypatch.setattr(analysis.report, "compare_lines", lambda *args: [])
    code, stdout, err = nasbench(monkeypatch, capsys, "compare", "--out", root, "--device", "cpu")
    assert code == 0, err
    assert f"overview: {root / 'figures' / 'README.md'}" in stdout
    code, _, err = nasbench(monkeypatch, capsys, "figures", root, "--out", tmp_path / "figs")
    assert code == 0, err
    by_compare = sorted(p.name for p in (root / "figures").iterdir())
    assert by_compare == sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert {"table1.md", "table3.md", "like_for_like.md", "README.md"} <= set(by_compare)
    for table in ("table1.md", "table3.md", "like_for_like.md"):
        assert (root / "figures" / table).read_text() == (tmp_path / "figs" / table).read_text()
    command = _command((root / "figures" / "README.md").read_text())
    assert command[:4] == ["nasbench", "compare", "--out", str(root)] and "--device" in command
