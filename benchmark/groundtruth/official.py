"""The official NAS-Bench-201 file (``NAS-Bench-201-v1_1-096897.pth``) read with ``nas_201_api``.

The file is a torch-saved dict ``{'meta_archs': [15,625 strings], 'arch2infos': {index: {'less':
ArchResults state (12 epochs), 'full': ArchResults state (200 epochs)}}, 'evaluated_indexes': [...]}``.

Memory: loading it takes many GB -- about 28 GB for v1_1 (D-X-Y/AutoDL-Projects#78) -- so build the
compact table once (``nasbench gt build --from FILE.pth --out TABLE.csv.gz``) and load that afterwards.

We rebuild the records with ``nas_201_api.ArchResults.create_from_state_dict``, exactly as
``NASBench201API.__init__`` does, instead of calling ``NASBench201API(path)``: that constructor calls
``torch.load`` without ``weights_only``, which torch >= 2.6 turns into a weights-only load that rejects
the numpy scalars such files hold, and ``NASBench201API(dict)`` deep-copies the many-GB dict. Because
of those scalars the file is unpickled with ``weights_only=False``, which runs whatever code a crafted
file holds. So a ``.pth`` is opened only when its path was named explicitly, by a person, on the command
line (``--gt PATH.pth``, ``nasbench gt build --from PATH.pth``: the CLI calls :func:`trust_pickle`); a
``.pth`` reached any other way (a sweep config, a library call) is refused before it is opened. Prefer
the compact table, built once from the official file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from nas_201_api import ArchResults

from benchmark.errors import NasBenchError
from benchmark.groundtruth.records import ApiGroundTruth, read_record

KEYS = ("meta_archs", "arch2infos", "evaluated_indexes")
_FIX = "pass the official NAS-Bench-201-v1_1-096897.pth (or a compact table / NATS-tss folder)"
_TRUSTED: set[Path] = set()


def trust_pickle(path: str | os.PathLike) -> None:
    """Allow :func:`load_official` to fully unpickle the file at ``path`` in this process (the CLI calls
    this for a path given explicitly with ``--gt`` or ``gt build --from``)."""
    _TRUSTED.add(Path(path).expanduser().resolve())


def load_official(path: Path) -> ApiGroundTruth:
    """Ground truth from an official NB201 .pth named with :func:`trust_pickle` (warns about its memory
    needs before loading); any other .pth is refused unopened."""
    if Path(path).expanduser().resolve() not in _TRUSTED:
        raise NasBenchError(f"{path} is an official NB201 .pth, which loads only by full unpickling (it can run "
                            "code), and was not named explicitly with --gt or `gt build --from`",
                            f"convert it once with `nasbench gt build --from {path} --out TABLE.csv.gz` (only "
                            "for the file from the official release) and use the table")
    warnings.warn(
        f"loading the official NAS-Bench-201 file {path.name} needs many GB of memory (about 28 GB for "
        "v1_1); build the compact table once with `nasbench gt build --from FILE.pth --out TABLE.csv.gz` "
        "and load that",
        UserWarning,
        stacklevel=3,
    )
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means: not a benchmark file
        raise NasBenchError(f"{path} is not a NAS-Bench-201 .pth ({type(e).__name__} while unpickling)",
                            _FIX) from None
    if not isinstance(data, dict) or any(k not in data for k in KEYS):
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise NasBenchError(f"{path} is not a NAS-Bench-201 .pth: expected keys {list(KEYS)}, found {found}",
                            _FIX)
    try:
        infos = {int(i): info for i, info in data["arch2infos"].items()}
        full = {i: ArchResults.create_from_state_dict(info["full"]) for i, info in infos.items()}
        less = {i: ArchResults.create_from_state_dict(info["less"]) for i, info in infos.items()}
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise NasBenchError(f"{path}: malformed 'arch2infos' entry ({type(e).__name__}: {e})", _FIX) from None
    recorded = set(map(int, data["evaluated_indexes"])) & full.keys()
    return ApiGroundTruth("nb201-pth", str(path), list(data["meta_archs"]), recorded,
                          lambda i: read_record(full[i], less[i]))
