"""Like-for-like pairs of a results directory (:mod:`benchmark.pairing`): every finished shrinking run
(SE-NAS, BS-NAS) is ranked again by each finished baseline run (``spos``, ``spos_avg``) of the same
dataset, seed, space and preset. All pairs are written to ``RESULTS/paired.parquet``; each pair is cached
in its shrinking run's ``paired/`` folder, so a later sweep evaluates only new pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from benchmark.harness.runs import Runtime, build_run
from benchmark.io import read_json, write_parquet
from benchmark.pairing import BASELINES, PAIR_KEYS, cached_pair

PAIRED_FILE = "paired.parquet"
UNPAIRED = ("standalone", *BASELINES)


def _key(config: dict[str, Any]) -> tuple:
    return tuple(repr(config.get(k)) for k in PAIR_KEYS)


def pair_results(results: Path, index: pd.DataFrame, runtime: Runtime,
                 log: Callable[[str], None] = lambda s: None) -> pd.DataFrame:
    """Pair every finished shrinking run of ``index`` with its baselines; write and return the rows."""
    results = Path(results)
    done = index[index["status"] == "done"]
    configs = {row.run_id: read_json(results / row.run_dir / "result.json")["config"]
               for row in done.itertuples() if row.method != "standalone"}
    baselines: dict[tuple, list[Any]] = {}
    for row in done[done["method"].isin(BASELINES)].itertuples():
        baselines.setdefault(_key(configs[row.run_id]), []).append(row)

    def build(config: dict[str, Any], run_dir: Path) -> Any:
        return build_run(config, runtime, run_dir, log=lambda s: None)

    frames, lonely = [], 0
    for row in done[~done["method"].isin(UNPAIRED)].itertuples():
        partners = baselines.get(_key(configs[row.run_id]), [])
        lonely += not partners
        for partner in partners:
            frames.append(cached_pair(results / row.run_dir, results / partner.run_dir, build))
    if lonely:
        log(f"{lonely} shrinking run(s) have no baseline of the same dataset, seed and preset: add "
            f"{' or '.join(BASELINES)} to the sweep's methods for like-for-like taus")
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_parquet(results / PAIRED_FILE, frame)
    return frame
