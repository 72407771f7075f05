"""Shared fixtures: the data root, one torch thread, and a tiny, fast preset for end-to-end runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from benchmark.errors import NasBenchError
from benchmark.paths import data_root

# Overrides that make a whole NB201 run take a few seconds on 2 CPU cores.
FAST = {"C": "4", "N": "1", "max_train": "256", "max_val": "64", "batch_size": "64", "epochs_per_stage": "1",
        "stages": "2", "tau_epochs": "1,2", "rank_archs": "8", "criterion_samples": "2", "recal_batches": "1",
        "eval_batch_size": "64"}


@pytest.fixture(scope="session")
def root() -> Path:
    try:
        return data_root()
    except NasBenchError as e:
        pytest.skip(f"shared data not found: {e}")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for the test (steadier on a shared 2-core machine; exact comparisons run alike)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def kill_at_epoch(monkeypatch: pytest.MonkeyPatch, run_class: type, epoch: int) -> None:
    """Make every ``run_class`` (a :class:`benchmark.resumable.ResumableRun`) die as if killed when it starts
    epoch ``epoch``, after the previous epoch's checkpoint; ``monkeypatch.undo()`` revives it."""
    original = run_class.run_epoch

    def killed(self, e: int, total_steps: int) -> None:
        if e == epoch:
            raise KeyboardInterrupt("simulated kill")
        original(self, e, total_steps)

    monkeypatch.setattr(run_class, "run_epoch", killed)


def same(a: object, b: object) -> bool:
    """Equal as recorded in ``result.json``: NaN (an undefined tau or diagnostic) equals NaN."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def nasbench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """``nasbench ARGS`` through the real entry point, in this process: (exit code, stdout, stderr)."""
    from benchmark.cli import main

    monkeypatch.setattr(sys, "argv", ["nasbench", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err
