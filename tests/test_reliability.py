"""Reliability and security of runs (docs/reliability.md): no code from untrusted files, one result per run
id whoever runs it, corrupt checkpoints never resumed silently, a run folder never trusted blindly."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import benchmark.checkpoint as ckpt_mod
from benchmark import cli
from benchmark.checkpoint import read_checkpoint_file, write_checkpoint
from benchmark.errors import NasBenchError
from benchmark.groundtruth import load_groundtruth
from benchmark.harness.config import parse_config
from benchmark.harness.runs import RUNS_DIR
from benchmark.harness.sweep import sweep
from benchmark.identity import run_id
from benchmark.imagenet.train import load_checkpoint as imagenet_load_checkpoint
from benchmark.io import read_json, write_json
from benchmark.locks import FolderLock
from benchmark.methods.base import RunConfig
from benchmark.methods.registry import METHODS
from benchmark.presets import get_preset
from benchmark.resumable import cpu_threads
from benchmark.standalone import StandaloneConfig, StandaloneRun, get_standalone_preset
from tests.conftest import FAST, kill_at_epoch, nasbench

REPO = Path(__file__).resolve().parents[1]
SET_ARGS = [a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]
EXAMPLE = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


# ---------------------------------------------------------------------------------------------- helpers
class Payload:
    """Unpickling this calls ``open(marker, "w")``: a file appears if the pickle's code runs."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_malicious(path: Path, marker: Path, manifest: bool = True) -> None:
    """A torch checkpoint holding :class:`Payload`, with its SHA-256 recorded (so only weights-only loading
    stands between it and the payload); checks that the payload is live."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"identity": {}, "state": {}, "model": Payload(marker)}, path)
    torch.load(path, weights_only=False)  # full unpickling runs it ...
    assert marker.exists()
    marker.unlink()  # ... so the tests below would see it
    if manifest:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(f"{path.stem}.sha256").write_text(f"{digest}  {path.name}\n")


def run_args(method: str, out: Path, *extra: str) -> list[str]:
    return ["run", method, "--preset", "tiny", *SET_ARGS, "--device", "cpu", "--quiet", "--out", str(out), *extra]


def cfg(method: str = "spos", **kw) -> RunConfig:
    return RunConfig(method=method, dataset="cifar10", preset=get_preset("tiny", FAST), seed=0, device="cpu", **kw)


def run(out: Path, method: str = "spos", log=lambda s: None, **kw):
    return METHODS.get(method).oneshot(cfg(method, **kw), out, progress=False, log=log).run()


def sweep_config(**changes) -> dict:
    return {"methods": ["spos"], "seeds": [0], "presets": ["tiny"], "device": "cpu", "set": dict(FAST), **changes}


def quiet_sweep(raw: dict, results: Path, **kw):
    from io import StringIO

    from rich.console import Console

    return sweep(parse_config(raw), results, console=Console(file=StringIO(), width=200), **kw)


# ---------------------------------------------------------------------------------------------- 1. pickles
@pytest.mark.parametrize("manifest", [True, False])
def test_malicious_checkpoint_in_an_out_folder_never_runs(tmp_path, root, monkeypatch, capsys, manifest):
    marker, out = tmp_path / "pwned", tmp_path / "out"
    plant_malicious(out / "checkpoint.pt", marker, manifest)
    code, _, err = nasbench(monkeypatch, capsys, *run_args("spos", out))
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert ("unreadable as plain data" if manifest else "no recorded SHA-256") in err
    assert not marker.exists()


def test_malicious_checkpoint_in_a_sweep_run_folder_never_runs(tmp_path, root):
    marker, results = tmp_path / "pwned", tmp_path / "results"
    spec = parse_config(sweep_config()).runs()[0]
    run_dir = results / RUNS_DIR / spec.run_id
    (results / "VERSION").parent.mkdir(parents=True)
    (results / "VERSION").write_text("1\n")
    write_json(run_dir / "config.json", spec.resolved)
    plant_malicious(run_dir / "checkpoint.pt", marker)
    report = quiet_sweep(sweep_config(), results)
    assert report.failed == [spec.run_id]
    assert "unreadable as plain data" in read_json(run_dir / "error.json")["message"]
    assert not marker.exists()


def test_malicious_imagenet_checkpoint_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    plant_malicious(tmp_path / "checkpoint.pt", marker)
    with pytest.raises(NasBenchError, match="unreadable as plain data"):
        imagenet_load_checkpoint(tmp_path / "checkpoint.pt")
    assert not marker.exists()


def test_malicious_pth_is_unpickled_only_from_the_explicit_path(tmp_path, root):
    marker, pth = tmp_path / "pwned", tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    plant_malicious(pth, marker, manifest=False)
    with pytest.raises(NasBenchError, match="not named explicitly"):  # a library call
        load_groundtruth(pth)
    with pytest.raises(NasBenchError, match="not named explicitly"):  # a run's configuration
        run(tmp_path / "run", groundtruth=str(pth))
    with pytest.raises(NasBenchError, match="sweep config names the official NB201 .pth"):
        quiet_sweep(sweep_config(groundtruth=str(pth)), tmp_path / "results")
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_checkpoint_contents_are_plain_data():
    import numpy as np

    state = {"tau": np.float64(0.5), "n": np.int64(3), "ok": np.bool_(True), "arr": np.arange(2),
             "path": Path("x"), "rng": (3, (1, 2), None), "ops": {"a"}}
    plain = ckpt_mod.plain(state)
    assert plain == {"tau": 0.5, "n": 3, "ok": True, "arr": [0, 1], "path": "x", "rng": (3, (1, 2), None),
                     "ops": {"a"}}
    assert type(plain["tau"]) is float and type(plain["n"]) is int
    with pytest.raises(TypeError, match="cannot hold"):
        ckpt_mod.plain({"x": object()})


# ---------------------------------------------------------------------------------------------- 2. threads
def test_thread_count_is_part_of_the_configuration_and_restored():
    assert cfg().threads == 1 and cfg(threads=2).identity()["threads"] == 2
    assert run_id(cfg().identity()) != run_id(cfg(threads=2).identity())
    before = torch.get_num_threads()
    with cpu_threads(3):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before
    with pytest.raises(NasBenchError, match="threads must be"):
        run(Path("/nonexistent/never"), threads=0)


def test_resume_under_another_thread_count_is_refused(tmp_path, root, monkeypatch):
    kill_at_epoch(monkeypatch, METHODS.get("spos").oneshot, 2)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, threads=1)
    monkeypatch.undo()
    with pytest.raises(NasBenchError, match=r"computed with threads=1; this one asks for threads=2") as e:
        run(tmp_path, threads=2)
    assert "--threads 1" in str(e.value) and "\n" not in str(e.value)


def test_sweep_run_recorded_without_a_thread_count_is_rerun_not_resumed(tmp_path):
    """A run folder written before ``threads`` was recorded would compute another run: corrupt (quarantined
    and rerun by a sweep), never resumed or returned under a thread count it did not use."""
    from benchmark.harness.runs import inspect_run

    old = {k: v for k, v in parse_config(sweep_config()).runs()[0].resolved.items() if k != "threads"}
    run_dir = tmp_path / run_id(old)
    write_json(run_dir / "config.json", old)
    check = inspect_run(run_dir)
    assert check.status == "corrupt" and "lacks settings this toolkit records (threads)" in check.detail


@pytest.mark.slow
def test_one_run_id_one_ranking_whatever_runs_it(tmp_path, root, monkeypatch, capsys):
    """``nasbench run``, a sweep in this process and a sweep's worker process, each starting from another
    thread count (torch's, OMP_NUM_THREADS), compute the same run: the same id, the same ranking."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        code, _, err = nasbench(monkeypatch, capsys, *run_args("spos", tmp_path / "cli"))
        assert code == 0, err
        assert torch.get_num_threads() == 3  # restored after the run
        torch.set_num_threads(2)
        one = quiet_sweep(sweep_config(set={**FAST}), tmp_path / "one", workers=1)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        two = quiet_sweep(sweep_config(set={**FAST}), tmp_path / "two", workers=2)
    finally:
        torch.set_num_threads(before)
    spec = one.planned[0]
    assert not one.failed and not two.failed and two.planned[0].run_id == spec.run_id
    assert run_id(read_json(tmp_path / "cli" / "config.json")) == spec.run_id
    rankings = [pd.read_parquet(p / "ranking.parquet") for p in
                (tmp_path / "cli", tmp_path / "one" / RUNS_DIR / spec.run_id, tmp_path / "two" / RUNS_DIR / spec.run_id)]
    pd.testing.assert_frame_equal(rankings[0], rankings[1])
    pd.testing.assert_frame_equal(rankings[0], rankings[2])


# ---------------------------------------------------------------------------------------------- 3. corruption
def _flip(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_bytes_fall_back_to_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    write_checkpoint(path, {"epoch": 1, "w": torch.zeros(1000)})
    write_checkpoint(path, {"epoch": 2, "w": torch.ones(1000)})
    assert read_checkpoint_file(path, "cpu", "fix")["epoch"] == 2
    _flip(path)  # inside the tensor's bytes: the file still unzips, a tensor value changed
    notes: list[str] = []
    assert read_checkpoint_file(path, "cpu", "fix", notes.append)["epoch"] == 1
    assert "checkpoint.pt fails its SHA-256 check" in notes[0] and "checkpoint.prev.pt" in notes[0]
    _flip(tmp_path / "checkpoint.prev.pt")
    with pytest.raises(NasBenchError, match="not an intact torch checkpoint.*no intact previous") as e:
        read_checkpoint_file(path, "cpu", "fix")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("die_at", [1, 2, 3])
def test_a_kill_during_a_save_leaves_an_intact_checkpoint(tmp_path, monkeypatch, die_at):
    """Killed at each rename of a save (manifest, current -> previous, new -> current): the newest intact
    checkpoint is still found, and the next save and load work."""
    path = tmp_path / "checkpoint.pt"
    write_checkpoint(path, {"epoch": 1})
    write_checkpoint(path, {"epoch": 2})
    real, calls = os.replace, []

    def dying(src, dst):
        calls.append(dst)
        if len(calls) == die_at:
            raise KeyboardInterrupt("killed")
        real(src, dst)

    monkeypatch.setattr(os, "replace", dying)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(path, {"epoch": 3})
    monkeypatch.undo()
    assert read_checkpoint_file(path, "cpu", "fix", lambda s: None)["epoch"] in (2, 3)
    write_checkpoint(path, {"epoch": 4})
    assert read_checkpoint_file(path, "cpu", "fix")["epoch"] == 4


def _standalone(epochs: int) -> StandaloneConfig:
    preset = get_standalone_preset("tiny", {"epochs": str(epochs), "max_train": "256", "max_val": "64",
                                            "max_test": "64", "batch_size": "64", "C": "4"})
    return StandaloneConfig(arch=EXAMPLE, dataset="cifar10", preset=preset, device="cpu")


def test_corrupt_checkpoint_and_stale_temp_files_on_resume(tmp_path, root, monkeypatch):
    """A resumed run: half-written temporary files removed, a corrupt checkpoint.pt replaced by the previous
    one (said in the log), the same result as an uninterrupted run."""
    whole = StandaloneRun(_standalone(3), tmp_path / "whole", progress=False, log=lambda s: None).run()
    kill_at_epoch(monkeypatch, StandaloneRun, 3)
    with pytest.raises(KeyboardInterrupt):
        StandaloneRun(_standalone(3), tmp_path / "killed", progress=False, log=lambda s: None).run()
    monkeypatch.undo()
    _flip(tmp_path / "killed" / "checkpoint.pt")
    (tmp_path / "killed" / ".result.json.x1y2.tmp").write_text("{")
    lines: list[str] = []
    resumed = StandaloneRun(_standalone(3), tmp_path / "killed", progress=False, log=lines.append).run()
    assert resumed["train_log"] == whole["train_log"] and resumed["val_acc"] == whole["val_acc"]
    assert any("removed 1 half-written" in line for line in lines)
    assert any("fails its SHA-256 check" in line and "checkpoint.prev.pt" in line for line in lines)
    assert any("after epoch 1" in line for line in lines)
    assert not list((tmp_path / "killed").glob(".*.tmp"))


def test_run_interrupted_before_its_first_checkpoint_leaves_no_folder(tmp_path, root, monkeypatch):
    kill_at_epoch(monkeypatch, METHODS.get("spos").oneshot, 1)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "new" / "out")
    assert not (tmp_path / "new" / "out").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made stays
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "mine")
    assert (tmp_path / "mine").is_dir()


def test_ctrl_c_prints_one_line_with_the_resume_command(tmp_path, monkeypatch, capsys):
    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(cli, "app", lambda **kwargs: signal.raise_signal(signal.SIGINT))
    code, out, err = nasbench(monkeypatch, capsys, "run", "spos", "--out", str(tmp_path / "my run"))
    assert code == 130 and out == ""
    assert err.strip().splitlines() == [
        ("interrupted: finished epochs are checkpointed; to resume, run the same command again: "
         f"nasbench run spos --out '{tmp_path / 'my run'}'")]
    assert signal.getsignal(signal.SIGINT) == handler


@pytest.mark.slow
def test_ctrl_c_on_a_real_run_then_resume(tmp_path, root):
    out = tmp_path / "out"
    args = [sys.executable, "-c", "from benchmark.cli import main; main()", *run_args("senas", out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (out / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:  # it finished before the signal arrived: nothing to check
        pytest.skip("the run finished before Ctrl-C")
    assert proc.returncode == 130 and "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert "to resume, run the same command again: nasbench run senas" in last and str(out) in last
    resumed = subprocess.run(args, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and "resuming" in resumed.stderr


# ---------------------------------------------------------------------------------------------- 4. --out
@pytest.mark.slow
def test_out_folder_of_another_configuration_is_refused(tmp_path, root, monkeypatch, capsys):
    out = tmp_path / "D"
    code, first, _ = nasbench(monkeypatch, capsys, *run_args("spos", out, "--seed", "5"))
    assert code == 0
    code, again, err = nasbench(monkeypatch, capsys, *run_args("spos", out, "--seed", "5"))
    assert code == 0 and again == first and "already finished" in err and "already finished" not in again
    code, _, err = nasbench(monkeypatch, capsys, *run_args("senas", out, "--seed", "0"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "spos cifar10 seed 5 (tiny)" in err and "senas[senas] cifar10 seed 0 (tiny)" in err
    assert "another --out" in err and "--overwrite" in err
    assert read_json(out / "result.json")["method"] == "spos"  # untouched
    code, replaced, err = nasbench(monkeypatch, capsys, *run_args("senas", out, "--seed", "0", "--overwrite"))
    assert code == 0 and replaced.startswith("senas on cifar10 (seed 0)")
    assert read_json(out / "config.json")["method"] == "senas"


def test_unfinished_run_of_another_configuration_is_refused(tmp_path, root, monkeypatch, capsys):
    resolved = {**cfg().identity(), "seed": 7}
    for key in ("criterion", "normalization", "expand"):
        resolved.pop(key)
    write_json(tmp_path / "config.json", resolved)
    code, _, err = nasbench(monkeypatch, capsys, *run_args("spos", tmp_path))
    assert code == 2 and "seed: 7 there, 0 here" in err and "spos cifar10 seed 7 (tiny)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "config.json"]


def test_garbage_result_json_is_an_error(tmp_path, root, monkeypatch, capsys):
    (tmp_path / "result.json").write_text("[1, 2]")
    code, _, err = nasbench(monkeypatch, capsys, *run_args("spos", tmp_path))
    assert code == 2 and "is not a result" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(NasBenchError, match="is not a result of this toolkit"):  # the library call as well
        run(tmp_path)


def test_second_run_on_the_same_folder_is_refused(tmp_path, root, monkeypatch, capsys):
    with FolderLock(tmp_path, "run"):
        code, _, err = nasbench(monkeypatch, capsys, *run_args("spos", tmp_path))
    assert code == 2 and "another run is running on" in err and f"run pid {os.getpid()}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]



# ------------------------------------------------------------------------- pickled data files
def _malicious_pickle(path: Path, marker: Path, data: object, compress: bool = False) -> None:
    """A pickle of ``data`` with :class:`Payload` inside; checks that plain ``pickle.load`` runs it."""
    import bz2
    import pickle

    blob = pickle.dumps({**data, "payload": Payload(marker)}, protocol=2) if isinstance(data, dict) else b""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bz2.compress(blob) if compress else blob)
    pickle.loads(blob)
    assert marker.exists()
    marker.unlink()


def test_a_crafted_cifar_batch_never_runs_its_payload(tmp_path):
    import numpy as np

    from benchmark.data import load_dataset
    from benchmark.plain_pickle import check_plain_file

    marker, root = tmp_path / "pwned", tmp_path / "data"
    batch = {"data": np.zeros((10, 3072), dtype=np.uint8), "labels": list(range(10))}
    for name in ("data_batch_1", "test_batch"):
        _malicious_pickle(root / "cifar10" / name, marker, batch)
    with pytest.raises(NasBenchError, match=r"is not a data batch: it names (io|builtins)\.open, which is code"):
        load_dataset("cifar10", root)
    assert not marker.exists()
    clean = tmp_path / "clean.pkl"
    clean.write_bytes(__import__("pickle").dumps(batch, protocol=2))
    assert (check_plain_file(clean)["data"] == batch["data"]).all()  # real batches still read


def _arch_of(folder: Path, index: int) -> str:
    from benchmark.plain_pickle import check_plain_file

    return str(check_plain_file(folder / "meta.pickle.pbz2")["meta_archs"][index])


def test_a_crafted_nats_folder_never_runs_its_payload(tmp_path, root):
    import shutil

    from benchmark.groundtruth import load_groundtruth
    from benchmark.plain_pickle import check_plain_file

    source = root / "nats-fixture" / "NATS-tss-v1_0-3ffb9-simple"
    marker, folder = tmp_path / "pwned", tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    shutil.copytree(source, folder)
    record = check_plain_file(folder / "000011.pickle.pbz2")
    _malicious_pickle(folder / "000011.pickle.pbz2", marker, dict(record), compress=True)
    gt = load_groundtruth(folder)
    with pytest.raises(NasBenchError, match="000011.pickle.pbz2 is not a NATS-Bench record"):
        gt.accuracies([_arch_of(folder, 11)], "cifar10")
    assert not marker.exists()
    meta = check_plain_file(folder / "meta.pickle.pbz2")
    _malicious_pickle(folder / "meta.pickle.pbz2", marker, dict(meta), compress=True)
    with pytest.raises(NasBenchError, match="meta.pickle.pbz2 is not a NATS-Bench file"):
        load_groundtruth(folder)
    assert not marker.exists()


@pytest.mark.slow
def test_train_standalone_refuses_another_run_in_out_and_overwrites_on_request(tmp_path, root, monkeypatch,
                                                                                capsys):
    from tests.test_standalone import TINY

    sets = [a for k, v in {**TINY, "epochs": 1}.items() for a in ("--set", f"{k}={v}")]
    out = tmp_path / "S"
    base = ["train-standalone", "0", "--device", "cpu", "--quiet", "--out", str(out), *sets]
    assert nasbench(monkeypatch, capsys, *base, "--seed", "1")[0] == 0
    code, _, err = nasbench(monkeypatch, capsys, *base, "--seed", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--overwrite" in err
    code, _, err = nasbench(monkeypatch, capsys, *base, "--seed", "2", "--overwrite", "--threads", "2")
    assert code == 0 and read_json(out / "result.json")["seed"] == 2
    assert read_json(out / "config.json")["threads"] == 2
