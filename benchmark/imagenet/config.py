"""What every ImageNet driver (MobileNet / BS-NAS search and retraining, DARTS retraining) takes from the
command line besides its own subject (method, architecture file, genotype), and what a search method takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class DriverConfig:
    """The preset by name plus ``--set`` overrides, where the data is, the seed, the device (``auto``,
    ``cpu``, ``cuda``) and whether to resume from the run folder's checkpoint. Keyword-only, so a driver's
    own fields come first."""

    preset: str = "tiny"
    overrides: Mapping[str, str] = field(default_factory=dict)
    data_root: str | None = None
    seed: int = 0
    device: str = "auto"
    resume: bool = True


@dataclass(frozen=True)
class SearchConfig(DriverConfig):
    """What the command line hands a method: its name, the FLOPs budgets in M (``None``: the preset's),
    method-specific switches (criterion, ...), plus the preset and where / how to run (:class:`DriverConfig`)."""

    method: str
    budgets_m: tuple[float, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
