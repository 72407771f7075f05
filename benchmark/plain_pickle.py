"""Read the pickled data files of the benchmarks (CIFAR and ImageNet16 batches, NATS-Bench records) without
ever running code from them.

A pickle can name any importable callable and have it called while loading; a crafted data file handed to
the toolkit would then run code. :class:`PlainUnpickler` resolves only the few globals these formats use --
numpy arrays, dtypes and scalars, ``collections.OrderedDict``, and ``_codecs.encode`` (Python 2 byte
strings) -- and refuses every other one, so the file is read as plain data or not at all. Third-party
readers that unpickle by themselves (``nats_bench``) are handed a file only after :func:`check_plain_file`
has read it this way.
"""

from __future__ import annotations

import bz2
import os
import pickle
from pathlib import Path
from typing import IO, Any

PLAIN_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("collections", "OrderedDict"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
})


class NotPlainData(pickle.UnpicklingError):
    """The pickle names a global outside :data:`PLAIN_GLOBALS`: it is code, not data."""


class PlainUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain data (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in PLAIN_GLOBALS:
            raise NotPlainData(f"it names {module}.{name}, which is code, not data; refusing to load it")
        return super().find_class(module, name)


def load_plain(f: IO[bytes], encoding: str = "ASCII") -> Any:
    """``pickle.load(f, encoding=...)`` restricted to plain data."""
    return PlainUnpickler(f, encoding=encoding).load()


def open_maybe_bz2(path: str | os.PathLike) -> IO[bytes]:
    """``path`` opened for reading, decompressed when it ends in ``.pbz2``/``.bz2``."""
    path = Path(path)
    return bz2.open(path, "rb") if path.suffix in (".pbz2", ".bz2") else open(path, "rb")


def check_plain_file(path: str | os.PathLike, encoding: str = "ASCII") -> Any:
    """Read the pickle at ``path`` as plain data (raising :class:`NotPlainData` for anything else) and
    return it; called before a third-party reader unpickles the same file."""
    with open_maybe_bz2(path) as f:
        return load_plain(f, encoding)
