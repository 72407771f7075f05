"""Reading a run's own checkpoint back on resume: refused when unreadable or written for another run.

A checkpoint holds the run's ``identity`` (everything that determines its result); a resumed run must
match it exactly, so a changed setting never continues someone else's training.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from benchmark.errors import NasBenchError


def read_checkpoint(path: Path, device: torch.device | str, identity: Mapping[str, Any], *, weights_only: bool,
                    run: str = "run") -> dict[str, Any] | None:
    """The checkpoint at ``path`` (tensors on ``device``), ``None`` when there is none; a one-line error
    when it cannot be read or belongs to another identity (``run`` names the kind of run in the fix)."""
    if not path.exists():
        return None
    try:
        ck = torch.load(path, map_location=device, weights_only=weights_only)
    except Exception as e:  # noqa: BLE001 - a corrupt checkpoint is reported, never used
        raise NasBenchError(f"checkpoint {path} is unreadable ({type(e).__name__})",
                            f"delete it to restart the {run} from scratch") from None
    if ck["identity"] != identity:
        raise NasBenchError(f"{path} belongs to a different configuration",
                            "use another --out directory or delete the old run")
    return ck
