"""User-facing errors: one line that names the problem and the fix (the CLI exits with code 2)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


class NasBenchError(Exception):
    """Bad input or an impossible setting. The message is one line: what is wrong, then how to fix it."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} -- {fix}" if fix else problem)


_OUTPUT: list[Path] = []  # the folder the running command writes to (benchmark.inputs.output_folder)
_TORCH_WRITER = ("inline_container", "PytorchStreamWriter")  # torch.save's failed writes say only this
LOW_SPACE = 256 * 2**20  # bytes: below this, a failed torch write is taken for a full disk


def remember_output(folder: str | os.PathLike | None) -> None:
    """Note the folder the command writes to, for :func:`disk_full`'s message (``None``: forget it)."""
    _OUTPUT[:] = [] if folder is None else [Path(folder)]


def _free_bytes(folder: Path) -> int | None:
    for parent in (folder, *folder.parents):
        if parent.exists():
            try:
                return shutil.disk_usage(parent).free
            except OSError:
                return None
    return None


def disk_full(exc: BaseException) -> NasBenchError | None:
    """The one-line error for a write that failed on a full disk, naming the folder (``None`` when ``exc``
    is something else): an ``OSError`` with ``ENOSPC``/``EDQUOT``, or torch.save's errno-less
    ``RuntimeError`` while the output folder's disk has under :data:`LOW_SPACE` free."""
    folder = _OUTPUT[0] if _OUTPUT else None
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        if exc.filename:
            folder = Path(os.fsdecode(exc.filename)).parent
    elif isinstance(exc, RuntimeError) and any(s in str(exc) for s in _TORCH_WRITER) and folder is not None:
        free = _free_bytes(folder)
        if free is None or free >= LOW_SPACE:
            return None
    else:
        return None
    where = f"writing to {folder}" if folder is not None else "writing the output"
    return NasBenchError(f"no space left on device {where}",
                         "free some space on that disk and run the command again (a run resumes at its last "
                         "checkpoint), or pass an --out on another disk")
