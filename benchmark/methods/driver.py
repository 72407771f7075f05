"""What a method is and how it runs on a space: :class:`RunRequest` (one run, as ``nasbench run METHOD
--space SPACE`` states it), :class:`SpaceDriver` (a method on one space) and :class:`Method` (a method on
every space it applies to). The methods themselves are declared in :mod:`benchmark.methods.registry`.

A method runs on a space in one of two ways. On a space that supplies the one-shot pipeline
(:class:`~benchmark.spaces.OneShotSupport`: NB201, or a space a user registers) it is its
:class:`~benchmark.methods.base.OneShotRun` subclass, ranked against the space's ground truth. On a space
without a ground truth it is the search written for that space (SE-NAS Sec. 4.3: DARTS on CIFAR-10, the
MobileNet-like space on ImageNet; BS-NAS Sec. 4: its spring space), a :class:`SpaceDriver` of its own.
Both take the same :class:`RunRequest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from benchmark.errors import NasBenchError
from benchmark.spaces import SPACES
from benchmark.vocabulary import DEFAULT_NORMALIZATION

# request fields a driver may or may not take, and the command-line flag that sets each
OPTIONAL_FIELDS: dict[str, str] = {
    "criterion": "--criterion", "normalization": "--normalization", "expand": "--expand/--no-expand",
    "groundtruth": "--gt", "compile_ops": "--compile-ops", "budgets_m": "--flops", "fair": "--fair",
    "threads": "--threads"}


@dataclass(frozen=True)
class RunRequest:
    """One run of a method on a space, as ``nasbench run`` states it: the preset by name and its ``--set``
    overrides, the seed, where and how to run, and the options of :data:`OPTIONAL_FIELDS` (the SE-NAS
    criterion, Eq. 7 normalisation and expanding, ...), each None where not given: a driver that does not
    take one refuses it when given, one that does applies its default (:meth:`senas_options`).
    ``dataset`` None is the space's first."""

    method: str
    space: str
    out: Path
    preset: str = "tiny"
    overrides: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0
    dataset: str | None = None
    device: str = "auto"
    data_root: str | None = None
    overwrite: bool = False
    progress: bool = True
    log: Callable[[str], None] = lambda message: None  # progress messages (silent with --json)
    notice: Callable[[str], None] = lambda message: None  # messages shown even with --json (stderr)
    criterion: str | None = None
    normalization: str | None = None
    expand: bool | None = None
    groundtruth: str | None = None
    compile_ops: bool | None = None
    budgets_m: tuple[float, ...] | None = None
    fair: bool | None = None
    threads: int | None = None

    def senas_options(self) -> dict[str, Any]:
        """The SE-NAS switches with their defaults where not given: the ``senas`` criterion (Eq. 7), the
        default normalisation, expanding on (Sec. 3.4)."""
        return {"criterion": self.criterion or "senas", "normalization": self.normalization or DEFAULT_NORMALIZATION,
                "expand": True if self.expand is None else self.expand}


@dataclass(frozen=True)
class SpaceDriver:
    """How a method runs on a space: ``run(request)``, given a request :meth:`check` returned, returns the
    run's result (``None`` in a process that is not torchrun's main one), ``summary(result)`` is the line the command line prints; ``datasets`` are
    the datasets it trains on (the first is the default), ``takes`` the optional request fields it uses."""

    run: Callable[[RunRequest], dict[str, Any] | None]
    summary: Callable[[dict[str, Any]], str]
    datasets: tuple[str, ...]
    takes: frozenset[str] = frozenset()
    ranked: bool = False  # ranked against a ground truth (the one-shot pipeline): tau, result.json's tau

    def check(self, request: RunRequest) -> RunRequest:
        """``request`` with its dataset resolved; a one-line error for an option this driver does not take."""
        for name, flag in OPTIONAL_FIELDS.items():
            if getattr(request, name) is not None and name not in self.takes:
                raise NasBenchError(f"{flag} does not apply to {request.method} on space {request.space}",
                                    f"drop {flag}")
        dataset = request.dataset or self.datasets[0]
        if dataset not in self.datasets:
            raise NasBenchError(f"unknown dataset {dataset!r} for {request.method} on space {request.space}",
                                f"choose one of: {', '.join(self.datasets)}")
        return replace(request, dataset=dataset)


@dataclass(frozen=True)
class Method:
    """A method by name: ``oneshot``, its :class:`~benchmark.methods.base.OneShotRun` subclass, runs on every
    space with one-shot support (its ``spaces``, where set, narrow that; ``oneshot.driver(space)`` is its
    driver there); ``drivers`` are its searches of spaces without one, by space."""

    name: str
    description: str
    oneshot: type | None = None
    drivers: Mapping[str, SpaceDriver] = field(default_factory=dict)

    def oneshot_spaces(self) -> list[str]:
        """The registered spaces with one-shot support that this method's one-shot run applies to."""
        if self.oneshot is None:
            return []
        written_for = getattr(self.oneshot, "spaces", None)
        return [n for n in SPACES.names() if SPACES.get(n).oneshot is not None
                and (written_for is None or n in written_for)]

    def spaces(self) -> list[str]:
        """Every registered space this method runs on."""
        return sorted(set(self.oneshot_spaces()) | {s for s in self.drivers if s in SPACES})

    def driver(self, space: str) -> SpaceDriver:
        """How this method runs on ``space``; a one-line error naming the spaces it does run on."""
        SPACES.get(space)  # an unknown space: the registry's error, listing the registered ones
        if space in self.drivers:
            return self.drivers[space]
        if space in self.oneshot_spaces():
            return self.oneshot.driver(space)
        why = (f"it supplies no one-shot pipeline (SpaceEntry.oneshot) and no {self.name} search of it is "
               "registered" if SPACES.get(space).oneshot is None else "the method is written for other spaces")
        raise NasBenchError(f"{self.name} cannot search space {space!r}: {why}",
                            f"use --space {' | '.join(self.spaces())}")

