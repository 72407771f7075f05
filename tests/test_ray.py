"""The Ray executor on a real local Ray cluster (two CPUs, started and stopped here): the same results index
as the local executor, a killed Ray worker retried until the sweep finishes identically, a run out of
retries recorded as failed and finished by the next sweep, and one-line errors for a cluster that does not
answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
import ray
import yaml
from rich.console import Console

from benchmark.errors import NasBenchError
from benchmark.harness.config import parse_config
from benchmark.harness.executors import task_gpus
from benchmark.harness.sweep import sweep
from benchmark.io import read_json

# Six short epochs (tau at the first and the last), so a worker can be killed between them.
RAW = {"methods": ["spos"], "seeds": [0, 1], "presets": ["tiny"], "device": "cpu",
       "set": {"max_train": 256, "max_val": 32, "batch_size": 32, "eval_batch_size": 32,
               "epochs_per_stage": 3, "tau_epochs": [1, 6], "rank_archs": 4, "criterion_samples": 1, "C": 2,
               "recal_batches": 1}}
COMPARED = ["run_id", "status", "method", "dataset", "seed", "tau", "spearman", "best_arch"]


def run_sweep(results: Path, **kw):
    return sweep(parse_config(RAW), results, console=Console(file=StringIO(), width=200), **kw)


def index_of(results: Path) -> pd.DataFrame:
    return pd.read_parquet(results / "index.parquet")[COMPARED].sort_values("run_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def cluster():
    """A real two-CPU Ray cluster on this machine, for this module only."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_index(tmp_path_factory, root) -> pd.DataFrame:
    results = tmp_path_factory.mktemp("local")
    report = run_sweep(results)
    assert report.ran == 2 and not report.failed
    return index_of(results)


def holder(path: Path) -> int | None:
    """The process (other than this one) that holds ``path`` open: the Ray worker running that run."""
    target = str(path.resolve())
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        if int(fd_dir.parent.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) == target for fd in fd_dir.iterdir()):
                return int(fd_dir.parent.name)
        except OSError:
            continue
    return None


class Killer(threading.Thread):
    """SIGKILLs the worker process of the first run whose log shows its first tau epoch."""

    def __init__(self, results: Path):
        super().__init__(daemon=True)
        self.results, self.killed, self.stop = results, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and not self.killed:
            for log in self.results.glob("runs/*/log.txt"):
                text = log.read_text()
                pid = holder(log) if "epoch 1:" in text and "epoch 6:" not in text else None
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append((pid, log.parent.name))
                    return
            time.sleep(0.01)


def sweep_with_a_kill(results: Path, **kw):
    killer = Killer(results)
    killer.start()
    try:
        report = run_sweep(results, executor="ray", **kw)
    finally:
        killer.stop.set()
        killer.join()
    assert len(killer.killed) == 1, "no Ray worker was caught mid-run"
    return report, killer.killed[0][1]


def test_ray_sweep_gives_the_local_index(cluster, local_index, tmp_path):
    results = tmp_path / "results"
    report = run_sweep(results, executor="ray")
    assert report.ran == 2 and not report.failed
    pd.testing.assert_frame_equal(index_of(results), local_index)


def test_a_killed_ray_worker_is_retried_and_the_index_is_identical(cluster, local_index, tmp_path):
    results = tmp_path / "results"
    report, killed = sweep_with_a_kill(results)
    assert report.ran == 2 and not report.failed
    assert not (results / "runs" / killed / "error.json").exists()
    pd.testing.assert_frame_equal(index_of(results), local_index)


def test_a_run_out_of_retries_fails_and_the_next_sweep_finishes_it(cluster, local_index, tmp_path):
    results = tmp_path / "results"
    report, killed = sweep_with_a_kill(results, ray_retries=0)
    assert report.failed == [killed]
    error = read_json(results / "runs" / killed / "error.json")
    assert "died" in error["message"].lower() or "crash" in error["type"].lower(), error
    report = run_sweep(results, executor="ray")
    assert report.ran == 1 and report.skipped == 1 and not report.failed
    pd.testing.assert_frame_equal(index_of(results), local_index)


def test_each_run_asks_for_what_it_needs():
    assert task_gpus("cpu", 8) == 0
    assert task_gpus("auto", 0) == 0 and task_gpus("auto", 2) == 1 and task_gpus("cuda", 1) == 1
    with pytest.raises(NasBenchError, match="has no GPU"):
        task_gpus("cuda", 0)


def test_a_ray_address_that_does_not_answer_is_one_line(tmp_path, root):
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(RAW))
    proc = subprocess.run([sys.executable, "-m", "benchmark.cli", "sweep", str(config), "--out",
                           str(tmp_path / "results"), "--executor", "ray", "--ray-address", "127.0.0.1:9"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0] and "ray start --head" in lines[0], proc.stderr
    with pytest.raises(NasBenchError, match="not HOST:PORT"):
        run_sweep(tmp_path / "other", executor="ray", address="head-without-port")
