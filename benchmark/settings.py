"""Named presets and their ``key=value`` overrides, shared by every driver's ``presets`` module, the
standalone runs and the sweep config.

A preset is a frozen dataclass; an override is checked against the field's annotation: ``int``, ``float``,
``bool``, ``str``, ``X | None`` and ``tuple[X, ...]``. Values come as strings from ``--set KEY=VALUE``
(parsed: true/false/yes/no/1/0, none/null, comma-separated tuples) or typed from a YAML/TOML sweep config
(an int is a valid float, a list a valid tuple). A wrong key or a value of the wrong type is a one-line
error naming the key's path and what is allowed.

Values that would poison a run without failing it are refused here too, for every preset family: a float
setting must be finite (``nan``/``inf`` are refused), and the settings of :data:`RANGES` (learning rates,
momentum, weight decay, gradient clipping, probabilities, widths, FLOPs budgets) must lie in their range.
The same checks run on a whole preset (:func:`check_ranges`), which every preset's ``validate`` calls.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from benchmark.errors import NasBenchError

P = TypeVar("P")

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_NULL = ("none", "null")


@dataclass(frozen=True)
class Range:
    """An interval of allowed values: ``low`` to ``high``, each end open or closed."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = True

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        """``>= 0``, ``> 0`` or ``in [0, 1)``."""
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


# Allowed values of the numeric settings, by field name, in every preset family that has the field
# (a tuple field's items each; ``None`` stays allowed where the field is optional).
RANGES: dict[str, Range] = {
    "lr": Range(0, low_open=True),
    "lr_min": Range(0),
    "momentum": Range(0, 1),  # 1 would never forget a gradient
    "weight_decay": Range(0),
    "grad_clip": Range(0),  # 0 = no clipping
    "aux_weight": Range(0),
    "label_smoothing": Range(0, 1),
    "drop_path_prob": Range(0, 1),
    "ema_decay": Range(0, 1),
    "mutation_prob": Range(0, 1, high_open=False),
    "budget_tolerance": Range(0, 1),
    "width_mult": Range(0, low_open=True),
    "flops_budget_m": Range(0, low_open=True),
    "budgets_m": Range(0, low_open=True),
}


def resolve_preset(presets: Mapping[str, P], name: str, overrides: Mapping[str, Any] | None,
                   validate: Callable[[P], None], label: str = "preset") -> P:
    """``presets[name]`` with ``overrides`` applied (:func:`parse_overrides`) and checked by ``validate``: the
    body of every preset family's ``get_preset(name, overrides)`` (``label`` names the kind of preset)."""
    if name not in presets:
        raise NasBenchError(f"unknown {label} {name!r}", f"choose one of: {', '.join(presets)}")
    preset = parse_overrides(presets[name], overrides)
    validate(preset)
    return preset


def parse_overrides(preset: P, overrides: Mapping[str, Any] | None) -> P:
    """``preset`` with ``overrides`` checked against its field types and :data:`RANGES` and applied
    (``name`` is fixed); the result passes :func:`check_ranges`."""
    if not overrides:
        return preset
    preset = dataclasses.replace(preset, **typed_overrides(type(preset), overrides))
    check_ranges(preset)
    return preset


def typed_overrides(cls: type, overrides: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``overrides`` checked against the fields of dataclass ``cls`` (``name`` excluded), coerced, and
    checked to be finite and within :data:`RANGES`.

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
        except (TypeError, ValueError, OverflowError):
            name = _type_name(hints[key])
            raise NasBenchError(f"setting {path} = {value!r} is not a valid {name}",
                                f"give {path} a {name} value") from None
        check_value(path, key, out[key])
    return out


def check_value(path: str, key: str, value: Any) -> None:
    """A one-line error naming ``path`` and the allowed range when ``value`` (a setting named ``key``) is a
    non-finite number or lies outside ``RANGES[key]``; tuples are checked item by item."""
    allowed = RANGES.get(key)
    fix = f"give {path} a finite value" if allowed is None else f"give {path} a value {allowed.describe()}"
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if not math.isfinite(item):
            raise NasBenchError(f"setting {path} = {item} is not a finite number", fix)
        if allowed is not None and item not in allowed:
            raise NasBenchError(f"setting {path} = {item:g} is out of range", fix)


def check_ranges(preset: Any) -> None:
    """Every numeric field of the dataclass ``preset`` finite and within :data:`RANGES`; nesterov momentum
    needs a momentum above 0 (``torch.optim.SGD``). Every preset's ``validate`` calls this."""
    for f in dataclasses.fields(preset):
        check_value(f.name, f.name, getattr(preset, f.name))
    if getattr(preset, "nesterov", False) and getattr(preset, "momentum", 1.0) == 0:
        raise NasBenchError("nesterov=true needs a momentum above 0, got momentum=0",
                            "set nesterov=false or a momentum in (0, 1)")


def check_positive(preset: Any, keys: Iterable[str]) -> None:
    """A one-line error for the first of ``keys`` (counts, sizes, epochs) of ``preset`` below 1."""
    for key in keys:
        if getattr(preset, key) < 1:
            raise NasBenchError(f"{key} must be at least 1, got {getattr(preset, key)}",
                                f"set {key} to a positive integer")


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
