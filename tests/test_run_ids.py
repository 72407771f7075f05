"""The committed ``results/tiny/run_ids.csv``: each committed run's id mapped to the id today's code gives
the same sweep entry, recomputed here from the committed configs (no training)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmark.errors import NasBenchError
from benchmark.harness import run_ids
from benchmark.harness.config import load_config
from benchmark.harness.run_ids import run_id_map
from benchmark.harness.runs import RUNS_DIR, Runtime, build_config
from benchmark.identity import config_differences, resolved_of, run_id
from benchmark.io import read_json

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "results" / "tiny"
MAP = TINY / "run_ids.csv"
CONFIGS = ("tiny", "tiny_seeds", "tiny_magnitude", "tiny_standalone")  # results/tiny/README.md's commands
# the documented rule (results/tiny/RUN_IDS.md): what today's resolved config has that a committed one lacks
ADDED_ONESHOT = [("preset.eval_autocast", None, False), ("threads", None, 1)]
ADDED_STANDALONE = [("threads", None, 1)]

pytestmark = pytest.mark.skipif(not MAP.exists(), reason="results/tiny/run_ids.csv not committed")


def configs():
    return [load_config(REPO / "benchmark" / "configs" / f"{name}.yaml") for name in CONFIGS]


def test_committed_map_is_what_todays_code_computes():
    table = run_id_map(TINY, configs())
    assert table.to_csv(index=False) == MAP.read_text()
    dirs = sorted(p.name for p in (TINY / RUNS_DIR).iterdir() if p.is_dir())
    assert list(table["old_run_id"]) == dirs and len(dirs) == 116
    assert table["new_run_id"].is_unique and not set(table["new_run_id"]) & set(dirs)
    # one-to-one with what the four commands plan today: every planned run is a committed, finished run
    planned = {spec.run_id for config in configs() for spec in config.runs()}
    mapped = table[table["planned_by"] != ""]
    assert set(mapped["new_run_id"]) == planned and len(mapped) == len(planned) == 111
    assert set(mapped["status"]) == {"done"}
    # the rest: runs an interrupted earlier sweep left unstarted (config.json only)
    left = table[table["planned_by"] == ""]
    assert set(left["status"]) == {"pending"} and len(left) == 5


def test_each_committed_config_is_todays_minus_the_added_settings():
    resolved = {spec.run_id: spec.resolved for config in configs() for spec in config.runs()}
    for row in run_id_map(TINY, configs()).itertuples():
        old = read_json(TINY / RUNS_DIR / row.old_run_id / "config.json")
        new = resolved.get(row.new_run_id) or resolved_of(build_config(old, Runtime()))
        assert run_id(new) == row.new_run_id and run_id(old) == row.old_run_id
        added = ADDED_STANDALONE if old["method"] == "standalone" else ADDED_ONESHOT
        assert config_differences(old, new) == added, row.old_run_id


def _copy_runs(tmp_path: Path, names: list[str]) -> Path:
    for name in names:
        shutil.copytree(TINY / RUNS_DIR / name, tmp_path / RUNS_DIR / name)
    return tmp_path


def test_a_run_of_another_configuration_is_not_mapped(tmp_path):
    results = _copy_runs(tmp_path, ["be76ef79f027", "9f7a60bd52f1"])
    path = results / RUNS_DIR / "9f7a60bd52f1" / "config.json"
    changed = {**read_json(path)}
    changed["preset"] = {**changed["preset"], "lr": 0.05}  # same sweep entry fields, another setting
    moved = results / RUNS_DIR / run_id(changed)
    path.parent.rename(moved)
    (moved / "config.json").write_text(json.dumps(changed))
    with pytest.raises(NasBenchError, match="more than the added settings"):
        run_id_map(results, configs())


def test_a_changed_default_of_an_added_setting_is_caught(tmp_path, monkeypatch):
    results = _copy_runs(tmp_path, ["be76ef79f027"])
    assert len(run_id_map(results, configs())) == 1
    monkeypatch.setitem(run_ids.ADDED, "standalone", {"threads": 2})
    with pytest.raises(NasBenchError, match="threads = 1"):
        run_id_map(results, configs())
