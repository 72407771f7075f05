"""Standalone training (NB201 protocol): an end-to-end run, exact resume, presets and the sweep method."""

from __future__ import annotations

import dataclasses
import json
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from analysis.results import load_results
from analysis.tables import table1
from benchmark.cli import app
from benchmark.errors import NasBenchError
from benchmark.groundtruth import default_groundtruth
from benchmark.harness.config import parse_config
from benchmark.harness.sweep import sweep
from benchmark.io import read_json
from benchmark.spaces.nb201 import EXAMPLE, all_arch_strings
from benchmark.standalone import STANDALONE_PRESETS, StandaloneConfig, StandaloneRun, get_standalone_preset
from tests.conftest import kill_at_epoch

TINY = {"C": 2, "N": 1, "max_train": 128, "max_val": 64, "max_test": 64, "batch_size": 32,
        "eval_batch_size": 64}
POOL = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config(epochs: int, seed: int = 0) -> StandaloneConfig:
    return StandaloneConfig(arch=EXAMPLE, dataset="cifar10", seed=seed, device="cpu",
                            preset=get_standalone_preset("tiny", {**TINY, "epochs": epochs}))


def test_paper_preset_is_the_nb201_protocol():
    p = STANDALONE_PRESETS["paper"]
    assert (p.epochs, p.batch_size, p.lr, p.lr_min, p.momentum, p.nesterov, p.weight_decay, p.C, p.N) == \
        (200, 256, 0.1, 0.0, 0.9, True, 5e-4, 16, 5)
    assert p.augment and p.max_train is None and p.max_val is None and p.max_test is None


@pytest.mark.parametrize("overrides, message", [
    ({"epoch": 3}, "unknown setting 'epoch'"),
    ({"epochs": "many"}, "setting epochs = 'many' is not a valid int"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"lr_min": 1.0}, "need 0 <= lr_min <= lr"),
])
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(NasBenchError, match=message):
        get_standalone_preset("tiny", overrides)


def test_cli_trains_one_architecture_end_to_end(tmp_path, root):
    sets = [f"--set={k}={v}" for k, v in {**TINY, "epochs": 1}.items()]
    res = CliRunner().invoke(app, ["train-standalone", POOL, "--seed", "1", "--out", str(tmp_path / "run"),
                                   "--device", "cpu", "--quiet", "--json", *sets])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert result == read_json(tmp_path / "run" / "result.json")
    assert result["arch"] == POOL and result["seed"] == 1 and result["epochs"] == 1
    assert result["config"]["preset"]["epochs"] == 1 and "reduced scale" in result["scale"]
    assert "128 training, 64 valid and 64 test images" in result["scale"]
    for key in ("val_acc", "test_acc"):  # a whole number of the 64 images, in percent
        hits = result[key] * 64 / 100
        assert 0 <= hits <= 64 and hits == pytest.approx(round(hits))
    assert len(result["train_log"]) == 1 and result["timings_s"]["total_s"] > 0
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, root):
    whole = StandaloneRun(config(epochs=2), tmp_path / "whole", progress=False, log=lambda s: None).run()
    kill_at_epoch(monkeypatch, StandaloneRun, 2)
    with pytest.raises(KeyboardInterrupt):
        StandaloneRun(config(epochs=2), tmp_path / "killed", progress=False, log=lambda s: None).run()
    assert not (tmp_path / "killed" / "result.json").exists()
    monkeypatch.undo()
    lines = []
    resumed = StandaloneRun(config(epochs=2), tmp_path / "killed", progress=False, log=lines.append).run()
    assert lines == [f"resuming {tmp_path / 'killed'} after epoch 1"]
    for key in ("val_acc", "test_acc", "train_log", "config", "epochs"):
        assert resumed[key] == whole[key]
    other = StandaloneRun(config(epochs=2, seed=1), tmp_path / "seed1", progress=False, log=lambda s: None)
    assert other.run()["train_log"] != whole["train_log"]


def test_checkpoint_of_another_configuration_is_refused(tmp_path, root):
    StandaloneRun(config(epochs=1), tmp_path / "run", progress=False, log=lambda s: None).run()
    (tmp_path / "run" / "result.json").unlink()
    with pytest.raises(NasBenchError, match="belongs to a different configuration"):
        StandaloneRun(config(epochs=2), tmp_path / "run", progress=False, log=lambda s: None).run()


def test_result_records_the_groundtruth_of_its_architecture(tmp_path, root):
    """As a method run does: the ground-truth source and metric, and the architecture's accuracy on it."""
    result = StandaloneRun(config(epochs=1), tmp_path / "run", progress=False, log=lambda s: None).run()
    gt = default_groundtruth(root)
    assert result == read_json(tmp_path / "run" / "result.json")
    assert result["groundtruth"] == {"source": gt.source, "metric": "cifar10-valid/x-valid"}
    assert result["gt_acc"] == gt.accuracy(EXAMPLE, "cifar10")
    assert result["data_split"] == "seeded"  # the shared data holds no NB201 split files
    missing = dataclasses.replace(config(epochs=1), groundtruth=str(tmp_path / "none.csv.gz"))
    with pytest.raises(NasBenchError, match="does not exist"):  # before any training
        StandaloneRun(missing, tmp_path / "missing", progress=False, log=lambda s: None).run()
    assert not (tmp_path / "missing").exists()


def test_sample_archs_is_seeded_and_distinct():
    raw = {"methods": ["standalone"], "standalone": {"sample_archs": {"n": 30, "seed": 0}}}
    a, b = parse_config(raw).archs, parse_config(raw).archs
    assert a == b and len(set(a)) == 30 and set(a) <= set(all_arch_strings())
    raw["standalone"]["sample_archs"]["seed"] = 1
    assert parse_config(raw).archs != a


def test_sweep_method_standalone_fills_the_index(tmp_path, root):
    raw = {"methods": ["standalone"], "seeds": [0, 1], "device": "cpu",
           "standalone": {"archs": [POOL, EXAMPLE], "set": {**TINY, "epochs": 1}}}
    specs = parse_config(raw).runs()
    assert len(specs) == 4 and {s.resolved["arch"] for s in specs} == {POOL, EXAMPLE}
    report = sweep(parse_config(raw), tmp_path / "results", console=Console(file=StringIO()))
    assert report.ran == 4 and not report.failed
    index = pd.read_parquet(tmp_path / "results" / "index.parquet")
    assert set(index["method"]) == {"standalone"} and set(index["status"]) == {"done"}
    for _, row in index.iterrows():
        result = read_json(Path(tmp_path / "results" / row["run_dir"] / "result.json"))
        assert (row["arch"], row["val_acc"], row["test_acc"], row["seed"]) == \
            (result["arch"], result["val_acc"], result["test_acc"], result["seed"])
        assert pd.isna(row["tau"]) and pd.isna(row["criterion"])
    solo = table1(load_results(tmp_path / "results")).loc["standalone accuracy"]  # no --gt: as recorded
    assert solo["CIFAR-10 n"] == 2 and solo["CIFAR-10"] in (-1.0, 0.0, 1.0)  # mean of two seeds of +-1
