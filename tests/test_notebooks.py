"""Every notebook in notebooks/ executes (nbclient) and writes its figure or table file: once against a
synthetic results directory written here, once against the committed ``results/tiny`` when it exists.

Parameters are passed papermill-style: a cell tagged ``injected-parameters`` is inserted right after the
cell tagged ``parameters``. Notebooks run two at a time (each in its own kernel). Every output goes to a
temporary folder (``OUT_DIR``, and ``$NASBENCH_NOTEBOOK_OUT`` for the kernel), and a notebook run by hand
writes into a git-ignored folder, so neither leaves the checkout dirty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from nbclient import NotebookClient
from test_analysis import write_results_dir

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
COMMITTED = REPO / "results" / "tiny"
# notebook -> the file it must write into OUT_DIR (fig5 is the BS-NAS notebook, same conventions)
OUTPUTS = {
    "fig1": "fig1_ranking_distribution.png",
    "fig5": "fig5_accuracy_distribution.png",
    "fig6": "fig6_operator_distribution.png",
    "fig7": "fig7_tau_curve.png",
    "fig8": "fig8_tau_distribution.png",
    "table1": "table1.md",
    "table3": "table3.md",
    "criteria": "criteria_retention.png",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def inject_parameters(nb: nbformat.NotebookNode, **params: str) -> nbformat.NotebookNode:
    """Insert a cell assigning ``params`` after the ``parameters``-tagged cell (papermill's convention)."""
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(tagged[0] + 1, cell)
    return nb


def execute(name: str, results_dir: Path, out_dir: Path) -> Exception | None:
    """Run one notebook in its own kernel; return the error it raised, if any."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    inject_parameters(nb, RESULTS_DIR=str(results_dir), OUT_DIR=str(out_dir))
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}},
                       ).execute(env={**os.environ, "NASBENCH_NOTEBOOK_OUT": str(out_dir)})
    except Exception as e:  # noqa: BLE001 - reported by the test of that notebook
        return e
    return None


def execute_all(results_dir: Path, out_dir: Path) -> dict[str, Exception | None]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(execute, name, results_dir, out_dir) for name in OUTPUTS}
        return {name: f.result() for name, f in futures.items()}


def check_output(path: Path) -> None:
    assert path.is_file(), f"{path.name} was not written"
    data = path.read_bytes()
    if path.suffix == ".png":
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, f"{path.name} is not a non-empty PNG"
    else:
        assert b"| Method" in data or b"| Metrics" in data, f"{path.name} holds no table"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb")
    results_dir = write_results_dir(root / "results")
    return root / "out", execute_all(results_dir, root / "out")


def test_every_notebook_is_covered():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(OUTPUTS)
    for name in OUTPUTS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and 'RESULTS_DIR = "../results/tiny"' in params[0].source
        assert "OUT_DIR" in params[0].source


def test_notebooks_write_outside_the_committed_tree_by_default():
    """Run by hand with its defaults, a notebook writes into a git-ignored folder, never into results/."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for name in OUTPUTS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        scope: dict = {}
        with mock.patch.dict(os.environ):
            os.environ.pop("NASBENCH_NOTEBOOK_OUT", None)
            exec(params.source, scope)  # noqa: S102 - the notebook's own parameter cell
        out = (NOTEBOOKS / scope["OUT_DIR"]).resolve()
        probe = out.relative_to(REPO) / "fig.png"
        ignored = subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=REPO, check=False).returncode == 0
        assert ignored, f"{name}.ipynb writes to {out}, which git tracks"


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_notebook_on_synthetic_results(synthetic, name):
    out_dir, errors = synthetic
    assert errors[name] is None, f"{name}.ipynb failed: {errors[name]}"
    check_output(out_dir / OUTPUTS[name])


def test_notebooks_on_committed_tiny_results(tmp_path):
    if not (COMMITTED / "index.parquet").is_file():
        pytest.skip(f"{COMMITTED.relative_to(REPO)}/index.parquet not committed yet (run the tiny sweep)")
    errors = execute_all(COMMITTED, tmp_path)
    failed = {name: str(e)[:500] for name, e in errors.items() if e is not None}
    assert not failed
    for output in OUTPUTS.values():
        check_output(tmp_path / output)
