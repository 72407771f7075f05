"""Named presets and their ``key=value`` overrides, shared by every driver's ``presets`` module, the
standalone runs and the sweep config.

A preset is a frozen dataclass; an override is checked against the field's annotation: ``int``, ``float``,
``bool``, ``str``, ``X | None`` and ``tuple[X, ...]``. Values come as strings from ``--set KEY=VALUE``
(parsed: true/false/yes/no/1/0, none/null, comma-separated tuples) or typed from a YAML/TOML sweep config
(an int is a valid float, a list a valid tuple). A wrong key or a value of the wrong type is a one-line
error naming the key's path and what is allowed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from benchmark.errors import NasBenchError

P = TypeVar("P")

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_NULL = ("none", "null")


def named_preset(presets: Mapping[str, P], name: str, label: str = "preset") -> P:
    """``presets[name]``, or a one-line error listing the names (``label`` names the kind of preset)."""
    if name not in presets:
        raise NasBenchError(f"unknown {label} {name!r}", f"choose one of: {', '.join(presets)}")
    return presets[name]


def parse_overrides(preset: P, overrides: Mapping[str, Any] | None, where: str = "") -> P:
    """``preset`` with ``overrides`` checked against its field types and applied (``name`` is fixed)."""
    if not overrides:
        return preset
    return dataclasses.replace(preset, **typed_overrides(type(preset), overrides, where))


def typed_overrides(cls: type, overrides: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``overrides`` checked against the fields of dataclass ``cls`` (``name`` excluded) and coerced.

    ``where`` prefixes the key in errors (``set`` gives ``set.lr``; empty for ``--set``).
    """
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls) if f.name != "name"]
    under = f" under {where}" if where else ""
    out = {}
    for key, value in overrides.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in allowed:
            raise NasBenchError(f"unknown setting {path!r}", f"allowed keys{under}: {', '.join(allowed)}")
        try:
            out[key] = _coerce(value, hints[key])
        except (TypeError, ValueError):
            name = _type_name(hints[key])
            raise NasBenchError(f"setting {path} = {value!r} is not a valid {name}",
                                f"give {path} a {name} value") from None
    return out


def _coerce(value: Any, tp: Any) -> Any:
    """``value`` as an instance of the annotation ``tp``: strings are parsed, other values must already
    have the right type (an int is a valid float, a list a valid tuple); ``ValueError`` otherwise."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in _NULL)):
            return None
        return _coerce(value, next(a for a in args if a is not type(None)))
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(value)
        items = [v.strip() if isinstance(v, str) else v for v in items]
        return tuple(_coerce(v, typing.get_args(tp)[0]) for v in items if v != "")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise ValueError(value)
    if tp in (int, float):
        if isinstance(value, str):
            return tp(value)
        whole = isinstance(value, int) and not isinstance(value, bool)
        if whole or (tp is float and isinstance(value, float)):
            return tp(value)
        raise ValueError(value)
    if tp is str and isinstance(value, str):
        return value
    raise ValueError(value)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return "null" if tp is type(None) else tp.__name__
