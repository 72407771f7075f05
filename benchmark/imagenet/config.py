"""What every ImageNet driver (MobileNet / BS-NAS search and retraining, DARTS retraining) takes from the
command line besides its own subject (method, architecture file, genotype)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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
