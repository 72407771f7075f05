"""One method registry over every registered space: each method runs through ``nasbench run METHOD --space
SPACE`` on every space it applies to (tiny settings; NB201 ranked against its ground truth, DARTS on
CIFAR-10, the MobileNet spaces on a generated ImageNet folder), and is refused in one line, naming the
spaces it does run on, everywhere else. The dedicated commands (``nasbench imagenet ...``) are the same
runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.data.imagenet import write_fake_imagenet
from benchmark.methods.registry import METHODS, oneshot_methods
from benchmark.spaces import SPACES
from tests.conftest import nasbench

pytestmark = pytest.mark.usefixtures("one_thread")

# the spaces each method applies to, as the papers define them (SE-NAS Sec. 4, BS-NAS Sec. 4)
RUNS_ON = {"spos": {"nb201", "mobilenet"}, "spos_avg": {"nb201"}, "senas": {"nb201", "darts", "mobilenet"},
           "bsnas": {"nb201", "mobilenet-bsnas"}}
PAIRS = [(m, s) for m in METHODS.names() for s in SPACES.names()]
FAST = {  # a few seconds per run on 2 CPU cores
    "nb201": ["max_train=256", "max_val=64", "n_val=64", "rank_archs=8", "C=4"],
    "darts": ["layers=3", "C=2", "max_train=64", "max_val=32", "selection_samples=2", "merge_threshold=8",
              "weight_avg_k=1", "selection=sample"],
    "mobilenet": ["criterion_samples=1", "merge_threshold=36"],
    "mobilenet-bsnas": ["keep=18,9", "samples_per_op=1", "n_val=9", "batch_size=5", "score_images=9",
                        "budgets_m=1.25", "budget_tolerance=0.9", "population=6", "topk=2", "n_crossover=2",
                        "n_mutation=2"],
}


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root's ``imagenet/`` folder (ILSVRC-2012 layout, generated JPEGs)."""
    return write_fake_imagenet(tmp_path_factory.mktemp("data") / "imagenet", classes=3, train_per_class=8,
                               val_per_class=2)


def test_the_registry_knows_where_each_method_runs():
    assert set(METHODS.names()) == set(RUNS_ON)
    assert {m: set(METHODS.get(m).spaces()) for m in METHODS.names()} == RUNS_ON
    assert oneshot_methods() == ["bsnas", "senas", "spos", "spos_avg"]
    assert all(METHODS.get(m).driver("nb201").ranked for m in oneshot_methods())
    assert not METHODS.get("senas").driver("darts").ranked


def _args(method: str, space: str, out: Path, data_root: Path | None) -> list[object]:
    args = ["run", method, "--space", space, "--preset", "tiny", "--device", "cpu", "--quiet", "--json",
            "--out", out]
    if data_root is not None:
        args += ["--data-root", data_root]
    return args + [a for kv in FAST[space] for a in ("--set", kv)]


@pytest.mark.parametrize("method, space", PAIRS)
def test_every_method_runs_on_its_spaces_and_is_refused_elsewhere(method, space, monkeypatch, capsys, tmp_path,
                                                                   root, imagenet):
    out = tmp_path / "run"
    data = imagenet.parent if space.startswith("mobilenet") else root
    code, stdout, stderr = nasbench(monkeypatch, capsys, *_args(method, space, out, data))
    if space not in RUNS_ON[method]:
        assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
        assert f"{method} cannot search space {space!r}" in stderr
        assert "use --space " + " | ".join(sorted(RUNS_ON[method])) in stderr
        assert not out.exists() or not any(out.iterdir())
        return
    assert code == 0, stderr
    result = json.loads(stdout)
    assert json.loads((out / "result.json").read_text())["seed"] == result["seed"] == 0
    if space == "nb201":  # ranked against the ground truth
        assert result["method"] == method and -1 <= result["tau"] <= 1 and result["n_ranked"] >= 2
    elif space == "darts":  # a genotype of the final space
        assert result["genotype"].startswith("Genotype(") and (out / "genotype.txt").is_file()
    else:  # an architecture file per FLOPs budget
        files = [row["file"] for row in result["selections"] if "file" in row]
        assert files and all((out / f).is_file() for f in files)
        assert json.loads((out / files[0]).read_text())["space"] == space


def test_the_run_line_gives_tau_with_its_count_ci_and_noise_ceiling():
    from benchmark.methods.base import summary_line

    precision = {"ci_low": -0.05, "ci_high": 0.4, "ceiling_median": 0.65, "ceiling_low": 0.58, "ceiling_high": 0.71,
                 "val_images": 250, "undefined": None}
    result = {"method": "spos", "config": {"dataset": "cifar10"}, "seed": 3, "tau": 0.1834, "spearman": 0.25,
              "n_ranked": 60, "precision": precision, "best_arch": "A", "scale": "preset tiny"}
    assert summary_line(result) == (
        "spos on cifar10 (seed 3): Kendall's tau = +0.183 [95% CI -0.05, +0.40] over 60 archs; noise ceiling "
        "0.65 [0.58, 0.71] (250 val images); Spearman = 0.2500; best A [preset tiny]")
    undefined = {**result, "tau": float("nan"), "precision": {**precision, "undefined": "all ties"}}
    assert "tau undefined over 60 archs (all ties)" in summary_line(undefined)


@pytest.mark.parametrize("option, value", [("--flops", "250"), ("--fair", None), ("--gt", "x.csv.gz"),
                                           ("--dataset", "cifar100")])
def test_an_option_of_another_space_is_refused_in_one_line(option, value, monkeypatch, capsys, tmp_path):
    extra = [option] if value is None else [option, value]
    code, _, stderr = nasbench(monkeypatch, capsys, "run", "senas", "--space", "darts", "--preset", "tiny",
                               "--device", "cpu", "--out", tmp_path / "x", *extra)
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert ("does not apply to senas on space darts" in stderr) or ("unknown dataset 'cifar100' for senas on space darts" in stderr)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_the_dedicated_commands_are_the_same_runs(monkeypatch, capsys, tmp_path, root, imagenet):
    """``nasbench imagenet darts search`` is ``nasbench run senas --space darts``; ``nasbench imagenet
    mobilenet search --method bsnas`` is ``nasbench run bsnas --space mobilenet-bsnas``: same results."""
    def result(*args: object) -> dict:
        code, stdout, stderr = nasbench(monkeypatch, capsys, *args)
        assert code == 0, stderr
        return _comparable(json.loads(stdout))

    darts = [a for kv in FAST["darts"] for a in ("--set", kv)]
    via_run = result(*_args("senas", "darts", tmp_path / "a", root))
    dedicated = result("imagenet", "darts", "search", "--preset", "tiny", "--device", "cpu", "--quiet", "--json",
                       "--out", tmp_path / "b", "--data-root", root, *darts)
    assert via_run == dedicated

    spring = [a for kv in FAST["mobilenet-bsnas"] for a in ("--set", kv)]
    via_run = result(*_args("bsnas", "mobilenet-bsnas", tmp_path / "c", imagenet.parent))
    dedicated = result("imagenet", "mobilenet", "search", "--method", "bsnas", "--preset", "tiny", "--device", "cpu",
                       "--json", "--out", tmp_path / "d", "--data-root", imagenet, *spring)
    assert via_run == dedicated


def _comparable(value: object) -> object:
    """A result without what differs between two identical runs: timings, speeds, versions."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()
                if k not in {"timings", "timings_s", "train_log", "versions", "seconds"}}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value
