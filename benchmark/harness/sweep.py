"""``nasbench sweep``: expand a config into runs and execute the ones not finished yet.

Under an exclusive lock on ``RESULTS/.lock`` (a second sweep on the same directory is refused), it
checks ``RESULTS/VERSION`` and every run's result version, removes the temporary files of writes that a
killed process never finished, then for each planned run: skips it when finished, quarantines it to
``RESULTS/corrupt/`` and reruns it when something in its directory is unreadable, retries it when it
failed before, and resumes it (from its ``checkpoint.pt``) otherwise. The index is rebuilt from the run
directories after every run.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmark.errors import NasBenchError
from benchmark.harness.config import SweepConfig
from benchmark.harness.executors import EXECUTORS, RAY_RETRIES, ray_session, run_local, run_ray, run_workers
from benchmark.harness.index import build_index, write_index
from benchmark.harness.pairing import pair_results
from benchmark.harness.runs import RUNS_DIR, RunSpec, inspect_run
from benchmark.io import atomic_path, write_json
from benchmark.locks import FolderLock
from benchmark.progress import PlainProgress

LAYOUT_VERSION = 1
VERSION_FILE = "VERSION"
CORRUPT_DIR = "corrupt"


# ---------------------------------------------------------------------------------------------- results dir
def check_version(results: Path, create: bool) -> None:
    """Refuse a results directory of another layout version; write ``VERSION`` into a new one."""
    version_file = results / VERSION_FILE
    if version_file.exists():
        found = version_file.read_text().strip()
        if found != str(LAYOUT_VERSION):
            raise NasBenchError(f"{results} holds results of layout version {found!r}; this toolkit reads "
                                f"and writes version {LAYOUT_VERSION}",
                                "sweep into a new --out directory, or use the toolkit version that wrote it")
    elif (results / RUNS_DIR).exists():
        raise NasBenchError(f"{results} has a {RUNS_DIR}/ folder but no {VERSION_FILE} file: it was not "
                            "written by this toolkit's sweep", "sweep into a new --out directory")
    elif create:
        with atomic_path(version_file) as tmp:
            tmp.write_text(f"{LAYOUT_VERSION}\n")


class ResultsLock(FolderLock):
    """An exclusive ``fcntl.flock`` on ``RESULTS/.lock`` for the life of a sweep; refused if held.

    The lock belongs to the open file, so worker processes that inherit it keep it until they exit.
    """

    def __init__(self, results: Path):
        super().__init__(results, "sweep", "wait for it to finish, or sweep into another --out directory")


def remove_stale_temp_files(results: Path) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files :func:`benchmark.io.atomic_path` leaves when its process is killed
    before the rename (only safe under the lock: no live writer)."""
    stale = [*results.glob(".*.tmp"), *results.glob(f"{RUNS_DIR}/*/.*.tmp")]
    for path in stale:
        path.unlink()
    return stale


def quarantine(results: Path, run_dir: Path) -> Path:
    """Move a corrupt run directory to ``RESULTS/corrupt/<run_id>-<time>`` (kept for inspection)."""
    dest = results / CORRUPT_DIR / f"{run_dir.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    dest.parent.mkdir(exist_ok=True)
    while dest.exists():
        dest = dest.with_name(dest.name + "x")
    os.replace(run_dir, dest)
    return dest


# ---------------------------------------------------------------------------------------------- progress
def _say(console: Console, text: str) -> None:
    """Print one plain line (no markup colouring, no wrapping)."""
    console.print(text, highlight=False, soft_wrap=True, markup=False)


class SweepProgress:
    """One printed line per finished run, and on a terminal a rich progress line: finished of total, running
    and failed counts, elapsed time and an ETA (this session's time per finished run x runs left); where the
    console is not a terminal (a log, CI, ``nohup``), throttled plain lines with the same counts
    (:class:`benchmark.progress.PlainProgress`)."""

    def __init__(self, console: Console, total: int, done: int):
        self.console, self.total = console, total
        self.done, self.failed, self.running, self.finished_now = done, 0, 0, 0
        self.t0 = time.perf_counter()
        self.plain = None if console.is_terminal else PlainProgress(
            "sweep", total, "runs", console.file, done,
            detail=lambda _: f"{self.running} running, {self.failed} failed")
        self.bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console)
        self.task = self.bar.add_task("sweep", total=total, completed=done, info=self._info())

    def _info(self) -> str:
        left = self.total - self.done - self.failed
        if self.finished_now and left:
            per_run = (time.perf_counter() - self.t0) / self.finished_now
            secs = int(per_run * left)
            eta = f"{secs // 3600}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        else:
            eta = "0:00:00" if not left else "?"
        return f"{self.done} done, {self.running} running, {self.failed} failed, ETA {eta}"

    def __enter__(self) -> SweepProgress:
        if self.plain is None:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.plain is None:
            self.bar.stop()

    def start(self, spec: RunSpec) -> None:
        self.running += 1
        self.bar.update(self.task, info=self._info())

    def finish(self, line: str, ok: bool) -> None:
        self.running -= 1
        self.finished_now += 1
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self.bar.update(self.task, completed=self.done + self.failed, info=self._info())
        _say(self.console, line)
        if self.plain is not None:
            self.plain.advance(1)


# ---------------------------------------------------------------------------------------------- sweep
@dataclass
class SweepReport:
    """What a sweep did: runs planned, skipped (finished before), run now, failed now, quarantined."""

    planned: list[RunSpec]
    skipped: int = 0
    ran: int = 0
    failed: list[str] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    index: pd.DataFrame | None = None
    paired: pd.DataFrame | None = None  # like-for-like rows (benchmark.harness.pairing)


def _plan(specs: Sequence[RunSpec], results: Path, console: Console, report: SweepReport) -> list[RunSpec]:
    """Prepare each planned run's directory; return the runs to execute (quarantining corrupt ones)."""
    todo = []
    for spec in specs:
        run_dir = results / RUNS_DIR / spec.run_id
        if run_dir.exists() and any(run_dir.iterdir()):
            check = inspect_run(run_dir)
            if check.status == "done":
                report.skipped += 1
                continue
            if check.status == "corrupt":
                dest = quarantine(results, run_dir)
                report.quarantined.append(dest)
                _say(console, f"corrupt run {spec.run_id} ({spec.describe()}): {check.detail}; "
                              f"moved to {dest}, running it again")
            elif check.status == "failed":
                _say(console, f"retrying failed run {spec.run_id} ({spec.describe()})")
            elif check.detail:
                _say(console, f"resuming run {spec.run_id} ({spec.describe()}): {check.detail}")
        if not (run_dir / "config.json").exists():
            write_json(run_dir / "config.json", spec.resolved)
        todo.append(spec)
    return todo


def _finished_line(spec: RunSpec, outcome: dict[str, Any], index: pd.DataFrame) -> str:
    head = f"{outcome['status']:<6} {spec.run_id} {spec.describe()} in {outcome['seconds']:.0f}s"
    if outcome["status"] != "done":
        return f"{head}: {outcome['error']}"
    row = index[index["run_id"] == spec.run_id].iloc[0]
    if spec.resolved["method"] == "standalone":
        return f"{head}: val {row['val_acc']:.2f}%, test {row['test_acc']:.2f}%"
    return f"{head}: tau={row['tau']:.4f}"


def dry_run(config: SweepConfig, results: Path, console: Console) -> SweepReport:
    """List the planned runs and their status in RESULTS without writing anything."""
    specs = config.runs()
    if results.exists():
        check_version(results, create=False)
    report = SweepReport(planned=specs)
    for spec in specs:
        run_dir = results / RUNS_DIR / spec.run_id
        status = inspect_run(run_dir).status if (run_dir / "config.json").exists() else "new"
        report.skipped += status == "done"
        _say(console, f"{spec.run_id}  {status:<8} {spec.describe()}")
    _say(console, f"{len(specs)} runs planned in {results}: {report.skipped} finished, "
                  f"{len(specs) - report.skipped} to run (dry run: nothing was run or written)")
    return report


def sweep(config: SweepConfig, results: str | os.PathLike, executor: str = "local", workers: int = 1,
          address: str | None = None, console: Console | None = None,
          ray_retries: int = RAY_RETRIES) -> SweepReport:
    """Run every planned run of ``config`` that is not finished in ``results``; see the module docstring."""
    console = console or Console(stderr=True)
    if executor not in EXECUTORS:
        raise NasBenchError(f"unknown executor {executor!r}", f"choose one of: {', '.join(EXECUTORS)}")
    if workers < 1 or (executor == "ray" and workers != 1):
        raise NasBenchError(f"--workers {workers} is not allowed with --executor {executor}",
                            "use --workers N >= 1 with --executor local (Ray schedules its own workers)")
    if executor != "ray" and (address is not None or ray_retries != RAY_RETRIES):
        raise NasBenchError("--ray-address and --ray-retries are for --executor ray",
                            "add --executor ray or drop them")
    if ray_retries < 0:
        raise NasBenchError(f"--ray-retries {ray_retries} is negative", "use 0 (never retry) or more")
    gt = config.runtime.groundtruth
    if gt and str(gt).lower().endswith(".pth"):  # groundtruth.official: never unpickled from a config
        raise NasBenchError(f"the sweep config names the official NB201 .pth {gt} as ground truth, which loads "
                            "only by full unpickling (it can run code)",
                            f"convert it once with `nasbench gt build --from {gt} --out TABLE.csv.gz` and name "
                            "the table in the config")
    with ray_session(address) if executor == "ray" else nullcontext():
        return _sweep(config, Path(results), executor, workers, console, ray_retries)


def _sweep(config: SweepConfig, results: Path, executor: str, workers: int, console: Console,
           ray_retries: int) -> SweepReport:
    specs = config.runs()
    if results.exists():
        check_version(results, create=False)  # refuse a foreign folder before putting a lock file in it
    results.mkdir(parents=True, exist_ok=True)
    report = SweepReport(planned=specs)
    with ResultsLock(results) as lock:
        check_version(results, create=True)
        build_index(results)  # refuses any run of an incompatible result version before anything changes
        stale = remove_stale_temp_files(results)
        if stale:
            _say(console, f"removed {len(stale)} half-written temporary file(s) left by an interrupted "
                          "process")
        todo = _plan(specs, results, console, report)
        index = write_index(results)
        _say(console, f"{len(specs)} runs planned in {results}: {report.skipped} finished, "
                      f"{len(todo)} to run")
        with SweepProgress(console, len(specs), report.skipped) as progress:
            def on_finish(spec: RunSpec, outcome: dict[str, Any]) -> None:
                nonlocal index
                index = write_index(results)
                report.ran += 1
                if outcome["status"] != "done":
                    report.failed.append(spec.run_id)
                progress.finish(_finished_line(spec, outcome, index), outcome["status"] == "done")

            if executor == "ray":
                run_ray(todo, results, config.runtime, progress.start, on_finish, ray_retries)
            elif workers > 1:
                run_workers(todo, results, config.runtime, workers, progress.start, on_finish,
                            keep_fds=[lock.fd])
            else:
                run_local(todo, results, config.runtime, progress.start, on_finish)
        report.index = index
        report.paired = pair_results(results, index, config.runtime, lambda s: _say(console, s))
    return report
