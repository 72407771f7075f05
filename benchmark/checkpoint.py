"""Checkpoint files that are safe to resume from: plain contents loaded weights-only, a SHA-256 of every
checkpoint recorded beside it, and the previous checkpoint kept as a fallback.

Layout for ``DIR/checkpoint.pt``::

    checkpoint.pt        the newest checkpoint (torch.save of tensors, numbers, strings, lists, dicts)
    checkpoint.prev.pt   the one before it
    checkpoint.sha256    ``sha256sum`` lines of both (``sha256sum -c checkpoint.sha256`` checks them)

A save writes the new file to a temporary name, records its digest together with the digest of the
current checkpoint (which becomes the previous one) in ``checkpoint.sha256`` (atomically), then renames:
current -> previous, temporary -> current. A kill at any moment therefore leaves at least one file whose
digest is recorded: the newest finished checkpoint, or the one before it (its epoch is trained again, with
the same result). A load accepts a file only if its digest is recorded, preferring ``checkpoint.pt``,
and unpickles it with ``torch.load(weights_only=True)``: no code from the file ever runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import benchmark.io as bio
from benchmark.errors import NasBenchError

_ATOMS = (type(None), bool, int, float, complex, str, bytes, torch.Tensor, torch.dtype, torch.device)


def previous_path(path: Path) -> Path:
    """``checkpoint.pt`` -> ``checkpoint.prev.pt``."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def manifest_path(path: Path) -> Path:
    """``checkpoint.pt`` -> ``checkpoint.sha256``."""
    return path.with_name(f"{path.stem}.sha256")


def plain(obj: Any) -> Any:
    """``obj`` with numpy values, dataclasses and paths turned into plain data that ``torch.load(...,
    weights_only=True)`` reads back: numpy scalars -> Python numbers, arrays -> lists, dataclasses ->
    dicts, paths -> strings. Containers are copied only where something changed (a state dict keeps its
    ``_metadata``); anything else raises ``TypeError`` at save time, not at resume time."""
    if isinstance(obj, np.generic):  # before the atoms: np.float64 is a float subclass
        return obj.item()
    if isinstance(obj, _ATOMS):
        return obj
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        items = {k: plain(v) for k, v in obj.items()}
        if all(items[k] is v for k, v in obj.items()):
            return obj
        if not isinstance(obj, OrderedDict):
            return items
        out = OrderedDict(items)
        out.__dict__.update(getattr(obj, "__dict__", {}))  # a state dict carries ``_metadata``
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [plain(v) for v in obj]
        if isinstance(obj, frozenset):
            return set(items)
        if all(a is b for a, b in zip(items, obj)):
            return obj
        if isinstance(obj, torch.Size):
            return torch.Size(items)
        return type(obj)(items) if type(obj) in (list, tuple, set) else list(items)
    raise TypeError(f"a checkpoint cannot hold a {type(obj).__module__}.{type(obj).__qualname__}: only "
                    "tensors, numbers, strings, lists, tuples and dicts load weights-only")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(path: Path) -> dict[str, str]:
    """``{file name: sha256}`` from ``sha256sum`` lines; ``{}`` when there is no manifest; ValueError when
    it is not one."""
    man = manifest_path(path)
    if not man.exists():
        return {}
    entries = {}
    for line in man.read_text().splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{man.name} is not a list of SHA-256 digests")
        entries[name] = digest
    return entries


def _file_digest(path: Path) -> str | None:
    try:
        return _digest(path.read_bytes())
    except OSError:
        return None


def write_checkpoint(path: str | os.PathLike, obj: Any) -> None:
    """Save ``plain(obj)`` at ``path`` with its digest recorded, the current checkpoint kept as the previous
    one (only if it is intact); every step atomic (see the module docstring)."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(plain(obj), buffer)
    data = buffer.getvalue()
    try:
        old = _read_manifest(path)
    except (OSError, ValueError):
        old = {}
    known = set(old.values())
    current = _file_digest(path) if path.exists() else None
    entries = {path.name: _digest(data)}
    rotate = current is not None and current in known
    if rotate:
        entries[previous_path(path).name] = current
    else:  # no intact current checkpoint: keep the previous one if it is intact
        prev = _file_digest(previous_path(path)) if previous_path(path).exists() else None
        if prev is not None and prev in known:
            entries[previous_path(path).name] = prev
    with bio.atomic_path(path) as tmp:
        tmp.write_bytes(data)
        with bio.atomic_path(manifest_path(path)) as man:
            man.write_text("".join(f"{digest}  {name}\n" for name, digest in entries.items()))
        if rotate:
            os.replace(path, previous_path(path))
    # atomic_path renamed the temporary file to ``path``


@dataclasses.dataclass(frozen=True)
class Verified:
    """The intact file of a checkpoint: its path, its bytes, and why a newer one was passed over."""

    path: Path
    data: bytes
    note: str = ""


def verify(path: str | os.PathLike, fix: str) -> Verified | None:
    """The newest intact file of the checkpoint at ``path`` (its digest recorded in ``checkpoint.sha256``),
    ``None`` when there is none at all; a one-line error (with ``fix``) when files exist but none is
    intact."""
    path = Path(path)
    candidates = [p for p in (path, previous_path(path)) if p.exists()]
    if not candidates:
        return None
    try:
        known = set(_read_manifest(path).values())
    except (OSError, ValueError) as e:
        raise NasBenchError(f"{manifest_path(path)} is unreadable ({e})", fix) from None
    if not known:
        raise NasBenchError(f"{path} has no recorded SHA-256 ({manifest_path(path).name} is missing), so its "
                            "integrity cannot be checked", fix)
    skipped = []
    for candidate in candidates:
        try:
            data = candidate.read_bytes()
        except OSError as e:
            skipped.append(f"{candidate.name} unreadable ({e.strerror})")
            continue
        if _digest(data) in known:
            note = "" if candidate == path else (
                f"{'; '.join(skipped) or f'{path.name} is missing (a save was interrupted)'}: resuming from "
                f"{candidate.name}, the previous checkpoint")
            return Verified(candidate, data, note)
        skipped.append(f"{candidate.name} fails its SHA-256 check (flipped bytes or a partial copy)")
    raise NasBenchError(f"{path} is not an intact torch checkpoint: {'; '.join(skipped)}, and no intact "
                        "previous checkpoint is left", fix)


def read_checkpoint_file(path: str | os.PathLike, device: torch.device | str, fix: str,
                         log: Callable[[str], None] | None = None) -> Any | None:
    """The contents of the newest intact file of the checkpoint at ``path`` (tensors on ``device``),
    loaded weights-only; ``None`` when there is no checkpoint. A fallback to the previous file is
    reported through ``log`` (a warning without one); anything unusable is a one-line error with ``fix``."""
    found = verify(path, fix)
    if found is None:
        return None
    if found.note:
        if log is None:
            warnings.warn(found.note, stacklevel=2)
        else:
            log(found.note)
    try:
        return torch.load(io.BytesIO(found.data), map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - anything that is not plain data is refused, never executed
        raise NasBenchError(f"checkpoint {found.path} is unreadable as plain data ({type(e).__name__}); "
                            "checkpoints are loaded weights-only, so code in a file never runs", fix) from None
