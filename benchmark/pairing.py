"""Like-for-like comparison of two one-shot methods: the baseline ranks exactly the architectures the other
method ranked, with its own weights of the same epoch, on the same validation images and BatchNorm
recalibration batches.

SE-NAS (Sec. 4.2, Figs. 7-8) compares its tau over its shrunk space with SPOS's tau over the whole space;
the two numbers then cover different architectures. Here each SE-NAS (or BS-NAS) ranking -- every tau
epoch's space and the final space -- is ranked again by the baseline run of the same seed, dataset and
preset (``spos``, ``spos_avg``), from the weights that baseline kept at that epoch (``snapshots/``), so
both taus cover the same architectures. The rows give, per point and method: tau, its bootstrap CI, the
shared noise ceiling, the bias diagnostics and the paired bootstrap CI of the difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from benchmark.checkpoint import read_checkpoint_file
from benchmark.errors import NasBenchError
from benchmark.io import read_json, write_parquet
from benchmark.methods.ranking import ranking_frame, ranking_path, ranking_report, snapshot_path
from benchmark.metrics.precision import paired_difference_ci
from benchmark.resumable import cpu_threads
from benchmark.spaces.nb201 import parse_arch

BASELINES = ("spos", "spos_avg")  # methods that keep snapshots and rank another method's architectures
PAIRED_DIR = "paired"
PAIR_KEYS = ("dataset", "seed", "space", "preset")


def _result(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "result.json"
    if not path.is_file():
        raise NasBenchError(f"{run_dir} holds no finished run (no result.json)",
                            "finish it with `nasbench run` first, or pass the folder of a finished run")
    try:
        result = read_json(path)
    except ValueError:
        raise NasBenchError(f"{path} is not valid JSON", "rerun that run into a fresh --out") from None
    if not isinstance(result, dict) or "config" not in result or "tau_curve" not in result:
        raise NasBenchError(f"{path} is not a one-shot run's result", "pass the folder of a finished one-shot run")
    return result


def rerun_command(config: dict[str, Any], out: Path | str) -> str:
    """The ``nasbench run`` command that makes a baseline run of ``config`` (for error messages)."""
    preset = config["preset"]
    return (f"nasbench run {config['method']} --dataset {config['dataset']} --preset {preset['name']} "
            f"--seed {config['seed']} --out {out}")


def check_partners(ranked: dict[str, Any], baseline: dict[str, Any], baseline_dir: Path) -> None:
    """Refuse a pair that would not be like-for-like: another dataset, seed, space, preset or data."""
    a, b = ranked["config"], baseline["config"]
    if b["method"] not in BASELINES:
        raise NasBenchError(f"{baseline_dir} is a {b['method']} run; the baseline of a like-for-like pair is "
                            f"one of {', '.join(BASELINES)}",
                            f"make one: {rerun_command({**a, 'method': 'spos'}, baseline_dir)}")
    differ = [k for k in PAIR_KEYS if a.get(k) != b.get(k)]
    fa, fb = ranked.get("data_fingerprint"), baseline.get("data_fingerprint")
    if fa and fb and fa != fb and not differ:
        differ.append("validation images / recalibration batches")
    if differ:
        raise NasBenchError(f"the {b['method']} run in {baseline_dir} differs from the {a['method']} run in "
                            f"{', '.join(differ)}",
                            f"make a matching one: {rerun_command({**a, 'method': b['method']}, 'DIR')}")


def ranked_sets(run_dir: Path, result: dict[str, Any]) -> list[tuple[str, int, int, pd.DataFrame]]:
    """(point, epoch, space size, ranking) of every ranking a run made: each tau epoch, then the final."""
    sets = []
    for row in result["tau_curve"]:
        path = ranking_path(run_dir, int(row["epoch"]))
        if not path.is_file():
            raise NasBenchError(f"{path} is missing: the run predates kept rankings",
                                "rerun it with this toolkit into a fresh --out")
        sets.append((f"epoch {row['epoch']}", int(row["epoch"]), int(row["space_size"]), pd.read_parquet(path)))
    final_epoch = int(result["config"]["preset"]["stages"]) * int(result["config"]["preset"]["epochs_per_stage"])
    sets.append(("final", final_epoch, int(result["final_space_size"]),
                 pd.read_parquet(Path(run_dir) / "ranking.parquet")))
    return sets


def _row(point: str, epoch: int, space: int, role: str, method: str, ranking: pd.DataFrame,
         val_images: int, seed: int) -> dict[str, Any]:
    return {"point": point, "epoch": epoch, "space_size": space, "role": role, "method": method,
            **ranking_report(ranking, val_images, seed)}


def _evaluate(run: Any, config: dict[str, Any], run_dir: Path, epoch: int, ranking: pd.DataFrame,
              point: str) -> list[float]:
    """The baseline's accuracies, from its weights of ``epoch``, on the architectures of ``ranking``."""
    fix = f"rerun the baseline into a fresh --out: {rerun_command(config, run_dir)}"
    state = read_checkpoint_file(snapshot_path(run_dir, epoch), run.device, fix)
    run.model.load_state_dict(state["model"])
    return run.evaluate([parse_arch(a) for a in ranking["arch"]], f"{config['method']} on {point}")


def pair(ranked_dir: Path, baseline_dir: Path, build_baseline: Callable[[dict[str, Any], Path], Any],
         ) -> pd.DataFrame:
    """Rank every architecture set of the run in ``ranked_dir`` with the baseline run in ``baseline_dir``.

    ``build_baseline(config, run_dir)`` returns the baseline's run object (not yet set up); it is set up
    (data, model; nothing is trained or written) and evaluated from its snapshot of each epoch.
    Returns two rows per point (the ranked run's own tau, the baseline's), with ``diff`` = baseline minus
    ranked and its paired bootstrap interval on the baseline rows.
    """
    ranked_dir, baseline_dir = Path(ranked_dir), Path(baseline_dir)
    ranked, baseline = _result(ranked_dir), _result(baseline_dir)
    check_partners(ranked, baseline, baseline_dir)
    sets = ranked_sets(ranked_dir, ranked)
    missing = [e for _, e, _, _ in sets if not snapshot_path(baseline_dir, e).is_file()]
    if missing:
        raise NasBenchError(f"the {baseline['config']['method']} run in {baseline_dir} kept no weights of "
                            f"epoch(s) {sorted(set(missing))}",
                            f"rerun it with this toolkit: {rerun_command(baseline['config'], baseline_dir)}")
    run = build_baseline(baseline["config"], baseline_dir)
    run.progress = False
    with cpu_threads(int(baseline["config"].get("threads", 1))):
        run.setup()
        accuracies = [_evaluate(run, baseline["config"], baseline_dir, epoch, own, point)
                      for point, epoch, _, own in sets]
    seed, val_images = int(ranked["config"]["seed"]), len(run.data.val_y)
    rows = []
    for (point, epoch, space, own), acc in zip(sets, accuracies):
        theirs = ranking_frame(list(own["arch"]), acc, run.gt, ranked["config"]["dataset"])
        mine = _row(point, epoch, space, "ranked", ranked["config"]["method"], own, val_images, seed)
        other = _row(point, epoch, space, "baseline", baseline["config"]["method"], theirs, val_images, seed)
        lo, hi = paired_difference_ci(theirs["supernet_acc"], own["supernet_acc"], own["gt_acc"], seed=seed)
        other.update(diff=other["tau"] - mine["tau"], diff_ci_low=lo, diff_ci_high=hi)
        rows += [mine, other]
    frame = pd.DataFrame(rows)
    for key in ("dataset", "seed", "preset"):
        value = ranked["config"][key]
        frame.insert(0, key, value["name"] if key == "preset" else value)
    frame.insert(0, "ranked_run", ranked_dir.name)
    frame.insert(1, "baseline_run", baseline_dir.name)
    return frame


def cached_pair(ranked_dir: Path, baseline_dir: Path, build_baseline: Callable[[dict[str, Any], Path], Any],
                ) -> pd.DataFrame:
    """:func:`pair`, kept in ``<ranked_dir>/paired/<baseline folder>.parquet`` (written atomically) and read
    from there when both runs are unchanged since."""
    path = Path(ranked_dir) / PAIRED_DIR / f"{Path(baseline_dir).name}.parquet"
    sources = [Path(d) / "result.json" for d in (ranked_dir, baseline_dir)]
    if path.is_file() and all(path.stat().st_mtime >= s.stat().st_mtime for s in sources):
        return pd.read_parquet(path)
    frame = pair(ranked_dir, baseline_dir, build_baseline)
    write_parquet(path, frame)
    return frame
