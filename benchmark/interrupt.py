"""Ctrl-C on the command line: one line saying how to resume, a non-zero exit, no traceback.

While :func:`ctrl_c_interrupts` is active, SIGINT raises :class:`Interrupted`, a ``BaseException`` (not a
``KeyboardInterrupt``): ``except Exception`` blocks (a sweep recording a failed run) never swallow it and
click does not turn it into a bare "Aborted!", while ``finally`` blocks and ``except BaseException``
clean-ups (worker processes, an empty run folder, progress bars) still run.
"""

from __future__ import annotations

import shlex
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

EXIT_CODE = 130  # 128 + SIGINT, as shells report a Ctrl-C


class Interrupted(BaseException):
    """Ctrl-C reached the command line."""


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted()


@contextmanager
def ctrl_c_interrupts() -> Iterator[None]:
    """Inside the block, Ctrl-C (SIGINT) raises :class:`Interrupted`; the previous handler is restored."""
    previous = signal.signal(signal.SIGINT, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def resume_line(argv: Sequence[str]) -> str:
    """The one line printed after a Ctrl-C: the exact command that resumes."""
    return ("interrupted: finished epochs are checkpointed; to resume, run the same command again: "
            f"nasbench {shlex.join(argv)}")
