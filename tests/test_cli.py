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
    assert info["methods"], "every registered space is searched by some method (nasbench run METHOD --space)"


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


# ------------------------------------------------------------------------------ the command line surface
def _commands():
    """Every command of the tree, with its path: (path, click command)."""
    import typer.main

    from benchmark.cli import app

    todo = [("nasbench", typer.main.get_command(app))]
    while todo:
        path, cmd = todo.pop()
        yield path, cmd
        todo += [(f"{path} {name}", sub) for name, sub in getattr(cmd, "commands", {}).items()]


def test_every_boolean_option_is_a_flag_and_its_help_shows_no_value():
    paths, flags = set(), 0
    for path, cmd in _commands():
        paths.add(path)
        for p in cmd.params:
            if p.param_type_name == "option" and isinstance(p.default, bool):
                assert p.is_flag, f"{path} {p.opts[0]} takes a value"
                flags += 1
    assert {"nasbench imagenet darts search", "nasbench imagenet mobilenet retrain", "nasbench perf-suite",
            "nasbench gt build", "nasbench data download"} <= paths
    assert flags >= 20


@pytest.mark.parametrize("command", ["run", "compare", "sweep", "perf-suite", "imagenet darts search",
                                     "imagenet mobilenet search", "arch info"])
def test_help_lists_flags_without_a_value_type(monkeypatch, capsys, command):
    code, out, _ = nasbench(monkeypatch, capsys, *command.split(), "--help")
    assert code == 0 and "Options:" in out and "<bool>" not in out


def test_every_option_says_what_it_does():
    bare = [f"{path} {p.opts[0]}" for path, cmd in _commands() for p in cmd.params
            if p.param_type_name == "option" and not p.help and p.name != "help"]
    assert not bare


def test_help_texts_cite_papers_and_documents_not_the_tracker():
    import re

    texts = [cmd.help or "" for _, cmd in _commands()]
    texts += [getattr(p, "help", None) or "" for _, cmd in _commands() for p in cmd.params]
    assert len(texts) > 100
    assert not [t for t in texts if re.search(r"\bissues?\b|#\d", t, re.I)]


def test_group_help_gives_each_command_its_whole_first_sentence(monkeypatch, capsys):
    code, out, _ = nasbench(monkeypatch, capsys, "--help")
    assert code == 0 and "(Figs. 1, 6, 7, 8" in " ".join(out.split())
    code, _, err = nasbench(monkeypatch, capsys, "imagenet")  # a group without a command: its help, exit 2
    assert code == 2 and "(SE-NAS Sec. 4.3)" in err and "darts" in err


@pytest.mark.parametrize("args, flag, fix", [
    (["space", "info", "nb201", "--json", "true"], "--json", "write --json alone"),
    (["run", "spos", "--out", "OUT", "--quiet", "yes"], "--quiet", "write --quiet alone"),
    (["run", "senas", "--out", "OUT", "--no-expand", "false"], "--no-expand", "write --expand or --no-expand"),
    (["sweep", "x.yaml", "--dry-run", "1"], "--dry-run", "write --dry-run alone"),
    (["imagenet", "darts", "search", "--out", "OUT", "--overwrite", "True"], "--overwrite", "alone"),
])
def test_a_flag_given_a_value_is_one_line_naming_the_flag(monkeypatch, capsys, tmp_path, args, flag, fix):
    args = [str(tmp_path / "run") if a == "OUT" else a for a in args]
    code, _, err = nasbench(monkeypatch, capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"error: {flag} is a flag and takes no value") and fix in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, seeds", [("1", (0,)), ("3", (0, 1, 2)), ("0,3,5", (0, 3, 5)), ("5,", (5,)),
                                         (" 2 , 4 ", (2, 4)), ("4,4,1", (4, 1))])
def test_seeds_are_a_count_or_a_list(text, seeds):
    from benchmark.cli_options import parse_seeds

    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, problem", [
    ("0", "--seeds 0 is a count of no seeds"), ("abc", "is neither a count nor a list"),
    ("-1", "is neither a count nor a list"), ("1,,2", "holds an empty item"), (",", "holds an empty item"),
    ("2,x", "holds 'x', which is not a seed"), ("3.5", "is neither a count nor a list"),
    ("10001", "asks for 10001 seeds"), (f"0,{2**63}", "which is not a seed"), ("٣", "neither a count"),
])
def test_a_malformed_seeds_value_is_one_line_naming_both_forms(monkeypatch, capsys, tmp_path, text, problem):
    code, _, err = nasbench(monkeypatch, capsys, "compare", "--seeds", text, "--out", tmp_path / "cmp")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and problem in lines[0], err
    assert "--seeds 3" in lines[0] or "--seeds 1" in lines[0] or "--seeds 0,3,5" in lines[0]
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("text, seeds", [("3", (0, 1, 2)), ("0,3,5", (0, 3, 5))])
def test_compare_runs_the_seeds_given(monkeypatch, capsys, tmp_path, text, seeds):
    from benchmark.errors import NasBenchError
    from benchmark.harness import sweep

    planned = []

    def planned_only(config, results, **kw):
        planned.append(config.seeds)
        raise NasBenchError("planned only")

    monkeypatch.setattr(sweep, "sweep", planned_only)
    code, _, err = nasbench(monkeypatch, capsys, "compare", "--seeds", text, "--out", tmp_path / "cmp")
    assert code == 2 and "planned only" in err and planned == [seeds]
    code, out, _ = nasbench(monkeypatch, capsys, "compare", "--help")
    assert "3 runs seeds 0,1,2" in " ".join(out.split()) and "0,3,5" in out
