"""The ``nasbench`` command line: JSON outputs, every registered space, and one-line errors (exit 2)."""

import json

import pytest

from benchmark.spaces import SPACES
from tests.conftest import nasbench


def test_arch_info_json_by_index_and_string(monkeypatch, capsys, root):
    code, out, _ = nasbench(monkeypatch, capsys, "arch", "info", "6111", "--json")
    info = json.loads(out)
    assert code == 0 and set(info) == {"index", "arch", "params_m", "flops_m", "gt"}
    assert info["gt"]["cifar10/ori-test"] == pytest.approx(94.3733, abs=1e-3)
    code, out, _ = nasbench(monkeypatch, capsys, "arch", "info", info["arch"], "--json", "--dataset", "cifar100")
    again = json.loads(out)
    assert again["index"] == 6111 and set(again["gt"]) == {"cifar100/x-valid", "cifar100/x-test"}


@pytest.mark.parametrize("space", SPACES.names())
def test_space_info_for_every_registered_space(monkeypatch, capsys, space):
    code, out, _ = nasbench(monkeypatch, capsys, "space", "info", space, "--json")
    info = json.loads(out)
    assert code == 0 and info["slots"] >= 1 and info["size"] > 1
    assert {"slots", "size", "flops_min_m", "flops_max_m"} <= set(info)
    if info["flops_min_m"] is not None:
        assert 0 < info["flops_min_m"] < info["flops_max_m"]


def test_nb201_space_info(monkeypatch, capsys):
    info = json.loads(nasbench(monkeypatch, capsys, "space", "info", "nb201", "--json")[1])
    assert info["slots"] == 6 and info["size"] == 15625 and info["ops_per_slot"] == [5] * 6


@pytest.mark.parametrize("args,needle", [
    (["arch", "info", "|nor_conv_3x3~0|+|none~0|"], "malformed NB201 architecture string"),
    (["arch", "info", "15625"], "out of range"),
    (["arch", "info", "0", "--dataset", "svhn"], "unknown dataset"),
    (["space", "info", "nb999"], "unknown search space"),
    (["run", "spos", "--preset", "huge", "--out", "OUT"], "unknown preset"),
    (["run", "spos", "--dataset", "mnist", "--out", "OUT"], "unknown dataset"),
    (["run", "spos", "--set", "epochz=3", "--out", "OUT"], "unknown setting 'epochz'"),
    (["run", "spos", "--set", "lr", "--out", "OUT"], "is not KEY=VALUE"),
    (["run", "spos", "--set", "bn_eval=tracked", "--out", "OUT"], "needs running statistics"),
    (["run", "senas", "--criterion", "oracle", "--out", "OUT"], "unknown criterion"),
    (["run", "spos", "--data-root", "/nonexistent/data", "--out", "OUT"], "does not exist"),
    (["run", "bogus", "--out", "OUT"], "unknown method"),
])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, root, args, needle):
    args = [str(tmp_path / "run") if a == "OUT" else a for a in args]
    code, _, err = nasbench(monkeypatch, capsys, *args)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,needle", [
    (["run", "spos", "--set", "bn_track=no", "--set", "bn_eval=tracked"], "needs running statistics"),
    (["run", "spos", "--set", "bn_track=yes", "--set", "bn_eval=tracked", "--set", "C=0"],
     "C must be at least 1"),
    (["run", "spos", "--set", "max_train=null", "--set", "C=0"], "C must be at least 1"),
    (["run", "spos", "--set", "bn_track=maybe"], "setting bn_track = 'maybe' is not a valid bool"),
    (["train-standalone", "0", "--set", "epoch=1"], "unknown setting 'epoch'"),
    (["train-standalone", "0", "--set", "nesterov=no", "--set", "epochs=0"], "epochs must be at least 1"),
])
def test_set_parses_as_a_sweep_set_does(monkeypatch, capsys, tmp_path, args, needle):
    """``--set`` shares the sweep config's parser: yes/no and null are accepted (the run then stops at the
    next check), a bad value names the key and its type."""
    code, _, err = nasbench(monkeypatch, capsys, *args, "--out", str(tmp_path / "run"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_compare_prints_tau_for_both_methods_and_writes_figures_and_readme(monkeypatch, capsys, tmp_path, root):
    from tests.conftest import FAST

    sets = [arg for k, v in FAST.items() for arg in ("--set", f"{k}={v}")]
    code, out, _ = nasbench(monkeypatch, capsys, "compare", "--out", str(tmp_path), "--device", "cpu", *sets)
    assert code == 0
    like, paper = out.index("LIKE-FOR-LIKE"), out.index("PAPER'S COMPARISON")
    assert like < paper  # the like-for-like numbers lead, the paper's reading follows, labelled
    block = out[like:paper]
    for label in ("SE-NAS", "SPOS", "SPOS + Eq. 4"):
        assert f"{label} " in block
    assert block.count("over 8 archs") >= 3 and "noise ceiling" in block and "minus SE-NAS" in block
    assert "SE-NAS       seed 0: tau" in out[paper:] and "SPOS         seed 0: tau" in out[paper:]
    assert "not comparable with the paper" in out
    for name in ("fig7_tau_curve.png", "fig7_like_for_like.png", "fig8_like_for_like.png",
                 "tau_comparison.png", "ranking_scatter.png", "table1.md", "like_for_like.md"):
        assert (tmp_path / "figures" / name).stat().st_size > 0
        assert f"]({name})" in (tmp_path / "figures" / "README.md").read_text()


def test_version_prints_the_toolkit_and_torch_versions(monkeypatch, capsys):
    import torch

    import benchmark

    code, out, _ = nasbench(monkeypatch, capsys, "--version")
    assert code == 0 and out.strip() == f"nasbench {benchmark.__version__} (torch {torch.__version__})"
