"""The overview page of a figures folder: ``README.md`` beside the figures and tables that ``nasbench
figures`` and ``nasbench compare`` write, readable on any git host. It embeds every figure (relative
links) with the caption drawn under it, includes the tables (SE-NAS Tables 1 and 3, like-for-like)
inline, states the scale (preset) and seeds of the runs, and gives the command that regenerates it all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from PIL import Image

import benchmark
from analysis.figures import make_all_figures
from analysis.results import Results, dataset_name, order_labels, seed_text
from analysis.tables import TABLE_TITLES, save_tables
from benchmark.groundtruth import GroundTruth
from benchmark.io import atomic_path

README = "README.md"


def figure_text(png: Path) -> tuple[str, str]:
    """The title and caption a figure of :mod:`analysis.figures` carries in its PNG metadata."""
    with Image.open(png) as image:
        text = dict(image.text)
    return text.get("Title") or png.stem, text.get("Description", "")


def _link(path: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(path, out_dir)).as_posix()


def runs_table(results: Results) -> str:
    """Finished runs per method label and dataset, with their preset(s) and seeds, as markdown."""
    runs = results.runs()
    rows = []
    for label in order_labels(runs["label"]):
        for dataset, g in runs[runs["label"] == label].groupby("dataset", sort=True):
            presets = ", ".join(sorted(g["preset"].astype(str).unique()))
            seeds = seed_text(sorted(int(s) for s in g["seed"].unique()))
            rows.append(f"| {label} | {dataset_name(str(dataset))} | {presets} | {len(g)} | {seeds} |")
    header = ["| Method | Dataset | Preset | Runs | Seeds |", "|---|---|---|---|---|"]
    return "\n".join(header + rows) if rows else "No finished runs."


def _scale_section(results: Results) -> list[str]:
    lines = ["## Scale and seeds", "", f"{results.provenance()}.", "", runs_table(results)]
    scales = sorted(set(results.scales.values()))
    if scales:
        lines += ["", "Scale of the runs, as each run's `result.json` states it:", ""]
        lines += [f"- {s}" for s in scales]
    return lines


def _command_section(results: Results, out_dir: Path, command: str, how: str) -> list[str]:
    lines = ["## Regenerate", "", "```bash", command, "```", "", how,
             f"Made with nasbench {benchmark.__version__} and matplotlib {matplotlib.__version__}."]
    runs_readme = results.root / README
    if runs_readme.is_file():
        link = _link(runs_readme, out_dir)
        lines += ["", f"How the runs themselves were produced: [{link}]({link})."]
    return lines


def _figure_section(files: Sequence[Path], out_dir: Path) -> list[str]:
    lines = ["## Figures"]
    for png in (p for p in files if p.suffix == ".png"):
        title, caption = figure_text(png)
        lines += ["", f"### {title}", "", f"![{png.stem}]({_link(png, out_dir)})", "", caption]
        pdf = png.with_suffix(".pdf")
        if pdf in files:
            lines += ["", f"PDF: [{pdf.name}]({_link(pdf, out_dir)})"]
    return lines


def _table_section(files: Sequence[Path], out_dir: Path) -> list[str]:
    lines = ["## Tables"]
    for table in (p for p in files if p.suffix == ".md"):
        lines += ["", f"### {TABLE_TITLES.get(table.name, table.stem)}", "",
                  f"File: [{table.name}]({_link(table, out_dir)})", "", table.read_text().strip()]
    return lines


def overview_markdown(results: Results, out_dir: str | Path, files: Sequence[Path], command: str,
                      how: str) -> str:
    """The README of ``out_dir``: scale and seeds, the regenerating ``command`` (``how`` says what it
    does), then every figure among ``files`` with its caption and every markdown table inline."""
    out_dir = Path(out_dir)
    files = [Path(f) for f in files]
    sections = [[f"# Figures and tables of `{results.root}`"], _scale_section(results),
                _command_section(results, out_dir, command, how), _figure_section(files, out_dir),
                _table_section(files, out_dir)]
    return "\n\n".join("\n".join(s) for s in sections) + "\n"


def write_readme(results: Results, out_dir: str | Path, files: Sequence[Path], command: str,
                 how: str) -> Path:
    """Write :func:`overview_markdown` to ``out_dir/README.md`` (atomically); returns the path."""
    path = Path(out_dir) / README
    with atomic_path(path) as tmp:
        tmp.write_text(overview_markdown(results, out_dir, files, command, how))
    return path


def write_overview(results: Results, out_dir: str | Path, command: str, how: str,
                   groundtruth: GroundTruth | None = None, budget: Sequence[Results] = ()) -> list[Path]:
    """Every figure (:func:`analysis.figures.make_all_figures`), the tables
    (:func:`analysis.tables.save_tables`) and the README that shows them; returns the files written."""
    files = make_all_figures(results, out_dir, groundtruth=groundtruth, budget=budget)
    files += save_tables(results, out_dir, groundtruth)
    return [*files, write_readme(results, out_dir, files, command, how)]
