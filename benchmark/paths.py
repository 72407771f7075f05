"""Where data lives: ``--data-root``, then ``$NASBENCH_DATA``, then ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.errors import NasBenchError

ENV_VAR = "NASBENCH_DATA"

_LAYOUT_HINT = (
    "expected layout under the data root: cifar10/{data_batch_1..5,test_batch,batches.meta}, "
    "cifar100/{train,test,meta}, ImageNet16/{train_data_batch_1..10,val_data}, "
    "nb201/nb201_groundtruth.csv.gz"
)


def _default_candidates() -> list[Path]:
    """``../shared/data`` relative to the working directory and to the repository checkout."""
    repo = Path(__file__).resolve().parents[1]
    return [Path.cwd() / ".." / "shared" / "data", repo / ".." / "shared" / "data"]


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: explicit argument, then ``$NASBENCH_DATA``, then ``../shared/data``."""
    if explicit:
        root = Path(explicit).expanduser()
        if not root.is_dir():
            raise NasBenchError(f"data root {root} does not exist", "pass an existing folder to --data-root")
        return root.resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise NasBenchError(f"${ENV_VAR}={env} is not a folder", f"point ${ENV_VAR} at your data folder")
        return root.resolve()
    for cand in _default_candidates():
        if cand.is_dir():
            return cand.resolve()
    raise NasBenchError(
        "no data root found",
        f"pass --data-root DIR or set ${ENV_VAR}; {_LAYOUT_HINT}",
    )


def require_file(path: Path, what: str, fix: str) -> Path:
    """Return ``path`` if it is a file, else a one-line error saying what is missing and where it goes."""
    if not path.is_file():
        raise NasBenchError(f"{what} not found at {path}", fix)
    return path
