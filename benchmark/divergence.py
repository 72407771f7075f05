"""Stop a diverged run: a training loss that is NaN or infinite makes every later epoch, score and ranking
meaningless (SGD does not recover from a non-finite weight), so the epoch loop ends there with one line."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from benchmark.errors import NasBenchError


def check_finite_loss(stats: Mapping[str, Any], epoch: int, lr: float | None = None) -> None:
    """Raise a one-line error naming the epoch and the likely causes when a loss in ``stats`` (the keys
    ending in ``loss`` of an epoch's log row) is not finite; ``lr`` is the run's peak learning rate."""
    for key, value in stats.items():
        if not key.endswith("loss") or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            rate = f"lr={lr:g} is likely too high" if lr is not None else "the learning rate is likely too high"
            raise NasBenchError(
                f"training diverged: the {key.replace('_', ' ')} of epoch {epoch} is {value} ({rate}, or the data "
                "hold NaN/inf values)",
                "lower the learning rate (--set lr=...) or check the data, and start again in a new --out")
