"""Progress of long work (training epochs, architecture evaluations, sweeps): a rich bar on a terminal; where
the output is not a terminal (a log file, CI, ``nohup``) plain lines with the elapsed time and an ETA, e.g.
``[senas seed 0] epoch 3/12  stage 2  25%  elapsed 1m05s  ETA 3m15s``, throttled (:class:`PlainProgress`);
nothing when disabled (``--quiet``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

STEPS = 10  # a plain line at each further tenth of the work ...
MIN_GAP_S = 10.0  # ... unless the last line is younger than this
EVERY_S = 60.0  # and a line whenever the work advances this long after the last line


def duration(seconds: float) -> str:
    """``45s``, ``1m05s``, ``2h03m``, ``3d04h``: a length of time to the precision a log reader needs."""
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s // 60 % 60:02d}m"
    return f"{s // 86400}d{s // 3600 % 24:02d}h"


class PlainProgress:
    """Throttled plain lines ``[label] what done/total  detail  pct%  elapsed T  ETA T`` for output that is
    not a terminal: a line when the work crosses a further 1/:data:`STEPS` of its total and the last line is
    at least :data:`MIN_GAP_S` old, a line whenever :data:`EVERY_S` have passed since the last one, and the
    last line when the work is done. The ETA extrapolates this process's rate (work done before a resume,
    ``done`` at the start, does not count)."""

    def __init__(self, label: str, total: int, what: str, stream: TextIO, done: int = 0,
                 detail: Callable[[int], str] | None = None, clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.what, self.detail = label, total, what, detail
        self.stream, self.clock = stream, clock
        self.start = self.done = done
        self.t0 = self.last = clock()
        self.last_step = self._step(done)

    def _step(self, done: int) -> int:
        return done * STEPS // self.total if self.total > 0 else 0

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units of work done; print a line if one is due."""
        self.done = min(self.done + n, self.total)
        now = self.clock()
        step = self._step(self.done)
        if (self.done >= self.total or now - self.last >= EVERY_S
                or (step > self.last_step and now - self.last >= MIN_GAP_S)):
            print(self.line(now), file=self.stream, flush=True)
            self.last, self.last_step = now, step

    def line(self, now: float) -> str:
        elapsed = now - self.t0
        finished_now = self.done - self.start
        if self.done >= self.total:
            eta = "0s"
        elif finished_now > 0:
            eta = duration(elapsed / finished_now * (self.total - self.done))
        else:
            eta = "?"
        detail = self.detail(self.done) if self.detail is not None else ""
        parts = [f"[{self.label}] {self.what} {self.done}/{self.total}", detail,
                 f"{100 * self.done // max(self.total, 1)}%", f"elapsed {duration(elapsed)}", f"ETA {eta}"]
        return "  ".join(p for p in parts if p)


@contextmanager
def progress_bar(label: str, total: int, enabled: bool = True, *, what: str = "", done: int = 0,
                 detail: Callable[[int], str] | None = None,
                 stream: TextIO | None = None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)`` for ``total`` units of work of which ``done`` are done already (a resumed run):
    on a terminal ``stream`` (default: stderr) a rich bar with count, elapsed and remaining time, elsewhere
    :class:`PlainProgress` lines; nothing when not ``enabled``."""
    stream = sys.stderr if stream is None else stream
    if not enabled:
        yield lambda n=1: None
        return
    if not stream.isatty():
        plain = PlainProgress(label, total, what, stream, done, detail)
        yield plain.advance
        return
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=stream), transient=True) as bar:
        task = bar.add_task(f"[{label}] {what}".strip(), total=total, completed=done)
        yield lambda n=1: bar.advance(task, n)
