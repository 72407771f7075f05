"""Bad input ends in one line, ``error: <problem> -- <fix>``, exit code 2 and nothing written: settings that
would poison a run (NaN, inf, out of range), a diverging run, damaged ground-truth tables, results and NATS
records, output paths that are files or read-only, a full disk, impossible seeds and devices, non-ASCII
indices, sweep names that leave the results folder, and a result.json a sweep cannot index."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import FAST, nasbench
from rich.console import Console
from test_analysis import write_results_dir

from benchmark.bsnas.presets import PRESETS as BSNAS_PRESETS
from benchmark.bsnas.presets import validate as validate_bsnas
from benchmark.darts.presets import RETRAIN_PRESETS, SEARCH_PRESETS
from benchmark.darts.presets import validate as validate_darts
from benchmark.divergence import check_finite_loss
from benchmark.errors import NasBenchError, disk_full, remember_output
from benchmark.harness.config import load_config, parse_config
from benchmark.imagenet.presets import PRESETS as MOBILENET_PRESETS
from benchmark.imagenet.presets import validate as validate_mobilenet
from benchmark.inputs import MAX_SEED, check_seed
from benchmark.presets import PRESETS
from benchmark.presets import validate as validate_nb201
from benchmark.settings import parse_overrides
from benchmark.standalone import STANDALONE_PRESETS

SETS = [a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]


def files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def one_error(code: int, err: str, *needles: str) -> str:
    """The single ``error:`` line of a refused command (exit 2), holding every needle."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and " -- " in lines[0], err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------- settings that poison silently
@pytest.mark.parametrize("setting, needles", [
    ("momentum=nan", ("momentum = nan is not a finite number", "[0, 1)")),
    ("lr=inf", ("lr = inf is not a finite number", "> 0")),
    ("weight_decay=nan", ("weight_decay = nan", ">= 0")),
    ("lr=-0.1", ("lr = -0.1 is out of range", "> 0")),
    ("lr_min=-inf", ("lr_min = -inf",)),
    ("momentum=1", ("momentum = 1 is out of range", "[0, 1)")),
    ("momentum=-0.5", ("momentum = -0.5 is out of range",)),
    ("weight_decay=-1e-4", ("weight_decay = -0.0001 is out of range", ">= 0")),
    ("grad_clip=-1", ("grad_clip = -1 is out of range", ">= 0")),
    ("grad_clip=nan", ("grad_clip = nan",)),
    ("lr=1e999", ("lr = inf",)),
])
def test_poisoning_set_values_are_refused_before_anything_runs(monkeypatch, capsys, tmp_path, root, setting,
                                                               needles):
    code, _, err = nasbench(monkeypatch, capsys, "run", "spos", "--set", setting, "--out", tmp_path / "run")
    one_error(code, err, *needles)
    assert files(tmp_path) == {}


def test_nesterov_needs_momentum(monkeypatch, capsys, tmp_path, root):
    code, _, err = nasbench(monkeypatch, capsys, "run", "spos", "--set", "momentum=0", "--out", tmp_path / "r")
    one_error(code, err, "nesterov=true needs a momentum above 0")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "-1"])
def test_poisoning_values_in_a_sweep_set_are_refused(tmp_path, value):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(f"methods: [spos]\nset: {{momentum: {value}}}\n")
    with pytest.raises(NasBenchError) as e:
        load_config(cfg)
    assert "set.momentum" in e.value.problem and "[0, 1)" in e.value.fix


EVERY_FAMILY = [(p, check) for presets, check in ((PRESETS, validate_nb201), (SEARCH_PRESETS, validate_darts),
                                                  (RETRAIN_PRESETS, validate_darts),
                                                  (MOBILENET_PRESETS, validate_mobilenet),
                                                  (BSNAS_PRESETS, validate_bsnas), (STANDALONE_PRESETS, None))
                for p in presets.values()]


@pytest.mark.parametrize("preset, validate", EVERY_FAMILY, ids=lambda p: getattr(p, "name", ""))
@pytest.mark.parametrize("key, value", [("lr", "nan"), ("momentum", "inf"), ("weight_decay", "-1"),
                                        ("momentum", "1.5")])
def test_every_preset_family_refuses_them_when_typed_and_in_validate(preset, validate, key, value):
    with pytest.raises(NasBenchError, match=key):
        parse_overrides(preset, {key: value})
    if validate is not None:  # a preset built in code, not through --set, is checked by validate()
        with pytest.raises(NasBenchError, match=key):
            validate(dataclasses.replace(preset, **{key: float(value)}))


def test_check_finite_loss_names_the_epoch_and_the_cause():
    check_finite_loss({"loss": 2.3, "train_acc": 10.0}, 1, 0.1)
    with pytest.raises(NasBenchError) as e:
        check_finite_loss({"loss": float("nan"), "train_acc": 10.0}, 3, 0.5)
    assert "epoch 3" in e.value.problem and "lr=0.5" in e.value.problem and "lower the learning rate" in e.value.fix
    with pytest.raises(NasBenchError, match="relaxation loss of epoch 2 is inf"):
        check_finite_loss({"loss": 1.0, "relaxation_loss": float("inf")}, 2)


@pytest.mark.slow
def test_a_diverging_run_stops_at_its_epoch(monkeypatch, capsys, tmp_path, root):
    out = tmp_path / "run"
    code, _, err = nasbench(monkeypatch, capsys, "run", "spos", *SETS, "--set", "lr=1e6", "--set", "grad_clip=0",
                            "--quiet", "--out", out)
    assert err.count("error:") == 1
    one_error(code, err.strip().splitlines()[-1], "epoch 1", "lr=1e+06")
    assert not (out / "result.json").exists()


# ------------------------------------------------------------------------------- ground-truth tables
@pytest.fixture(scope="module")
def table(root) -> pd.DataFrame:
    return pd.read_csv(root / "nb201" / "nb201_groundtruth.csv.gz")


@pytest.mark.parametrize("column, value, needle", [
    ("cifar10_valid", float("nan"), "has no value (NaN) in column cifar10_valid"),
    ("cifar100_test", 150.0, "outside [0, 100]"),
    ("imagenet16_valid", -3.0, "outside [0, 100]"),
    ("cifar10_valid_train", float("inf"), "outside [0, 100]"),
])
def test_a_damaged_groundtruth_table_is_refused_before_training(monkeypatch, capsys, tmp_path, table, column,
                                                                value, needle):
    bad = table.copy()
    bad.loc[7, column] = value
    if column == "cifar10_valid":
        bad.loc[8, [c for c in bad.columns if c.startswith(("cifar", "imagenet")) and "flops" not in c
                    and "params" not in c]] = float("nan")  # and a whole NaN row
    path = tmp_path / "gt.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "run"
    code, _, err = nasbench(monkeypatch, capsys, "run", "spos", *SETS, "--gt", path, "--quiet", "--out", out)
    one_error(code, err, needle, "index 7")
    assert not list(out.rglob("checkpoint*")) and not (out / "result.json").exists()


# ----------------------------------------------------------------------------- paths, devices, seeds
@pytest.fixture
def results_dir(tmp_path) -> Path:
    return write_results_dir(tmp_path / "results", seeds=(0,), datasets=("cifar10",), criteria=("senas",),
                             standalone=False)


@pytest.mark.parametrize("command", ["run", "compare", "figures"])
def test_out_naming_an_existing_file(monkeypatch, capsys, tmp_path, results_dir, command):
    target = tmp_path / "a_file"
    target.write_text("keep me")
    args = {"run": ["run", "spos"], "compare": ["compare", "--device", "cpu"],
            "figures": ["figures", results_dir]}[command]
    before = files(tmp_path)
    code, _, err = nasbench(monkeypatch, capsys, *args, "--out", target)
    one_error(code, err, f"--out {target} is a file")
    assert files(tmp_path) == before and target.read_text() == "keep me"


def test_gt_build_out_under_a_file(monkeypatch, capsys, tmp_path, root):
    (tmp_path / "f").write_text("")
    code, _, err = nasbench(monkeypatch, capsys, "gt", "build", "--from", root / "nats-fixture" /
                            "NATS-tss-v1_0-3ffb9-simple", "--out", tmp_path / "f" / "t.csv.gz")
    one_error(code, err, "which is a file")


@pytest.mark.parametrize("command", [["run", "spos"], ["train-standalone", "0"], ["compare"]])
def test_unknown_device(monkeypatch, capsys, tmp_path, command):
    code, _, err = nasbench(monkeypatch, capsys, *command, "--device", "tpu", "--out", tmp_path / "x")
    one_error(code, err, "'tpu'", "auto, cpu, cuda")
    assert files(tmp_path) == {}


def test_resolve_device_refuses_unknown_types_in_one_line():
    from benchmark.distributed import resolve_device

    with pytest.raises(NasBenchError, match="'tpu'"):
        resolve_device("tpu")


@pytest.mark.parametrize("seed", ["-1", str(2**63), str(2**64 + 5), "99999999999999999999"])
@pytest.mark.parametrize("command", [["run", "spos"], ["train-standalone", "0"]])
def test_seeds_outside_0_to_2_63(monkeypatch, capsys, tmp_path, command, seed):
    code, _, err = nasbench(monkeypatch, capsys, *command, "--seed", seed, "--out", tmp_path / "x")
    one_error(code, err, f"--seed {seed} is not a seed")
    assert files(tmp_path) == {}


def test_check_seed_bounds():
    assert check_seed(0) == 0 and check_seed(MAX_SEED) == MAX_SEED == 2**63 - 1
    for bad in (-1, 2**63, True, 1.0):
        with pytest.raises(NasBenchError):
            check_seed(bad)


def test_a_billion_seeds(monkeypatch, capsys, tmp_path):
    code, _, err = nasbench(monkeypatch, capsys, "compare", "--seeds", "1000000000", "--out", tmp_path / "c")
    one_error(code, err, "--seeds 1000000000 asks for 1000000000 seeds", "up to 10000")
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("methods: [spos]\nseeds: 1000000000\n")
    code, _, err = nasbench(monkeypatch, capsys, "sweep", cfg, "--dry-run")
    one_error(code, err, "seeds = 1000000000")
    cfg.write_text(f"methods: [spos]\nseeds: [0, {2**63}]\n")
    code, _, err = nasbench(monkeypatch, capsys, "sweep", cfg, "--dry-run")
    one_error(code, err, f"seeds[1] = {2**63} is not a seed")
    assert sorted(files(tmp_path)) == ["sweep.yaml"]


@pytest.mark.parametrize("arch", ["²", "٣", "1²", "-²", "9" * 5000])
def test_arch_arguments_that_only_look_like_numbers(monkeypatch, capsys, tmp_path, arch):
    code, _, err = nasbench(monkeypatch, capsys, "arch", "info", arch)
    one_error(code, err)
    code, _, err = nasbench(monkeypatch, capsys, "train-standalone", arch, "--out", tmp_path / "s")
    one_error(code, err)
    assert files(tmp_path) == {}


@pytest.mark.parametrize("name", ["../../x", "/tmp/absolute", "..", "a/b", "a\\b", ""])
def test_a_sweep_name_cannot_leave_the_results_folder(monkeypatch, capsys, tmp_path, name):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cfg = work / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({"name": name, "methods": ["spos"], "set": {k: v for k, v in FAST.items()}}))
    code, _, err = nasbench(monkeypatch, capsys, "sweep", cfg)
    one_error(code, err, "is not a folder name", "without slashes")
    assert files(tmp_path) == {"work": files(tmp_path)["work"], "work/sweep.yaml": files(tmp_path)["work/sweep.yaml"]}
    assert parse_config({"name": "tiny seeds-2.1", "methods": ["spos"]}).name == "tiny seeds-2.1"


def test_a_read_only_out_is_refused_before_training(monkeypatch, capsys, tmp_path, root):
    out = tmp_path / "ro"
    out.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (not mode & os.W_OK or Path(p) != out) and real(p, mode, **kw))
    code, _, err = nasbench(monkeypatch, capsys, "run", "spos", *SETS, "--quiet", "--out", out)
    one_error(code, err, f"cannot write to {out}")
    assert files(out) == {}
    code, _, err = nasbench(monkeypatch, capsys, "run", "spos", *SETS, "--quiet", "--out", out / "sub" / "dir")
    one_error(code, err, f"cannot write to {out}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused_for_real(monkeypatch, capsys, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, _, err = nasbench(monkeypatch, capsys, "run", "spos", "--out", out)
        one_error(code, err, "read-only")
    finally:
        out.chmod(0o755)


# ------------------------------------------------------------------------------------ damaged files
@pytest.mark.parametrize("content, needle", [("[1, 2]", "holds a JSON list"), ("{not json", "not valid JSON"),
                                             ('"text"', "holds a JSON str")])
def test_figures_over_a_result_that_is_not_an_object(monkeypatch, capsys, tmp_path, results_dir, content,
                                                     needle):
    result = next(results_dir.glob("runs/spos-*/result.json"))
    result.write_text(content)
    code, _, err = nasbench(monkeypatch, capsys, "figures", results_dir, "--out", tmp_path / "figs")
    one_error(code, err, needle)
    assert not (tmp_path / "figs").exists()


def test_figures_over_a_corrupt_parquet(monkeypatch, capsys, tmp_path, results_dir):
    table = next(results_dir.glob("runs/senas-*/ranking.parquet"))
    table.write_bytes(b"PAR1 garbage" + os.urandom(64))
    code, _, err = nasbench(monkeypatch, capsys, "figures", results_dir, "--out", tmp_path / "figs")
    one_error(code, err, "ranking.parquet is unreadable")
    assert not (tmp_path / "figs").exists()


@pytest.mark.parametrize("content, needle", [("garbage", "not a readable result"), ("[1,2]", "JSON list"),
                                             ('{"tau": 0.5}', "lacks method")])
def test_run_over_a_garbage_result_in_out(monkeypatch, capsys, tmp_path, content, needle):
    out = tmp_path / "run"
    out.mkdir()
    (out / "result.json").write_text(content)
    before = files(tmp_path)
    code, _, err = nasbench(monkeypatch, capsys, "run", "spos", "--out", out)
    one_error(code, err, needle, "delete")
    assert files(tmp_path) == before


def test_gt_build_on_a_truncated_nats_record(monkeypatch, capsys, tmp_path, root):
    source = root / "nats-fixture" / "NATS-tss-v1_0-3ffb9-simple"
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    record = folder / "000011.pickle.pbz2"
    record.chmod(0o644)
    record.write_bytes(record.read_bytes()[:1000])
    code, _, err = nasbench(monkeypatch, capsys, "gt", "build", "--from", folder, "--out", tmp_path / "t.csv.gz")
    one_error(code, err, "000011.pickle.pbz2 is unreadable", "EOFError")
    assert not (tmp_path / "t.csv.gz").exists()


# --------------------------------------------------------------------------------------- a full disk
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_figures(monkeypatch, capsys, tmp_path, results_dir):
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", _no_space)
    out = tmp_path / "figs"
    code, _, err = nasbench(monkeypatch, capsys, "figures", results_dir, "--out", out)
    one_error(code, err, f"no space left on device writing to {out}", "free some space")


@pytest.mark.slow
@pytest.mark.parametrize("error", ["oserror", "torch"])
def test_a_full_disk_while_writing_a_checkpoint(monkeypatch, capsys, tmp_path, root, error):
    import torch

    def torch_failure(*args, **kwargs):  # what torch.save says when the disk fills mid-write
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr(torch, "save", _no_space if error == "oserror" else torch_failure)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 0))
    out = tmp_path / "run"
    code, _, err = nasbench(monkeypatch, capsys, "run", "spos", *SETS, "--quiet", "--out", out)
    assert err.count("error:") == 1  # after the epoch's log line
    one_error(code, err.splitlines()[-1], f"no space left on device writing to {out}")


def test_disk_full_names_the_file_folder_and_ignores_other_errors(tmp_path, monkeypatch):
    remember_output(tmp_path / "out")
    full = disk_full(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "a" / "x.json")))
    assert full is not None and f"writing to {tmp_path / 'a'}" in full.problem
    assert disk_full(OSError(errno.EACCES, "Permission denied")) is None
    assert disk_full(RuntimeError("CUDA out of memory")) is None
    torch_msg = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    assert disk_full(torch_msg) is None  # plenty of space here: not a full disk
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 1024))
    assert f"writing to {tmp_path / 'out'}" in disk_full(torch_msg).problem
    remember_output(None)


# ------------------------------------------------------------------------ a result a sweep cannot index
@pytest.mark.slow
def test_a_result_missing_tau_is_quarantined_and_rerun(tmp_path, root):
    from benchmark.harness.sweep import sweep

    raw = {"methods": ["spos"], "seeds": [0], "presets": ["tiny"], "device": "cpu", "set": dict(FAST)}
    results = tmp_path / "results"
    sweep(parse_config(raw), results, console=Console(file=StringIO()))
    path = next(results.glob("runs/*/result.json"))
    result = json.loads(path.read_text())
    tau = result.pop("tau")
    path.write_text(json.dumps(result))
    log = StringIO()
    report = sweep(parse_config(raw), results, console=Console(file=log, width=300))
    assert len(report.quarantined) == 1 and report.ran == 1 and "result.json lacks tau" in log.getvalue()
    index = pd.read_parquet(results / "index.parquet")
    assert index["status"].tolist() == ["done"] and index["tau"].iloc[0] == pytest.approx(tau)
