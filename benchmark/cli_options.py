"""Command-line options and ``--set`` parsing shared by the ``nasbench`` commands and their sub-apps."""

from __future__ import annotations

import typer

from benchmark.errors import NasBenchError

SET = typer.Option([], "--set", help="Override a preset value: KEY=VALUE.")
IMAGENET_DATA_ROOT = typer.Option(None, "--data-root", help="ImageNet folder holding train/ and val/ "
                                                            "(else <data root>/imagenet).")


def parse_overrides(items: list[str], example: str = "epochs_per_stage=5") -> dict[str, str]:
    """``["lr=0.1", "epochs_per_stage=5"]`` -> dict; a malformed item is a one-line error whose fix shows
    ``--set example``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise NasBenchError(f"--set {item!r} is not KEY=VALUE", f"write e.g. --set {example}")
        out[key.strip()] = value.strip()
    return out
