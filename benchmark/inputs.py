"""Checks of command-line inputs that every command shares, run before anything is read, trained or written:
seeds, devices, index arguments, output folders and files, and a finished run's ``result.json``.

Each check returns its (normalised) argument or raises a one-line :class:`~benchmark.errors.NasBenchError`.
:func:`output_folder` also remembers the folder a command writes to, so a full disk is reported naming it
(:func:`benchmark.errors.disk_full`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmark.errors import NasBenchError, remember_output

MAX_SEED = 2**63 - 1  # torch.manual_seed and numpy take 0 .. 2^63 - 1 on every platform
DEVICES = "auto, cpu, cuda, cuda:N"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_INDEX = re.compile(r"^-?[0-9]+$")


def check_seed(seed: Any, option: str = "--seed") -> int:
    """``seed`` if it is an integer in 0 .. 2^63 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise NasBenchError(f"{option} {seed!r} is not a seed", f"give an integer from 0 to {MAX_SEED} (2^63 - 1)")
    return seed


def check_device(device: Any, option: str = "--device") -> str:
    """``device`` if it is one of auto, cpu, cuda, cuda:N."""
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise NasBenchError(f"{option} {device!r} is not a device this toolkit runs on", f"choose from: {DEVICES}")
    return device


def index_argument(text: str, size: int = 15625) -> int | None:
    """The integer an architecture argument spells in ASCII digits (``None`` when it is not one, e.g. an
    NB201 string); a number of more digits than any index has is a one-line error."""
    text = text.strip()
    if not _INDEX.match(text):
        return None
    if len(text.lstrip("-")) > len(str(size)):
        raise NasBenchError(f"index {text[:24]}{'...' if len(text) > 24 else ''} is out of range",
                            f"give an index 0..{size - 1}")
    return int(text)


def _existing_ancestor(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path.cwd()


def _writable(folder: Path, path: Path, option: str) -> None:
    if not folder.is_dir():
        raise NasBenchError(f"{option} {path} lies under {folder}, which is a file", f"pass another {option}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NasBenchError(f"cannot write to {folder} (read-only)",
                            f"make it writable or pass another {option}")


def output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """A folder a command may create and write into: not an existing file, under a writable folder.
    Nothing is created here; the folder is remembered for the full-disk message."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise NasBenchError(f"{option} {path} is a file, not a folder", f"pass a folder to {option} "
                                                                         "(it is created if missing)")
    _writable(_existing_ancestor(path), path, option)
    remember_output(path)
    return path


def output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """A file a command may write: not an existing folder, under a writable folder (remembered)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise NasBenchError(f"{option} {path} is a folder, not a file", f"pass a file name to {option}")
    folder = _existing_ancestor(path.parent)
    _writable(folder, path, option)
    remember_output(path.parent)
    return path


def finished_result(folder: Path, keys: Iterable[str]) -> None:
    """Refuse a ``result.json`` in ``folder`` that is not a JSON object holding ``keys`` (a run would
    return it as its result); nothing to check when there is none."""
    path = Path(folder) / "result.json"
    if not path.is_file():
        return
    fix = f"delete {path} to run again, or pass another --out"
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise NasBenchError(f"{path} is not a readable result ({type(e).__name__})", fix) from None
    if not isinstance(result, dict):
        raise NasBenchError(f"{path} is not a result: it holds a JSON {type(result).__name__}", fix)
    missing = [k for k in keys if k not in result]
    if missing:
        raise NasBenchError(f"{path} is not a finished result: it lacks {', '.join(missing)}", fix)


# the keys a command prints from a finished run's result.json (``nasbench run``, ``train-standalone``)
ONESHOT_RESULT = ("method", "config", "seed", "tau", "spearman", "n_ranked", "best_arch", "scale")
STANDALONE_RESULT = ("arch", "dataset", "seed", "val_acc", "test_acc", "epochs", "scale")


def check_run(out: str | os.PathLike, device: Any, seed: Any, result_keys: Iterable[str] = ()) -> Path:
    """A run's ``--out``, ``--device`` and ``--seed``, and a ``result.json`` already in ``--out`` holding
    ``result_keys`` (none: not checked); ``--out`` as a path."""
    check_seed(seed)
    check_device(device)
    out = output_folder(out)
    finished_result(out, result_keys)
    return out
