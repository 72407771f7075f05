"""Named presets and their ``--set key=value`` overrides, shared by every driver's ``presets`` module.

A preset is a frozen dataclass; an override is parsed by the field's annotation: ``int``, ``float``,
``bool`` (true/false/1/0), ``str``, ``X | None`` ("none" gives None) and ``tuple[X, ...]`` (comma
separated). Values that are not strings (already typed, e.g. from a sweep config) are taken as they are.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from benchmark.errors import NasBenchError

P = TypeVar("P")


def named_preset(presets: Mapping[str, P], name: str, label: str = "preset") -> P:
    """``presets[name]``, or a one-line error listing the names (``label`` names the kind of preset)."""
    if name not in presets:
        raise NasBenchError(f"unknown {label} {name!r}", f"choose one of: {', '.join(presets)}")
    return presets[name]


def parse_overrides(preset: P, overrides: Mapping[str, Any] | None) -> P:
    """``preset`` with ``key=value`` overrides parsed by the field types and applied (``name`` is fixed)."""
    if not overrides:
        return preset
    fields = {f.name: f for f in dataclasses.fields(preset) if f.name != "name"}
    hints = typing.get_type_hints(type(preset))
    parsed = {}
    for key, value in overrides.items():
        if key not in fields:
            raise NasBenchError(f"unknown setting {key!r}", f"use one of: {', '.join(fields)}")
        if not isinstance(value, str):
            parsed[key] = value
            continue
        kind = fields[key].type if isinstance(fields[key].type, str) else getattr(hints[key], "__name__", hints[key])
        try:
            parsed[key] = _parse(value, hints[key])
        except ValueError:
            raise NasBenchError(f"setting {key}={value!r} is not a valid {kind}", f"give {key} a {kind}") from None
    return dataclasses.replace(preset, **parsed)


def _parse(text: str, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and text.lower() == "none":
            return None
        return _parse(text, next(a for a in args if a is not type(None)))
    if origin is tuple:
        return tuple(_parse(v, typing.get_args(tp)[0]) for v in text.split(",") if v.strip())
    if tp is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    if tp in (int, float):
        return tp(text)
    return text
