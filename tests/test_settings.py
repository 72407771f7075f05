"""Preset overrides (``benchmark.settings``): one parser for ``--set KEY=VALUE`` text and typed sweep-config
values, used by every driver's presets, the standalone runs and the sweep's ``set``; one preset base
(``benchmark.presets_base``): every shared field declared once, one ``get_preset(name, overrides)`` shape."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import benchmark
from benchmark.bsnas.presets import PRESETS as BSNAS_PRESETS
from benchmark.bsnas.presets import BSNASPreset
from benchmark.bsnas.presets import get_preset as bsnas_get_preset
from benchmark.darts.presets import (
    RETRAIN_PRESETS,
    SEARCH_PRESETS,
    RetrainPreset,
    SearchPreset,
    get_retrain_preset,
)
from benchmark.darts.presets import get_search_preset as darts_get_preset
from benchmark.errors import NasBenchError
from benchmark.imagenet.presets import PRESETS as MOBILENET_PRESETS
from benchmark.imagenet.presets import MobileNetPreset
from benchmark.imagenet.presets import get_preset as mobilenet_get_preset
from benchmark.presets import PRESETS, Preset, get_preset
from benchmark.presets_base import NamedPreset
from benchmark.search.evolution import SETTINGS
from benchmark.search.selection import EvolutionPreset
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


# -------------------------------------------------------------------------------------- one preset base
FAMILIES = {  # every preset family: its class, its named presets and its get_preset
    "nb201": (Preset, PRESETS, get_preset),
    "darts search": (SearchPreset, SEARCH_PRESETS, darts_get_preset),
    "darts retrain": (RetrainPreset, RETRAIN_PRESETS, get_retrain_preset),
    "mobilenet": (MobileNetPreset, MOBILENET_PRESETS, mobilenet_get_preset),
    "bsnas": (BSNASPreset, BSNAS_PRESETS, bsnas_get_preset),
    "standalone": (StandalonePreset, STANDALONE_PRESETS, get_standalone_preset),
}
ONE_SHOT = ("nb201", "darts search", "mobilenet", "bsnas")


def _declared(cls: type) -> dict[str, dataclasses.Field]:
    """The fields ``cls`` declares itself (not only inherits)."""
    own = inspect.get_annotations(cls)
    return {f.name: f for f in dataclasses.fields(cls) if f.name in own}


def _preset_classes() -> list[type]:
    """Every preset class of the package, found by importing each of its modules: the dataclasses that
    extend :class:`NamedPreset` or are named ``*Preset``, and every dataclass they extend."""
    found = []
    for info in pkgutil.walk_packages(benchmark.__path__, "benchmark."):
        module = importlib.import_module(info.name)
        found += [c for c in vars(module).values() if isinstance(c, type) and c.__module__ == info.name
                  and dataclasses.is_dataclass(c) and (issubclass(c, NamedPreset) or c.__name__.endswith("Preset"))]
    return list(dict.fromkeys(b for c in found for b in c.__mro__ if dataclasses.is_dataclass(b)))


PRESET_CLASSES = _preset_classes()


def _origin(cls: type, name: str) -> type:
    """The base that first declares field ``name`` of ``cls``."""
    return [c for c in cls.__mro__ if name in inspect.get_annotations(c)][-1]


@pytest.mark.parametrize("cls", PRESET_CLASSES, ids=lambda c: c.__name__)
def test_a_preset_redeclares_a_base_field_only_to_change_its_default(cls):
    """A field declared in a base is declared again below it only with a different default, never with
    another type: its name, type and comment live in one place."""
    for name, field in _declared(cls).items():
        bases = [b for b in cls.__mro__[1:] if dataclasses.is_dataclass(b) and name in _declared(b)]
        if bases:
            inherited = _declared(bases[0])[name]
            assert field.type == inherited.type, (cls.__name__, name, field.type, inherited.type)
            assert field.default != inherited.default, f"{cls.__name__}.{name} repeats {bases[0].__name__}'s"


def test_no_two_preset_classes_declare_a_field_apart():
    """Every field of every preset class of the package starts in one class: a field two families share
    comes from a base both extend (benchmark.presets_base, benchmark.search.selection, the families' network
    and ImageNet bases), never from two declarations of one name."""
    assert {cls for cls, _, _ in FAMILIES.values()} <= set(PRESET_CLASSES)
    origins: dict[str, set[str]] = {}
    for cls in PRESET_CLASSES:
        for f in dataclasses.fields(cls):
            origins.setdefault(f.name, set()).add(_origin(cls, f.name).__qualname__)
    assert {name: sorted(where) for name, where in origins.items() if len(where) > 1} == {}


def test_the_one_shot_searches_share_the_optimiser_and_evaluation_fields():
    shared = set.intersection(*({f.name for f in dataclasses.fields(FAMILIES[s][0])} for s in ONE_SHOT))
    assert {"name", "batch_size", "lr", "momentum", "weight_decay", "n_val", "bn_eval", "eval_batch_size"} <= shared


def test_the_evolution_fields_are_the_evolution_settings():
    assert tuple(f.name for f in dataclasses.fields(EvolutionPreset)) == SETTINGS


def test_every_family_resolves_a_preset_through_one_signature():
    """``get_preset(name, overrides=None)`` in every family (the DARTS search and retraining each have one)."""
    shapes = set()
    for family, (cls, presets, get) in FAMILIES.items():
        signature = inspect.signature(get)
        shapes.add(tuple((p.name, p.kind, p.default, p.annotation) for p in signature.parameters.values()))
        assert signature.return_annotation == cls.__name__, family
        for name, preset in presets.items():
            assert get(name) == preset and get(name, {}) == preset and type(preset) is cls
        with pytest.raises(NasBenchError, match="unknown .*preset 'bogus'") as e:
            get("bogus")
        assert e.value.fix == f"choose one of: {', '.join(presets)}"
    assert shapes == {(("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty, "str"),
                       ("overrides", inspect.Parameter.POSITIONAL_OR_KEYWORD, None,
                        "Mapping[str, Any] | None"))}
