"""Preset overrides (``benchmark.settings``): one parser for ``--set KEY=VALUE`` text and typed sweep-config
values, used by every driver's presets, the standalone runs and the sweep's ``set``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from benchmark.bsnas.presets import PRESETS as BSNAS_PRESETS
from benchmark.bsnas.presets import get_preset as bsnas_get_preset
from benchmark.darts.presets import RETRAIN_PRESETS, SEARCH_PRESETS
from benchmark.darts.presets import get_search_preset as darts_get_preset
from benchmark.errors import NasBenchError
from benchmark.imagenet.presets import PRESETS as MOBILENET_PRESETS
from benchmark.imagenet.presets import get_preset as mobilenet_get_preset
from benchmark.presets import PRESETS, get_preset
from benchmark.settings import parse_overrides, typed_overrides
from benchmark.standalone import STANDALONE_PRESETS, StandalonePreset, get_standalone_preset
from benchmark.vocabulary import BN_POLICIES

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


BN_PRESETS = {
    "nb201": lambda o: get_preset("tiny", o),
    "darts": lambda o: darts_get_preset("tiny", o),
    "mobilenet": lambda o: mobilenet_get_preset("tiny", o),
    "bsnas": lambda o: bsnas_get_preset("tiny", o),
}


@pytest.mark.parametrize("space", BN_PRESETS)
def test_every_driver_checks_bn_eval_against_the_one_vocabulary(space):
    make = BN_PRESETS[space]
    assert make({}).bn_eval in BN_POLICIES
    with pytest.raises(NasBenchError, match="unknown bn_eval 'bogus'") as e:
        make({"bn_eval": "bogus"})
    assert e.value.fix.startswith("choose one of: recalibrate, batch, tracked")
    assert make({"bn_eval": "recalibrate"}).bn_eval == "recalibrate"


def test_the_bn_and_normalisation_vocabularies_are_declared_once():
    """Only benchmark/vocabulary.py spells out the policy and normalisation names as a list."""
    package = Path(__file__).resolve().parents[1] / "benchmark"
    for literal in ('"mean", "range"', '"recalibrate", "batch"', '"tracked", "recalibrate"'):
        where = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py") if literal in p.read_text())
        assert where in ([], ["vocabulary.py"]), (literal, where)
