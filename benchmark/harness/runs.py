"""Runs of a sweep: directories, status, and :func:`execute_run`, the one per-run function every
executor calls. A run's directory is named by its id (:func:`benchmark.identity.run_id`), so the same
config always lands in the same directory.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchmark
from benchmark.errors import NasBenchError
from benchmark.identity import config_differences, describe_config, resolved_of, run_id
from benchmark.io import read_json, write_json

RUNS_DIR = "runs"
ONESHOT_TABLES = ("ranking", "tau_curve", "operators")
# what the results index reads from a finished run's result.json (benchmark.harness.index.index_row)
RESULT_KEYS = {"oneshot": ("tau", "spearman", "final_space_size", "n_ranked", "best_arch", "best_gt"),
               "standalone": ("val_acc", "test_acc")}


@dataclass(frozen=True)
class Runtime:
    """Where runs execute and read from; not part of a run's identity."""

    device: str = "auto"
    data_root: str | None = None
    groundtruth: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunSpec:
    """One planned run: its id and resolved config."""

    run_id: str
    resolved: dict[str, Any]

    @classmethod
    def of(cls, resolved: dict[str, Any]) -> RunSpec:
        return cls(run_id(resolved), resolved)

    def describe(self) -> str:
        """A short human label, e.g. ``senas[random] cifar10 seed 1 (tiny)``."""
        return describe_config(self.resolved)


def build_config(resolved: dict[str, Any], runtime: Runtime) -> Any:
    """The ``RunConfig`` or ``StandaloneConfig`` a resolved config stands for."""
    from benchmark.methods.base import RunConfig
    from benchmark.presets import Preset
    from benchmark.standalone import METHOD, StandaloneConfig, StandalonePreset

    fields = {k: v for k, v in resolved.items() if k != "preset"}
    if resolved["method"] == METHOD:
        fields.pop("method")
        return StandaloneConfig(**fields, preset=StandalonePreset(**resolved["preset"]), **runtime.as_dict())
    preset = Preset(**{**resolved["preset"], "tau_epochs": tuple(resolved["preset"]["tau_epochs"])})
    return RunConfig(**fields, preset=preset, **runtime.as_dict())


def build_run(resolved: dict[str, Any], runtime: Runtime, out_dir: Path, log) -> Any:
    """The run object (``.run()`` trains and writes ``result.json``) for a resolved config."""
    from benchmark.methods.registry import METHODS
    from benchmark.standalone import METHOD, StandaloneRun

    cfg = build_config(resolved, runtime)
    cls = StandaloneRun if resolved["method"] == METHOD else METHODS.get(resolved["method"]).oneshot
    return cls(cfg, out_dir, progress=False, log=log)


# ---------------------------------------------------------------------------------------------- status
@dataclass(frozen=True)
class RunCheck:
    """What a run directory holds: ``done``, ``failed``, ``pending`` (not started or interrupted) or
    ``corrupt`` (something unreadable or not matching its config; ``detail`` says what)."""

    status: str
    detail: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    resolved: dict[str, Any] | None = None


class IncompatibleResults(NasBenchError):
    """A run directory written by an incompatible toolkit version."""


def _read_json_dict(path: Path) -> dict[str, Any]:
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


def inspect_run(run_dir: Path) -> RunCheck:
    """Classify a run directory without running anything. A ``result.json`` of another result version
    raises :class:`IncompatibleResults`; anything else unreadable is ``corrupt``."""
    from benchmark.methods.base import RESULT_VERSION

    try:
        resolved = _read_json_dict(run_dir / "config.json")
    except (OSError, ValueError) as e:
        return RunCheck("corrupt", f"config.json unreadable ({type(e).__name__})")
    if run_id(resolved) != run_dir.name:
        return RunCheck("corrupt", "config.json does not hash to the directory's run id", resolved=resolved)
    try:
        complete = resolved_of(build_config(resolved, Runtime()))
    except (TypeError, KeyError, NasBenchError) as e:
        return RunCheck("corrupt", f"config.json does not describe a run ({e})", resolved=resolved)
    if complete != resolved:  # e.g. written before ``threads`` was recorded: this toolkit computes another run
        missing = sorted(complete.keys() - resolved.keys()) or [k for k, _, _ in config_differences(resolved, complete)]
        return RunCheck("corrupt", f"config.json lacks settings this toolkit records ({', '.join(missing)})",
                        resolved=resolved)
    result_path = run_dir / "result.json"
    if result_path.exists():
        try:
            result = _read_json_dict(result_path)
        except (OSError, ValueError) as e:
            return RunCheck("corrupt", f"result.json unreadable ({type(e).__name__})", resolved=resolved)
        if result.get("version") != RESULT_VERSION:
            raise IncompatibleResults(
                f"{result_path} has result version {result.get('version')!r}; this toolkit writes version "
                f"{RESULT_VERSION}",
                "sweep into a new --out directory, or use the toolkit version that wrote it")
        try:
            expected = build_config(resolved, Runtime()).identity()
        except (TypeError, KeyError, NasBenchError) as e:
            return RunCheck("corrupt", f"config.json does not describe a run ({e})", resolved=resolved)
        if result.get("config") != expected:
            return RunCheck("corrupt", "result.json belongs to a different configuration", resolved=resolved)
        if problem := _result_problem(result, resolved["method"]):
            return RunCheck("corrupt", problem, resolved=resolved)
        if resolved["method"] != "standalone":
            bad = [t for t in ONESHOT_TABLES if not _parquet_readable(run_dir / f"{t}.parquet")]
            if bad:
                return RunCheck("corrupt", f"{', '.join(bad)}.parquet missing or unreadable",
                                resolved=resolved)
        return RunCheck("done", result=result, resolved=resolved)
    if (run_dir / "error.json").exists():
        try:
            return RunCheck("failed", error=_read_json_dict(run_dir / "error.json"), resolved=resolved)
        except (OSError, ValueError) as e:
            return RunCheck("corrupt", f"error.json unreadable ({type(e).__name__})", resolved=resolved)
    from benchmark.checkpoint import verify

    try:
        found = verify(run_dir / "checkpoint.pt", "")
    except NasBenchError as e:  # no file whose SHA-256 is recorded: never resumed from
        return RunCheck("corrupt", e.problem, resolved=resolved)
    detail = "" if found is None else found.note or f"interrupted, resumes from {found.path.name}"
    return RunCheck("pending", detail, resolved=resolved)


def _result_problem(result: dict[str, Any], method: str) -> str | None:
    """Why a result.json cannot be indexed (a key the index reads is missing or mistyped), else None."""
    missing = [k for k in RESULT_KEYS["standalone" if method == "standalone" else "oneshot"] if k not in result]
    if missing:
        return f"result.json lacks {', '.join(missing)}"
    if method != "standalone" and not isinstance(result["best_gt"], dict):
        return "result.json has a best_gt that is not a mapping"
    return None


def _parquet_readable(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
        return True
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        return False


# ---------------------------------------------------------------------------------------------- running
def record_failure(run_dir: Path, kind: str, message: str, trace: str) -> dict[str, Any]:
    """Write ``error.json`` (type, message, traceback, where and when) and return it."""
    error = {"type": kind, "message": message, "traceback": trace, "host": socket.gethostname(),
             "pid": os.getpid(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "toolkit_version": benchmark.__version__}
    write_json(run_dir / "error.json", error)
    return error


def execute_run(results: str, run_id_: str, runtime: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) ``RESULTS/runs/<run_id>`` from its ``config.json``; the per-run function of every
    executor. An exception becomes ``error.json`` and a ``failed`` outcome; it is never raised.

    Returns ``{"run_id", "status": "done" | "failed", "seconds", "error"}``.
    """
    run_dir = Path(results) / RUNS_DIR / run_id_
    t0 = time.perf_counter()
    (run_dir / "error.json").unlink(missing_ok=True)
    with open(run_dir / "log.txt", "a", buffering=1) as log_file:
        def log(line: str) -> None:
            log_file.write(f"{time.strftime('%H:%M:%S')} {line}\n")

        try:
            build_run(read_json(run_dir / "config.json"), Runtime(**runtime), run_dir, log).run()
            error = None
        except Exception as e:  # noqa: BLE001 - a failing run is recorded and the sweep goes on
            error = record_failure(run_dir, type(e).__name__, str(e), traceback.format_exc())
            log(f"failed: {type(e).__name__}: {e}")
    return {"run_id": run_id_, "status": "failed" if error else "done", "seconds": time.perf_counter() - t0,
            "error": None if error is None else f"{error['type']}: {error['message']}"}
