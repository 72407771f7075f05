"""The sweep harness: config validation, run ids, skip / resume / rerun, failures, the index, locks,
versions, executors, and faults (SIGKILL in the middle of a run and in the middle of writing a result).

Runs are real NB201 runs at a few seconds each (tiny preset shrunk further by ``FAST``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from rich.console import Console

from benchmark.errors import NasBenchError
from benchmark.harness.config import load_config, parse_config
from benchmark.harness.executors import _worker_outcome
from benchmark.harness.index import INDEX_COLUMNS, build_index
from benchmark.harness.runs import RunSpec
from benchmark.harness.sweep import ResultsLock, dry_run, sweep
from benchmark.identity import run_id
from benchmark.io import read_json

REPO = Path(__file__).resolve().parents[1]
FAST = {"max_train": 128, "max_val": 32, "batch_size": 32, "eval_batch_size": 32, "epochs_per_stage": 1,
        "tau_epochs": [1, 2], "rank_archs": 4, "criterion_samples": 1, "C": 2, "recal_batches": 1}
COMPARED = ["run_id", "status", "method", "criterion", "dataset", "seed", "tau", "spearman", "best_arch"]


def raw_config(**changes) -> dict:
    return {"methods": ["senas", "spos"], "seeds": [0], "presets": ["tiny"], "device": "cpu",
            "set": dict(FAST), **changes}


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def quiet() -> Console:
    return Console(file=StringIO(), width=200)


def run_sweep(raw: dict, results: Path, **kw):
    console = quiet()
    report = sweep(parse_config(raw), results, console=console, **kw)
    return report, console.file.getvalue()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, root) -> Path:
    """An uninterrupted sweep of SE-NAS and SPOS (seed 0)."""
    torch.set_num_threads(1)
    results = tmp_path_factory.mktemp("reference")
    report, _ = run_sweep(raw_config(), results)
    assert report.ran == 2 and not report.failed
    return results


def copy_of(reference: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "results"
    shutil.copytree(reference, dest)
    return dest


def assert_no_half_written_files(results: Path) -> None:
    assert not list(results.rglob("*.tmp"))
    for path in results.rglob("*.json"):
        json.loads(path.read_text())
    for path in results.rglob("*.parquet"):
        pd.read_parquet(path)


# ---------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("raw, path, allowed", [
    (raw_config(critera=["random"]), "'critera'", "methods"),
    (raw_config(set={"epochs_per_stag": 1}), "set.epochs_per_stag", "epochs_per_stage"),
    ({"methods": ["standalone"], "standalone": {"sample_archs": {"n": 3, "sed": 1}}},
     "standalone.sample_archs.sed", "n, seed"),
    ({"methods": ["standalone"], "standalone": {"archs": ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"],
                                                "set": {"epoch": 1}}}, "standalone.set.epoch", "epochs"),
])
def test_unknown_key_is_refused_with_its_path_and_the_allowed_keys(raw, path, allowed):
    with pytest.raises(NasBenchError) as e:
        parse_config(raw, "sweep.yaml")
    assert path in str(e.value) and allowed in e.value.fix and str(e.value).startswith("sweep.yaml: ")


@pytest.mark.parametrize("changes, problem, fix", [
    ({"methods": ["senas", "darts"]}, "methods[1] = 'darts'", "senas, spos, spos_avg, standalone"),
    ({"criteria": ["senas", "bogus"]}, "criteria[1] = 'bogus'", "random"),
    ({"datasets": ["mnist"]}, "datasets[0] = 'mnist'", "cifar100"),
    ({"presets": ["huge"]}, "presets[0] = 'huge'", "tiny"),
    ({"seeds": [0, -1]}, "seeds[1]", "integers >= 0"),
    ({"expand": ["maybe"]}, "expand[0]", "true, false"),
    ({"device": "gpu"}, "device = 'gpu'", "cuda"),
    ({"set": {**FAST, "C": "four"}}, "set.C = 'four'", "int"),
    ({"set": {**FAST, "rank_archs": 2.5}}, "set.rank_archs", "int"),
    ({"set": {**FAST, "tau_epochs": [1, 9]}}, "tau_epochs [9] lie outside 1..2", "within the run"),
    ({"methods": ["spos"], "criteria": ["random"]}, "criteria applies to senas runs only", "add senas"),
])
def test_bad_value_is_refused_with_the_allowed_values(changes, problem, fix):
    with pytest.raises(NasBenchError) as e:
        parse_config(raw_config(**changes), "sweep.yaml").runs()
    assert problem in e.value.problem and fix in e.value.fix


def test_method_settings_are_checked_when_the_config_is_expanded(tmp_path):
    cfg = parse_config(raw_config(set={**FAST, "remove_per_stage": 20}), "sweep.yaml")
    with pytest.raises(NasBenchError, match="exceeds the 24 that can be removed"):
        sweep(cfg, tmp_path / "results", console=quiet())
    assert not (tmp_path / "results").exists()


def test_yaml_and_toml_give_the_same_runs(tmp_path):
    (tmp_path / "s.toml").write_text(textwrap.dedent("""
        methods = ["senas", "spos"]
        criteria = ["senas", "random"]
        seeds = 2
        device = "cpu"
        [set]
        C = 2
        tau_epochs = [2, 4]
    """))
    raw = raw_config(criteria=["senas", "random"], seeds=[0, 1], set={"C": 2, "tau_epochs": [2, 4]})
    toml_runs = [s.run_id for s in load_config(tmp_path / "s.toml").runs()]
    yaml_runs = [s.run_id for s in load_config(write_config(tmp_path / "s.yaml", raw)).runs()]
    assert toml_runs == yaml_runs and len(toml_runs) == 2 * (2 + 1)  # seeds x (senas criteria + spos)


def test_normalizations_are_swept_only_for_the_criteria_that_normalise():
    runs = parse_config(raw_config(methods=["senas"], criteria=["senas", "accuracy"],
                                   normalizations=["mean", "range"])).runs()
    variants = [(s.resolved["criterion"], s.resolved["normalization"]) for s in runs]
    assert variants == [("senas", "mean"), ("senas", "range"), ("accuracy", "mean")]


def test_set_values_typed_or_as_text_give_the_same_runs():
    """The sweep's ``set`` and ``--set`` share one parser: a YAML int for a float field is that float, and
    text (yes/no, null, comma-separated lists) resolves to the same presets and run ids as typed values."""
    text = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in FAST.items()}
    typed = parse_config(raw_config(set={**FAST, "lr": 1, "nesterov": False, "weight_avg_k": None}))
    texts = parse_config(raw_config(set={**text, "lr": "1.0", "nesterov": "no", "weight_avg_k": "null"}))
    assert typed.oneshot_presets == texts.oneshot_presets
    assert isinstance(typed.oneshot_presets["tiny"].lr, float)
    assert [s.run_id for s in typed.runs()] == [s.run_id for s in texts.runs()]


def test_unparsable_config_is_one_line_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("methods: [senas\n")
    with pytest.raises(NasBenchError, match="does not parse"):
        load_config(tmp_path / "bad.yaml")


# ---------------------------------------------------------------------------------------------- run ids
def test_run_id_is_the_hash_of_the_canonical_resolved_config():
    resolved = {"seed": 0, "method": "spos", "preset": {"name": "tiny", "C": 8}}
    canonical = b'{"method":"spos","preset":{"C":8,"name":"tiny"},"seed":0}'
    assert run_id(resolved) == hashlib.sha256(canonical).hexdigest()[:12]
    assert run_id(dict(reversed(list(resolved.items())))) == run_id(resolved)


def test_run_ids_are_stable_and_keyed_by_what_changes_a_result():
    a = parse_config(raw_config(criteria=["senas", "random"], seeds=[0, 1])).runs()
    b = parse_config(raw_config(criteria=["random", "senas"], seeds=[1, 0])).runs()
    assert sorted(s.run_id for s in a) == sorted(s.run_id for s in b)
    assert len({s.run_id for s in a}) == len(a) == 6
    spos = [s for s in a if s.resolved["method"] == "spos"]
    assert len(spos) == 2 and all("criterion" not in s.resolved for s in spos)  # criteria: senas only
    moved = parse_config(raw_config(data_root="/elsewhere", device="cuda")).runs()  # not part of the id
    assert {s.run_id for s in moved} <= {s.run_id for s in a}
    changed = parse_config(raw_config(set={**FAST, "lr": 0.2})).runs()
    assert not {s.run_id for s in changed} & {s.run_id for s in a}


# ---------------------------------------------------------------------------------------------- sweep
def test_index_is_rebuilt_from_the_run_directories(reference):
    index = pd.read_parquet(reference / "index.parquet")
    assert list(index.columns) == list(INDEX_COLUMNS)
    assert set(index["status"]) == {"done"} and len(index) == 2
    for _, row in index.iterrows():
        run_dir = reference / row["run_dir"]
        result = read_json(run_dir / "result.json")
        assert run_id(read_json(run_dir / "config.json")) == row["run_id"] == run_dir.name
        assert (row["tau"], row["best_arch"], row["n_ranked"]) == (result["tau"], result["best_arch"],
                                                                   result["n_ranked"])
        assert row["best_gt.cifar10/ori-test"] == result["best_gt"]["cifar10/ori-test"]
        assert row["total_s"] == result["timings_s"]["total_s"]
        assert (row["method"], row["seed"], row["preset"]) == (result["method"], 0, "tiny")
    spos = index[index["method"] == "spos"].iloc[0]
    assert pd.isna(spos["criterion"]) and pd.isna(spos["normalization"]) and pd.isna(spos["expand"])
    senas = index[index["method"] == "senas"].iloc[0]
    assert senas["criterion"] == "senas" and bool(senas["expand"])
    pd.testing.assert_frame_equal(build_index(reference), index)


def test_finished_runs_are_skipped(reference, tmp_path):
    results = copy_of(reference, tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in results.rglob("result.json")}
    report, log = run_sweep(raw_config(), results)
    assert (report.ran, report.skipped) == (0, 2) and "0 to run" in log
    assert stamps == {p: p.stat().st_mtime_ns for p in results.rglob("result.json")}
    out = StringIO()
    dry_run(parse_config(raw_config(seeds=[0, 1])), results, Console(file=out, width=200))
    assert "4 runs planned" in out.getvalue() and "2 finished, 2 to run" in out.getvalue()


def test_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch, root):
    from benchmark.methods.spos import SPOS

    def planted(self, stage):
        if self.cfg.seed == 1:
            raise RuntimeError("planted failure")

    monkeypatch.setattr(SPOS, "end_of_stage", planted)
    raw = raw_config(methods=["spos"], seeds=[1, 2])
    failing, passing = (s.run_id for s in parse_config(raw).runs())
    results = tmp_path / "results"
    report, log = run_sweep(raw, results)
    assert report.failed == [failing] and report.ran == 2
    error = read_json(results / "runs" / failing / "error.json")
    assert error["type"] == "RuntimeError" and error["message"] == "planted failure"
    assert "planted" in error["traceback"] and "Traceback" in error["traceback"]
    index = pd.read_parquet(results / "index.parquet").set_index("run_id")
    assert index.loc[failing, "status"] == "failed"
    assert index.loc[failing, "error"] == "RuntimeError: planted failure"
    assert index.loc[passing, "status"] == "done" and not pd.isna(index.loc[passing, "tau"])
    assert f"failed {failing}" in log
    assert re.search(r"^\[sweep\] runs 2/2  0 running, 1 failed  100%  elapsed \S+  ETA 0s$", log, re.M), log
    monkeypatch.undo()
    report, log = run_sweep(raw, results)  # the next sweep retries it
    assert report.ran == 1 and not report.failed and "retrying failed run" in log
    assert not (results / "runs" / failing / "error.json").exists()
    assert set(pd.read_parquet(results / "index.parquet")["status"]) == {"done"}


def test_corrupt_run_directory_is_reported_and_rerun(reference, tmp_path):
    results = copy_of(reference, tmp_path)
    expected = pd.read_parquet(reference / "index.parquet")
    spos = expected[expected["method"] == "spos"]["run_id"].iloc[0]
    (results / "runs" / spos / "result.json").write_text('{"version": 1, "tau": 0.')  # truncated
    report, log = run_sweep(raw_config(), results)
    assert report.ran == 1 and len(report.quarantined) == 1 and "result.json unreadable" in log
    assert (report.quarantined[0] / "result.json").read_text().endswith("0.")  # kept for inspection
    index = pd.read_parquet(results / "index.parquet")
    pd.testing.assert_frame_equal(index[COMPARED], expected[COMPARED])
    # a garbled checkpoint of an unfinished run is not resumed from either
    run_dir = results / "runs" / spos
    for name in ("result.json", "ranking.parquet"):
        (run_dir / name).unlink()
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):  # an intact previous checkpoint would be resumed
        (run_dir / name).write_bytes(b"PK\x03\x04 not a checkpoint")
    report, log = run_sweep(raw_config(), results)
    assert report.ran == 1 and "checkpoint.pt is not an intact torch checkpoint" in log
    pd.testing.assert_frame_equal(pd.read_parquet(results / "index.parquet")[COMPARED], expected[COMPARED])
    assert_no_half_written_files(results / "runs")


def test_corrupt_directory_outside_the_sweep_is_indexed_as_failed(reference, tmp_path):
    results = copy_of(reference, tmp_path)
    (results / "runs" / "0123456789ab").mkdir()
    (results / "runs" / "0123456789ab" / "config.json").write_text("{not json")
    row = build_index(results).set_index("run_id").loc["0123456789ab"]
    assert row["status"] == "failed"
    assert row["error"].startswith("corrupt run directory: config.json unreadable")


def test_concurrent_sweep_is_refused(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    with ResultsLock(results):
        with pytest.raises(NasBenchError, match="another sweep is running") as e:
            sweep(parse_config(raw_config()), results, console=quiet())
        assert f"sweep pid {os.getpid()}" in str(e.value)
    assert not (results / "runs").exists()


def test_incompatible_results_directory_is_refused(reference, tmp_path):
    results = copy_of(reference, tmp_path)
    (results / "VERSION").write_text("0\n")
    with pytest.raises(NasBenchError, match="layout version '0'"):
        run_sweep(raw_config(), results)
    (results / "VERSION").write_text("1\n")
    result_path = next(results.glob("runs/*/result.json"))
    result_path.write_text(json.dumps({**read_json(result_path), "version": 99}))
    with pytest.raises(NasBenchError, match="result version 99"):
        run_sweep(raw_config(), results)
    (results / "VERSION").unlink()
    with pytest.raises(NasBenchError, match="no VERSION file"):
        run_sweep(raw_config(), results)


# ---------------------------------------------------------------------------------------------- executors
def test_ray_executor_is_optional_and_refused_clearly(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(NasBenchError, match="needs Ray") as e:
        run_sweep(raw_config(methods=["spos"]), tmp_path / "results", executor="ray", address="auto")
    assert "pip install" in e.value.fix
    with pytest.raises(NasBenchError, match="--ray-address and --ray-retries are for --executor ray"):
        run_sweep(raw_config(), tmp_path / "results", address="auto")


def test_worker_that_dies_is_recorded_as_failed(tmp_path):
    spec = RunSpec.of({"method": "spos", "seed": 0})
    run_dir = tmp_path / "runs" / spec.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "worker.log").write_text("epoch 1 ...\n")
    outcome = _worker_outcome(tmp_path, spec, -signal.SIGKILL, 3.0)
    assert outcome["status"] == "failed" and "signal SIGKILL" in outcome["error"]
    assert read_json(run_dir / "error.json")["traceback"] == "epoch 1 ...\n"


def test_workers_give_the_same_results_as_one_process(reference, tmp_path):
    raw = raw_config(methods=["spos"], seeds=[0, 1])
    report, log = run_sweep(raw, tmp_path / "results", workers=2)
    assert report.ran == 2 and not report.failed, log
    index = pd.read_parquet(tmp_path / "results" / "index.parquet")
    expected = pd.read_parquet(reference / "index.parquet")
    pd.testing.assert_frame_equal(index[index["seed"] == 0][COMPARED].reset_index(drop=True),
                                  expected[expected["method"] == "spos"][COMPARED].reset_index(drop=True))
    assert set(index["status"]) == {"done"} and len(list(tmp_path.glob("results/runs/*/worker.log"))) == 2


def cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


# ---------------------------------------------------------------------------------------------- faults
FAULT_SCRIPT = """
import os, signal, sys
from contextlib import contextmanager
from pathlib import Path

import benchmark.io as bio

target = os.environ.get("DIE_WRITING")
if target:  # SIGKILL this process after the temporary file is written, before the rename
    real = bio.atomic_path

    @contextmanager
    def dying(path):
        with real(path) as tmp:
            yield tmp
            if Path(path).name == target:
                os.kill(os.getpid(), signal.SIGKILL)

    bio.atomic_path = dying

from benchmark.harness.config import load_config
from benchmark.harness.sweep import sweep

sweep(load_config(sys.argv[1]), sys.argv[2])
"""


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.02)


def test_sigkill_mid_run_and_mid_write_then_resume_gives_the_uninterrupted_index(reference, tmp_path):
    config = write_config(tmp_path / "sweep.yaml", raw_config())
    script = tmp_path / "fault.py"
    script.write_text(FAULT_SCRIPT)
    results = tmp_path / "results"
    senas = parse_config(raw_config()).runs()[0]
    assert senas.resolved["method"] == "senas"
    run_dir = results / "runs" / senas.run_id

    # 1. SIGKILL in the middle of the SE-NAS run, once its first epoch is checkpointed
    proc = cli(str(script), str(config), str(results))
    wait_for(run_dir / "checkpoint.pt", proc)
    with pytest.raises(NasBenchError, match="another sweep is running"):  # a second sweep meanwhile
        run_sweep(raw_config(), results)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "result.json").exists()

    # 2. resume, and SIGKILL it again while it writes the run's result.json
    proc = cli(str(script), str(config), str(results), env={"DIE_WRITING": "result.json"})
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert list(run_dir.glob(".result.json.*.tmp")) and not (run_dir / "result.json").exists()

    # 3. resume to the end: the same index as the uninterrupted sweep, nothing half-written
    report, log = run_sweep(raw_config(), results)
    assert report.ran == 2 and not report.failed
    assert "removed 1 half-written temporary file" in log and f"resuming run {senas.run_id}" in log
    expected = pd.read_parquet(reference / "index.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(results / "index.parquet")[COMPARED], expected[COMPARED])
    assert "resuming" in (run_dir / "log.txt").read_text()
    assert_no_half_written_files(results)
