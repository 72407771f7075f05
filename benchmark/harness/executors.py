"""Executors: the same per-run function, :func:`~benchmark.harness.runs.execute_run`, called in this
process (``local``), in N worker processes (``local --workers N``: one GPU each when there are GPUs), or as
Ray tasks on a cluster (``ray``: an existing one, or a local one it starts; an optional extra imported only
here).

Each executor calls ``on_start(spec)`` when a run starts and ``on_finish(spec, outcome)`` when it ends,
with ``outcome = {"run_id", "status": "done" | "failed", "seconds", "error"}``; a run that dies without
writing its own ``error.json`` (a killed worker process, a lost Ray task) gets one written here.

The executor never changes a result: each run sets torch's CPU thread count from its own configuration
(``threads``, part of the run id; :func:`benchmark.resumable.cpu_threads`), whatever the worker count or
``OMP_NUM_THREADS`` of the process that runs it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmark.errors import NasBenchError
from benchmark.harness.runs import RUNS_DIR, RunSpec, Runtime, execute_run, record_failure

OnStart = Callable[[RunSpec], None]
OnFinish = Callable[[RunSpec, dict[str, Any]], None]
EXECUTORS = ("local", "ray")
POLL_S = 0.2
RAY_RETRIES = 3


def run_local(specs: Sequence[RunSpec], results: Path, runtime: Runtime, on_start: OnStart,
              on_finish: OnFinish) -> None:
    """One run after another, in this process."""
    for spec in specs:
        on_start(spec)
        on_finish(spec, execute_run(str(results), spec.run_id, runtime.as_dict()))


def worker_envs(workers: int) -> list[dict[str, str]]:
    """Environment of each worker slot: with GPUs, one visible GPU per slot (round robin over the GPUs
    this process sees); on CPU, the cores split evenly through ``OMP_NUM_THREADS`` (unless already set),
    which sizes only thread pools outside torch's intra-op one: a run sets that from its ``threads``."""
    import torch

    count = torch.cuda.device_count()
    if count:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [v.strip() for v in visible.split(",") if v.strip()][:count] if visible else \
            [str(i) for i in range(count)]
        return [{"CUDA_VISIBLE_DEVICES": ids[i % len(ids)]} for i in range(workers)]
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // workers))
    return [{"OMP_NUM_THREADS": threads} for _ in range(workers)]


def _exit_text(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit code {rc}"


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_bytes()[-n:].decode(errors="replace")
    except OSError:
        return ""


def _worker_outcome(results: Path, spec: RunSpec, rc: int, seconds: float) -> dict[str, Any]:
    """Outcome of a finished worker process, from what it left in the run directory."""
    run_dir = results / RUNS_DIR / spec.run_id
    outcome = {"run_id": spec.run_id, "status": "done", "seconds": seconds, "error": None}
    if (run_dir / "result.json").exists():
        return outcome
    if (run_dir / "error.json").exists():
        error = json.loads((run_dir / "error.json").read_text())
    else:
        error = record_failure(run_dir, "WorkerDied",
                               f"worker process ended with {_exit_text(rc)} before the run finished",
                               _tail(run_dir / "worker.log"))
    return {**outcome, "status": "failed", "error": f"{error['type']}: {error['message']}"}


def run_workers(specs: Sequence[RunSpec], results: Path, runtime: Runtime, workers: int, on_start: OnStart,
                on_finish: OnFinish, keep_fds: Sequence[int] = ()) -> None:
    """At most ``workers`` runs at once, each in its own ``python -m benchmark.harness.worker`` process
    (output in the run's ``worker.log``). ``keep_fds`` (the sweep's lock) stay open in the workers, so a
    worker that outlives a killed sweep still holds the results directory's lock."""
    envs = worker_envs(workers)
    queue = list(specs)
    free = list(range(workers))
    running: dict[int, tuple[subprocess.Popen, RunSpec, float, Any]] = {}
    try:
        while queue or running:
            while queue and free:
                slot, spec = free.pop(0), queue.pop(0)
                log = open(results / RUNS_DIR / spec.run_id / "worker.log", "ab")
                cmd = [sys.executable, "-m", "benchmark.harness.worker", str(results), spec.run_id,
                       json.dumps(runtime.as_dict())]
                proc = subprocess.Popen(cmd, env={**os.environ, **envs[slot]}, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        pass_fds=tuple(keep_fds))
                running[slot] = (proc, spec, time.perf_counter(), log)
                on_start(spec)
            time.sleep(POLL_S)
            for slot, (proc, spec, t0, log) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                log.close()
                del running[slot]
                free.append(slot)
                on_finish(spec, _worker_outcome(results, spec, rc, time.perf_counter() - t0))
    finally:
        for proc, _, _, log in running.values():
            proc.terminate()
            proc.wait()
            log.close()


def ray_address_answers(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a ``host:port`` or ``ray://host:port`` address where nothing listens, before ``ray.init``
    (which would otherwise retry for minutes)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise NasBenchError(f"Ray address {address!r} is not HOST:PORT or ray://HOST:PORT",
                            "pass e.g. --ray-address auto (on a cluster node), HEAD:6379 or ray://HEAD:10001")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise NasBenchError(f"no Ray cluster answers at {address} ({e.strerror or e})",
                            "start one with `ray start --head` (and `ray start --address HEAD:6379` on the "
                            "other nodes), or drop --ray-address to start a local cluster") from None


def ray_ready(address: str | None) -> None:
    """Refuse, before anything is written, a sweep that cannot reach Ray: Ray not installed, or an
    ``address`` where nothing answers."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise NasBenchError("--executor ray needs Ray, which is not installed",
                            "pip install 'nasbench-oneshot[distributed]' (ray>=2.9), "
                            "or use --executor local") from None
    if address not in (None, "auto", "local"):
        ray_address_answers(address)


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Join the cluster at ``address`` (``auto``: the one this node belongs to), or start a local one when
    ``address`` is None, and leave it at the end; a connection this process already holds is reused and
    kept. Entered before a sweep writes anything, so a cluster that does not answer leaves no trace."""
    ray_ready(address)
    import ray

    connected = not ray.is_initialized()
    if connected:
        try:
            ray.init(address=address, include_dashboard=False)
        except ConnectionError as e:
            if address is None:
                raise NasBenchError(f"could not start a local Ray cluster: {str(e).splitlines()[0]}",
                                    "start one with `ray start --head` and pass --ray-address auto") from None
            raise NasBenchError(f"no running Ray cluster found for --ray-address {address}",
                                "start one with `ray start --head` on this node, or drop --ray-address to "
                                "start a local cluster") from None
    try:
        yield
    finally:
        if connected:
            ray.shutdown()


def task_gpus(device: str, cluster_gpus: float) -> int:
    """GPUs one run asks Ray for: none on ``cpu``; one otherwise when the cluster has GPUs."""
    if device == "cpu":
        return 0
    if device == "cuda" and cluster_gpus < 1:
        raise NasBenchError("--device cuda, but the Ray cluster has no GPU",
                            "join a cluster with GPU nodes, or use --device cpu (or auto)")
    return int(cluster_gpus >= 1)


def run_ray(specs: Sequence[RunSpec], results: Path, runtime: Runtime, on_start: OnStart,
            on_finish: OnFinish, retries: int = RAY_RETRIES) -> None:
    """One Ray task per run (inside :func:`ray_session`), asking for the run's ``threads`` CPUs and
    :func:`task_gpus` GPUs, so a multi-GPU or multi-node cluster spreads the runs by itself. A task whose
    worker process dies (a killed process, a lost node) is run again by Ray up to ``retries`` times; the
    run resumes from its last checkpoint, so the result is the same.

    RESULTS must be a path every node sees (a shared file system), and every node needs the toolkit and
    the data (``$NASBENCH_DATA``).
    """
    import ray

    gpus = task_gpus(runtime.device, ray.cluster_resources().get("GPU", 0))
    task = ray.remote(max_retries=retries, retry_exceptions=False)(execute_run)
    pending: dict[Any, tuple[RunSpec, float]] = {}
    for spec in specs:
        cpus = int(spec.resolved.get("threads") or 1)
        ref = task.options(num_cpus=cpus, num_gpus=gpus).remote(str(results.resolve()), spec.run_id,
                                                                 runtime.as_dict())
        pending[ref] = (spec, time.perf_counter())
        on_start(spec)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        spec, t0 = pending.pop(done[0])
        try:
            outcome = ray.get(done[0])
        except Exception as e:  # noqa: BLE001 - a task out of retries is the run's failure
            message = str(e).strip().splitlines()
            error = record_failure(results / RUNS_DIR / spec.run_id, type(e).__name__,
                                   message[0] if message else "", str(e))
            outcome = {"run_id": spec.run_id, "status": "failed", "seconds": time.perf_counter() - t0,
                       "error": f"{error['type']}: {error['message']}"}
        on_finish(spec, outcome)
