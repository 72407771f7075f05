"""One writer per folder: an exclusive ``fcntl.flock`` on ``FOLDER/.lock`` (a sweep's results directory, a
run's ``--out``), refused with a one-line error while another process holds it."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Self

from benchmark.errors import NasBenchError

LOCK_FILE = ".lock"


class FolderLock:
    """Hold ``FOLDER/.lock`` for the life of the ``with`` block; a second holder is refused.

    The lock belongs to the open file, so child processes that inherit the descriptor keep it until they
    exit. ``what`` names the holder in the refusal (``sweep``, ``run``); ``fix`` is the refusal's fix.
    """

    def __init__(self, folder: Path, what: str = "run",
                 fix: str = "wait for it to finish, or use another --out directory"):
        self.path = Path(folder) / LOCK_FILE
        self.what, self.fix = what, fix
        self.fd: int | None = None

    def __enter__(self) -> Self:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise NasBenchError(f"another {self.what} is running on {self.path.parent} "
                                f"({holder} holds {self.path})", self.fix) from None
        os.ftruncate(fd, 0)
        holder = f"{self.what} pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
        os.write(fd, holder.encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.fd is not None
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None
