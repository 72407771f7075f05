"""Progress off a terminal (logs, CI, ``nohup``): plain lines with elapsed time and ETA, throttled; a real
tiny run prints them for its epochs and its architecture evaluations."""

from __future__ import annotations

import re
from io import StringIO

import pytest

from benchmark import progress
from benchmark.progress import PlainProgress, duration, progress_bar
from tests.conftest import FAST, nasbench


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (44.6, "45s"), (65, "1m05s"), (3599, "59m59s"),
                                           (7380, "2h03m"), (3 * 86400 + 4 * 3600, "3d04h")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_a_line_per_tenth_at_most_every_min_gap_and_the_last_one():
    clock, out = Clock(), StringIO()
    bar = PlainProgress("senas seed 0", 100, "epoch", out, clock=clock,
                        detail=lambda e: f"stage {1 + (e > 50)}")
    for _ in range(100):
        clock.now += 1.0  # 100 s in all: tenths every 10 s, each at least MIN_GAP_S after the last line
        bar.advance()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[2] == "[senas seed 0] epoch 30/100  stage 1  30%  elapsed 30s  ETA 1m10s"
    assert lines[-1] == "[senas seed 0] epoch 100/100  stage 2  100%  elapsed 1m40s  ETA 0s"


def test_fast_work_prints_only_its_last_line_and_slow_work_one_line_per_every_s():
    clock, out = Clock(), StringIO()
    fast = PlainProgress("spos seed 1", 60, "tau at epoch 2: architecture", out, clock=clock)
    for _ in range(60):
        clock.now += 0.05
        fast.advance()
    assert out.getvalue().splitlines() == [
        "[spos seed 1] tau at epoch 2: architecture 60/60  100%  elapsed 3s  ETA 0s"]
    out.truncate(0), out.seek(0)
    slow = PlainProgress("spos seed 1", 1000, "epoch", out, clock=clock)
    for _ in range(3):
        clock.now += progress.EVERY_S
        slow.advance()
    assert len(out.getvalue().splitlines()) == 3  # no tenth crossed, yet a line every EVERY_S


def test_a_resumed_run_counts_from_its_last_epoch_and_extrapolates_only_its_own_pace():
    clock, out = Clock(), StringIO()
    bar = PlainProgress("spos seed 0", 40, "epoch", out, done=20, clock=clock)
    clock.now = 200.0
    bar.advance(2)
    assert out.getvalue().strip() == "[spos seed 0] epoch 22/40  55%  elapsed 3m20s  ETA 30m00s"


def test_a_terminal_gets_the_rich_bar_and_quiet_gets_nothing():
    term, log = Terminal(), StringIO()
    with progress_bar("spos seed 0", 3, stream=term, what="epoch") as advance:
        for _ in range(3):
            advance(1)
    assert "elapsed" not in term.getvalue()
    with progress_bar("spos seed 0", 3, enabled=False, stream=log, what="epoch") as advance:
        advance(3)
    assert log.getvalue() == ""


LINE = re.compile(r"^\[spos seed 0\] (?P<what>.+) (?P<done>\d+)/(?P<total>\d+)(  stage (?P<stage>\d))?  "
                  r"(?P<pct>\d+)%  elapsed \S+  ETA \S+$")


def test_a_tiny_run_off_a_terminal_prints_plain_progress_lines(monkeypatch, capsys, tmp_path, root):
    monkeypatch.setattr(progress, "MIN_GAP_S", 0.0)  # every tenth, not throttled: a tiny run takes seconds
    sets = [a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]
    run = ["run", "spos", "--device", "cpu"]
    code, _, err = nasbench(monkeypatch, capsys, *run, "--out", tmp_path / "run", *sets)
    assert code == 0, err
    lines = [m for line in err.splitlines() if (m := LINE.match(line))]
    epochs = [(m["done"], m["total"], m["stage"], m["pct"]) for m in lines if m["what"] == "epoch"]
    assert epochs == [("1", "2", "1", "50"), ("2", "2", "2", "100")]
    ranked = [m for m in lines if m["what"] == "tau at epoch 1: architecture"]
    assert ranked and ranked[-1]["done"] == ranked[-1]["total"] == "8" and ranked[-1]["pct"] == "100"
    code, _, err = nasbench(monkeypatch, capsys, *run, "--out", tmp_path / "quiet", "--quiet", *sets)
    assert code == 0 and not [line for line in err.splitlines() if LINE.match(line)]
