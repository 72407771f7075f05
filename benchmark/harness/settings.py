"""Typed ``key: value`` overrides of a settings dataclass (a preset), checked against the field types.

Values come typed from a YAML/TOML sweep config or as strings from ``--set KEY=VALUE``; either way a
wrong key or a value of the wrong type is a one-line error naming the key's path and what is allowed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping

from benchmark.errors import NasBenchError

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return "null" if tp is type(None) else tp.__name__


def coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` as an instance of the annotation ``tp`` (str, int, float, bool, ``X | None``,
    ``tuple[int, ...]``); strings are parsed, other values must already have the right type."""
    def bad() -> NasBenchError:
        return NasBenchError(f"{where} = {value!r} is not a valid {_type_name(tp)}",
                             f"give {where} a {_type_name(tp)} value")

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        null = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if type(None) in args and null:
            return None
        for arm in (a for a in args if a is not type(None)):
            return coerce(value, arm, where)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise bad()
        try:
            return tuple(coerce(v.strip() if isinstance(v, str) else v, typing.get_args(tp)[0], where)
                         for v in items if v != "")
        except NasBenchError:
            raise bad() from None
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise bad()
    if tp in (int, float):
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, str):
            try:
                return tp(value)
            except ValueError:
                raise bad() from None
        if isinstance(value, int) or (tp is float and isinstance(value, float)):
            return tp(value)
        raise bad()
    if tp is str and isinstance(value, str):
        return value
    raise bad()


def typed_overrides(cls: type, overrides: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check ``overrides`` against the fields of dataclass ``cls`` (``name`` excluded) and coerce them.

    ``where`` is the path shown in errors, e.g. ``set`` or ``standalone.set``.
    """
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls) if f.name != "name"]
    out = {}
    for key, value in overrides.items():
        if key not in allowed:
            raise NasBenchError(f"unknown setting {where}.{key}",
                                f"allowed keys under {where}: {', '.join(allowed)}")
        out[key] = coerce(value, hints[key], f"{where}.{key}")
    return out
