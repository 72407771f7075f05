"""ImageNet search methods, registered by name (``nasbench imagenet mobilenet search --method NAME``).

A method is a class with a ``presets`` mapping (preset name -> its preset object) and
``search(cfg: SearchConfig, out_dir: Path) -> dict`` (the run's summary, also written to
``out_dir/result.json``). ``senas`` and ``spos`` search the MobileNet-like space
(:mod:`benchmark.imagenet.search`); ``bsnas`` comes from :mod:`benchmark.bsnas.imagenet`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

from benchmark.imagenet.config import DriverConfig
from benchmark.registry import Registry


@dataclass(frozen=True)
class SearchConfig(DriverConfig):
    """What the command line hands a method: its name, the FLOPs budgets in M (``None``: the preset's),
    method-specific switches (criterion, ...), plus the preset and where / how to run (:class:`DriverConfig`)."""

    method: str
    budgets_m: tuple[float, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class ImageNetMethod(Protocol):
    presets: Mapping[str, Any]

    def search(self, cfg: SearchConfig, out_dir: Path) -> dict: ...


IMAGENET_METHODS: Registry[type] = Registry("ImageNet search method")


def _register_all() -> None:
    """Fill the registry: this package's methods, then BS-NAS's when its package is installed."""
    from benchmark.imagenet.search import SENASMobileNet, SPOSMobileNet

    IMAGENET_METHODS.register("senas")(SENASMobileNet)
    IMAGENET_METHODS.register("spos")(SPOSMobileNet)

    if importlib.util.find_spec("benchmark.bsnas") and importlib.util.find_spec("benchmark.bsnas.imagenet"):
        importlib.import_module("benchmark.bsnas.imagenet")  # registers bsnas


_register_all()
