"""Runs of a sweep: ids, directories, status, and :func:`execute_run`, the one per-run function every
executor calls.

A run is identified by its *resolved config* (``config.json`` in its directory): for one-shot methods
``RunConfig.identity()`` (method, dataset, the full preset, seed, space and, for senas only, criterion,
normalization and expand); for ``standalone`` the architecture, dataset, seed and full standalone preset.
Its id is the first 12 hex digits of the SHA-256 of that dict as canonical JSON (sorted keys, no spaces),
so the same config always lands in the same directory; paths and the device are not part of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchmark
from benchmark.errors import NasBenchError
from benchmark.io import read_json, write_json

RUNS_DIR = "runs"
SENAS_ONLY = ("criterion", "normalization", "expand")
ONESHOT_TABLES = ("ranking", "tau_curve", "operators")
# what the results index reads from a finished run's result.json (benchmark.harness.index.index_row)
RESULT_KEYS = {"oneshot": ("tau", "spearman", "final_space_size", "n_ranked", "best_arch", "best_gt"),
               "standalone": ("val_acc", "test_acc")}


def run_id(resolved: dict[str, Any]) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of the resolved config (stable across machines)."""
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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


def describe_config(r: dict[str, Any]) -> str:
    """A short human label of a resolved config (or a run's identity), e.g. ``senas[random] cifar10 seed 1
    (tiny)``; missing fields are left out (the DARTS search names no method or dataset)."""
    what = str(r.get("method", "search"))
    if "criterion" in r:
        extras = [str(r["criterion"])] + ([] if r.get("normalization", "mean") == "mean" else
                                          [str(r["normalization"])]) + ([] if r.get("expand", True) else ["no expand"])
        what += f"[{', '.join(extras)}]"
    if "arch" in r:
        what += f" {r['arch']}"
    preset = r.get("preset")
    name = preset.get("name") if isinstance(preset, dict) else None
    return " ".join([what, *([str(r["dataset"])] if "dataset" in r else []), f"seed {r.get('seed')}",
                     *([f"({name})"] if name else [])])


def resolved_from_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """An identity as a resolved config: without the SE-NAS-only fields for other one-shot methods (they
    do not apply there), as JSON reads it back (lists, not tuples)."""
    resolved = json.loads(json.dumps(identity))
    if resolved.get("method") not in ("senas", "standalone", None):
        for key in SENAS_ONLY:
            resolved.pop(key, None)
    return resolved


def oneshot_resolved(cfg: Any) -> dict[str, Any]:
    """The resolved config of a one-shot ``RunConfig``: its identity, without the SE-NAS-only fields for
    other methods (they do not apply there)."""
    resolved = cfg.identity()
    if resolved["method"] != "senas":
        for key in SENAS_ONLY:
            resolved.pop(key, None)
    return resolved


def resolved_of(cfg: Any) -> dict[str, Any]:
    """The resolved config of any run's config (one-shot, standalone, DARTS search): the dict a sweep
    stores as ``config.json`` and :func:`run_id` hashes."""
    return resolved_from_identity(cfg.identity())


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix or "config": d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def config_differences(theirs: Any, mine: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, theirs, mine)`` for every setting that differs (nested keys dotted: ``preset.lr``)."""
    a, b = _flat(theirs), _flat(mine)
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def other_config_error(where: Path, theirs: Any, mine: dict[str, Any], fix: str) -> NasBenchError:
    """The one-line refusal of a folder that holds another configuration's run: both configurations (short
    descriptions and run ids) and the settings that differ; a thread count of its own (it changes results)."""
    diff = config_differences(theirs, mine)
    if [k for k, _, _ in diff] == ["threads"]:
        _, t, m = diff[0]
        return NasBenchError(f"{where} holds a run computed with threads={t}; this one asks for threads={m} "
                             "(the CPU thread count changes the result, so it is part of the configuration)",
                             f"resume it with --threads {t} (or `threads: {t}`); {fix}")
    shown = ", ".join(f"{k}: {t!r} there, {m!r} here" for k, t, m in diff[:3]) + \
        (f" and {len(diff) - 3} more" if len(diff) > 3 else "")
    there = describe_config(theirs) if isinstance(theirs, dict) else "unreadable"
    id_there = run_id(theirs) if isinstance(theirs, dict) else "?"
    return NasBenchError(f"{where} belongs to a different configuration: it holds {there} (run id {id_there}), "
                         f"not {describe_config(mine)} (run id {run_id(mine)}); they differ in {shown}", fix)


def build_config(resolved: dict[str, Any], runtime: Runtime) -> Any:
    """The ``RunConfig`` or ``StandaloneConfig`` a resolved config stands for."""
    from benchmark.methods import RunConfig
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
    from benchmark.methods import METHODS
    from benchmark.standalone import METHOD, StandaloneRun

    cfg = build_config(resolved, runtime)
    cls = StandaloneRun if resolved["method"] == METHOD else METHODS.get(resolved["method"])
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
