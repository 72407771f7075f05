"""Preset overrides (``benchmark.settings``): one parser for ``--set KEY=VALUE`` text and typed sweep-config
values, used by every driver's presets, the standalone runs and the sweep's ``set``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from benchmark.bsnas.presets import PRESETS as BSNAS_PRESETS
from benchmark.darts.presets import RETRAIN_PRESETS, SEARCH_PRESETS
from benchmark.errors import NasBenchError
from benchmark.imagenet.presets import PRESETS as MOBILENET_PRESETS
from benchmark.presets import PRESETS, get_preset
from benchmark.settings import parse_overrides, typed_overrides
from benchmark.standalone import STANDALONE_PRESETS, StandalonePreset, get_standalone_preset

EVERY_PRESET = [p for registry in (PRESETS, MOBILENET_PRESETS, BSNAS_PRESETS, SEARCH_PRESETS, RETRAIN_PRESETS,
                                   STANDALONE_PRESETS) for p in registry.values()]


def as_text(value: Any) -> str:
    """How ``value`` is written after ``--set KEY=``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)


def typed(preset: Any) -> list[tuple[str, Any, type]]:
    return [(k, v, type(v)) for k, v in dataclasses.asdict(preset).items()]


@pytest.mark.parametrize("preset", EVERY_PRESET, ids=lambda p: f"{type(p).__name__}-{p.name}")
def test_every_value_written_as_text_or_typed_parses_back_to_itself(preset):
    values = {k: v for k, v in dataclasses.asdict(preset).items() if k != "name"}
    assert typed(parse_overrides(preset, {k: as_text(v) for k, v in values.items()})) == typed(preset)
    assert typed(parse_overrides(preset, values)) == typed(preset)


def test_text_and_typed_forms_give_the_same_preset():
    text = get_preset("tiny", {"nesterov": "no", "bn_track": "YES", "lr": "1", "max_train": "null",
                               "tau_epochs": "2, 4,", "weight_avg_k": "None"})
    yaml = get_preset("tiny", {"nesterov": False, "bn_track": True, "lr": 1, "max_train": None,
                               "tau_epochs": [2, 4], "weight_avg_k": None})
    assert typed(text) == typed(yaml)
    assert (text.nesterov, text.bn_track, text.max_train, text.tau_epochs) == (False, True, None, (2, 4))
    assert text.lr == 1.0 and isinstance(yaml.lr, float)  # a YAML int for a float field is that float


def test_standalone_presets_use_the_same_parser():
    p = get_standalone_preset("tiny", {"nesterov": "no", "lr": 1, "max_test": "null", "epochs": "2"})
    assert (p.nesterov, p.lr, p.max_test, p.epochs) == (False, 1.0, None, 2) and isinstance(p.lr, float)


@pytest.mark.parametrize("overrides, where, problem, fix", [
    ({"epochz": "3"}, "", "unknown setting 'epochz'", "allowed keys: C, N"),
    ({"epochz": 3}, "standalone.set", "unknown setting 'standalone.set.epochz'",
     "allowed keys under standalone.set"),
    ({"epochs": "many"}, "", "setting epochs = 'many' is not a valid int", "give epochs a int value"),
    ({"epochs": 2.5}, "set", "setting set.epochs = 2.5 is not a valid int", "int"),
    ({"epochs": True}, "set", "setting set.epochs = True is not a valid int", "int"),
    ({"lr": "fast"}, "", "lr = 'fast' is not a valid float", "float"),
    ({"nesterov": "maybe"}, "", "nesterov = 'maybe' is not a valid bool", "bool"),
    ({"nesterov": 1}, "set", "set.nesterov = 1 is not a valid bool", "bool"),
    ({"max_train": "all"}, "", "max_train = 'all' is not a valid int or null", "int or null"),
])
def test_bad_overrides_are_one_line_errors_naming_the_key_path(overrides, where, problem, fix):
    with pytest.raises(NasBenchError) as e:
        typed_overrides(StandalonePreset, overrides, where)
    assert problem in e.value.problem and fix in e.value.fix and "\n" not in str(e.value)


def test_name_is_not_a_setting():
    with pytest.raises(NasBenchError, match="unknown setting 'name'"):
        parse_overrides(PRESETS["tiny"], {"name": "paper"})
