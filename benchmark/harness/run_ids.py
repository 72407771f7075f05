"""Run ids of results recorded before the resolved config gained settings, mapped to today's run ids.

Since some results were recorded, the resolved config (``config.json``, hashed into the run id) gained
``threads`` (every run) and ``preset.eval_autocast`` (one-shot runs), so today's code gives the same sweep
entry another run id. :func:`run_id_map` pairs each recorded run with the run today's sweep configs plan
for the same entry (method, criterion, normalization, expand, dataset, seed, preset, arch) and proves the
pairing: the recorded config must equal the planned one minus exactly those settings, at the values today's
code fills in (:data:`ADDED`). A recorded run no config plans is completed the way the harness reads an old
``config.json`` (``build_config`` then ``resolved_of``) and checked the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.harness.config import SweepConfig
from benchmark.harness.runs import RUNS_DIR, RunSpec, Runtime, build_config
from benchmark.identity import config_differences, resolved_of, run_id
from benchmark.io import read_json

# settings (dotted keys) a resolved config gained after the first recorded results, with the value today's
# code gives them when a sweep config does not say otherwise; per kind of run
ADDED: dict[str, dict[str, Any]] = {"standalone": {"threads": 1},
                                    "oneshot": {"threads": 1, "preset.eval_autocast": False}}
ENTRY = ("method", "criterion", "normalization", "expand", "dataset", "seed", "preset", "arch")
COLUMNS = ("old_run_id", "new_run_id", "status", *ENTRY, "planned_by")


def entry_of(resolved: dict[str, Any]) -> tuple[Any, ...]:
    """The sweep entry a resolved config stands for: its :data:`ENTRY` fields (the preset by name)."""
    return tuple(resolved.get("preset", {}).get("name") if k == "preset" else resolved.get(k) for k in ENTRY)


def without_added(resolved: dict[str, Any]) -> dict[str, Any]:
    """``resolved`` without the :data:`ADDED` settings of its kind; refused unless each is present with
    the value listed there (so a changed default cannot pass unnoticed)."""
    added = ADDED["standalone" if resolved["method"] == "standalone" else "oneshot"]
    out = copy.deepcopy(resolved)
    for dotted, value in added.items():
        *parents, key = dotted.split(".")
        holder = out
        for p in parents:
            holder = holder[p]
        if key not in holder or holder[key] != value:
            raise NasBenchError(f"{dotted} = {holder.get(key)!r} in today's resolved config, not {value!r}",
                                "update ADDED in benchmark/harness/run_ids.py and the mapping's documentation")
        del holder[key]
    return out


def _planned(configs: Sequence[SweepConfig]) -> dict[tuple[Any, ...], tuple[RunSpec, list[str]]]:
    """Each sweep entry the configs plan, with its run and the configs (file stems) that plan it."""
    planned: dict[tuple[Any, ...], tuple[RunSpec, list[str]]] = {}
    for config in configs:
        for spec in config.runs():
            key = entry_of(spec.resolved)
            known, names = planned.setdefault(key, (spec, []))
            if known.run_id != spec.run_id:
                raise NasBenchError(f"sweep entry {key} is planned as runs {known.run_id} and {spec.run_id}",
                                    "map runs over configs that agree on every setting")
            names.append(Path(config.source).stem)
    return planned


def run_id_map(results: str | Path, configs: Sequence[SweepConfig]) -> pd.DataFrame:
    """One row per run directory of ``results`` (sorted by old run id): its recorded id, the id today's
    code gives its sweep entry, ``done``/``pending``, the entry's fields and the configs that plan it
    (``;``-joined, empty when none does). Raises :class:`NasBenchError` when a recorded config is not the
    new one minus :data:`ADDED`, or when two runs map to one new id."""
    planned = _planned(configs)
    rows = []
    for run_dir in sorted(p for p in (Path(results) / RUNS_DIR).iterdir() if p.is_dir()):
        old = read_json(run_dir / "config.json")
        if run_id(old) != run_dir.name:
            raise NasBenchError(f"{run_dir}/config.json does not hash to its folder's name", "restore the folder")
        completed = resolved_of(build_config(old, Runtime()))  # how the harness reads an old config.json
        spec, names = planned.get(entry_of(old), (RunSpec.of(completed), []))
        if (diff := config_differences(old, without_added(spec.resolved))):
            raise NasBenchError(f"{run_dir.name} differs from today's run {spec.run_id} in more than the added "
                                f"settings: {diff[:3]}", "it is not the same sweep entry; do not map it")
        if completed != spec.resolved:
            raise NasBenchError(f"{run_dir.name}: the harness completes its config.json to another run than "
                                f"{spec.run_id}: {config_differences(completed, spec.resolved)[:3]}",
                                "update ADDED to what today's code adds")
        status = "done" if (run_dir / "result.json").exists() else "pending"
        rows.append({"old_run_id": run_dir.name, "new_run_id": spec.run_id, "status": status,
                     **dict(zip(ENTRY, entry_of(old))), "planned_by": ";".join(dict.fromkeys(names))})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    if table["new_run_id"].duplicated().any():
        raise NasBenchError("two recorded runs map to one run id of today's code", "inspect their configs")
    return table
