"""The skeleton of every resumable training run (NB201 methods, the DARTS-space search, standalone training):
an epoch loop with an atomic checkpoint after every epoch, resume at the last finished epoch, and wall-clock
timings per phase.

A run folder holds the run's resolved config (``config.json``, hashed to its run id as a sweep does) and
every checkpoint holds its ``identity`` (everything that determines its result, the CPU thread count
included); a run must match both exactly, so a changed setting never continues or returns someone else's
run. One run at a time per folder (a lock); checkpoints are checked (SHA-256) and loaded weights-only
(:mod:`benchmark.checkpoint`). docs/reliability.md lists these guarantees and their tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch

from benchmark.checkpoint import read_checkpoint_file, write_checkpoint
from benchmark.divergence import check_finite_loss
from benchmark.errors import NasBenchError
from benchmark.identity import other_config_error, resolved_from_identity, resolved_of, run_id
from benchmark.io import read_json, write_json
from benchmark.locks import FolderLock
from benchmark.progress import progress_bar

CONFIG_FILE = "config.json"
# what ``--overwrite`` deletes: the files and folders a run writes (anything else in the folder stays)
RUN_OUTPUTS = ("result.json", CONFIG_FILE, "error.json", "log.txt", "worker.log", "genotype.txt", "checkpoint.*",
               "*.parquet", ".*.tmp", "rankings", "snapshots")


class ResumableConfig(Protocol):
    """What the skeleton reads of a run's configuration."""

    @property
    def preset(self) -> Any: ...  # with ``total_epochs``

    @property
    def threads(self) -> int: ...  # CPU (intra-op) threads, part of the identity

    def identity(self) -> dict[str, Any]: ...


def check_threads(threads: Any) -> int:
    """A CPU thread count: a whole number >= 1, else a one-line error."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise NasBenchError(f"threads must be a whole number of CPU threads >= 1, got {threads!r}",
                            "set --threads 1 (the default) or more")
    return threads


@contextlib.contextmanager
def cpu_threads(threads: int) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` inside the block, the previous count restored after it: the
    thread count changes the order of CPU reductions, so it is part of a run's configuration, never taken
    from the process (``OMP_NUM_THREADS``, a sweep's worker count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(check_threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files :func:`benchmark.io.atomic_path` leaves when its process is killed
    before the rename, in ``folder`` and its subfolders (only safe under the folder's lock)."""
    stale = [*folder.glob(".*.tmp"), *folder.glob("*/.*.tmp")]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _as_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


class ResumableRun(ABC):
    """Train epoch by epoch into ``out_dir``, then :meth:`finish` (final evaluation, ``result.json``).

    Guarantees:

    * one run at a time per folder (``FOLDER/.lock``); the run computes with ``cfg.threads`` CPU threads;
    * ``config.json`` records the resolved config; a folder holding another configuration's run (finished
      or not) is refused with a one-line error naming both, unless ``overwrite`` deletes that run first;
    * after every epoch, ``checkpoint.pt`` holds the run's ``identity``, its ``state`` and
      :meth:`checkpoint_contents` as plain data, with its SHA-256 recorded and the previous checkpoint
      kept (:mod:`benchmark.checkpoint`), so a kill at any moment leaves an intact checkpoint;
    * :meth:`run` in the same folder removes half-written temporary files, restores the newest intact
      checkpoint (weights-only) and continues at the next epoch (after the last one, it only repeats
      :meth:`finish`), with the same result as an uninterrupted run (exactly, on CPU), provided every
      random stream an epoch draws from is seeded by the epoch or checkpointed;
    * a checkpoint of another identity, or one without an intact file, is refused with a one-line error;
    * a finished run of the same configuration is returned as written, without any setup
      (``finished_before`` is then True);
    * a folder this call created is removed again if the run stops before its first checkpoint;
    * :meth:`timed` adds each phase's wall-clock seconds to ``state.timings``, which is checkpointed, so a
      resumed run's timings include its epochs finished before the kill.

    Subclasses set ``state_class`` (a dataclass with ``epoch``, ``train_log`` and ``timings``) and implement
    the abstract methods (:meth:`setup` sets ``device`` and ``steps_per_epoch``); :meth:`end_of_epoch` is
    optional.
    """

    state_class: ClassVar[type]
    run_kind: ClassVar[str] = "run"  # names the run in the fix of an unreadable checkpoint

    def __init__(self, cfg: ResumableConfig, out_dir: Path, progress: bool = True,
                 log: Callable[[str], None] = print, overwrite: bool = False):
        self.cfg = cfg
        self.p = cfg.preset
        self.out = Path(out_dir)
        self.progress = progress
        self.log = log
        self.overwrite = overwrite
        self.state = self.state_class()
        self.finished_before = False  # set by :meth:`run`: the folder held this run, finished
        self._checkpointed = False

    # ------------------------------------------------------------------ hooks
    @property
    @abstractmethod
    def progress_label(self) -> str:
        """The run, as progress bars and lines name it (e.g. ``senas seed 0``)."""

    def progress_detail(self, epoch: int) -> str:
        """What a progress line adds after epoch ``epoch`` (e.g. the stage); nothing by default."""
        return ""

    @abstractmethod
    def setup(self) -> None:
        """Data, model, optimizer and ``steps_per_epoch``; refuse impossible settings first."""

    @abstractmethod
    def train_epoch(self, epoch: int, total_steps: int) -> dict[str, Any]:
        """Train epoch ``epoch`` (1-based) of ``total_steps`` steps in all; the row of ``state.train_log``."""

    def end_of_epoch(self, epoch: int) -> None:
        """After the epoch is logged, before its checkpoint (measurements, the end of a stage)."""

    @abstractmethod
    def checkpoint_contents(self) -> dict[str, Any]:
        """Everything besides ``identity`` and ``state`` that resuming needs."""

    @abstractmethod
    def restore(self, ck: dict[str, Any]) -> None:
        """Load :meth:`checkpoint_contents` back (``state`` is restored already)."""

    @abstractmethod
    def finish(self) -> dict[str, Any]:
        """After the last epoch: evaluate, write the outputs and ``result.json``; return the result."""

    # ------------------------------------------------------------------ the run
    def run(self) -> dict[str, Any]:
        """Train (resuming from ``checkpoint.pt``), then :meth:`finish`; a finished run's ``result.json``."""
        check_threads(self.cfg.threads)
        created = not self.out.exists()
        self._make_folder()
        try:
            with FolderLock(self.out, "run", "wait for it to finish, or use another --out directory"):
                return self._run_locked()
        except BaseException:
            if created and not self._checkpointed:  # nothing worth keeping: leave no empty run folder
                shutil.rmtree(self.out, ignore_errors=True)
            raise

    def _make_folder(self) -> None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise NasBenchError(f"--out {self.out} is a file, not a folder", "choose a folder for --out") from None
        except OSError as e:
            raise NasBenchError(f"cannot create the run folder {self.out} ({e.strerror})",
                                "choose a writable --out folder") from None

    def _run_locked(self) -> dict[str, Any]:
        finished = self.claim_folder()
        if finished is not None:
            self.finished_before = True
            return finished
        stale = remove_stale_temp_files(self.out)
        if stale:
            self.log(f"removed {len(stale)} half-written temporary file(s) left by an interrupted process")
        with cpu_threads(self.cfg.threads):
            self.setup()
            if not (self.out / CONFIG_FILE).exists():
                write_json(self.out / CONFIG_FILE, resolved_of(self.cfg))
            if self.load_checkpoint():
                self.log(f"resuming {self.out} after epoch {self.state.epoch}")
            total = self.p.total_epochs
            with progress_bar(self.progress_label, total, self.progress, what="epoch", done=self.state.epoch,
                              detail=self.progress_detail) as advance:
                for epoch in range(self.state.epoch + 1, total + 1):
                    self.run_epoch(epoch, total * self.steps_per_epoch)
                    self.save_checkpoint()
                    advance(1)
            return self.finish()

    # ------------------------------------------------------------------ the folder
    @property
    def _fix(self) -> str:
        return "use another --out directory, or pass --overwrite to delete that run and start over"

    def claim_folder(self) -> dict[str, Any] | None:
        """Check what ``out`` holds before anything is written: with ``overwrite``, delete any run there;
        else refuse another configuration's run (``config.json``, ``result.json``), and return the result
        of this configuration's finished run (``None`` when it is not finished)."""
        if self.overwrite:
            self.delete_run()
            return None
        mine = resolved_of(self.cfg)
        stored = self.out / CONFIG_FILE
        if stored.exists():
            try:
                theirs = read_json(stored)
            except (OSError, ValueError) as e:
                raise NasBenchError(f"{stored} is unreadable ({type(e).__name__})", self._fix) from None
            if not isinstance(theirs, dict) or run_id(theirs) != run_id(mine):
                raise other_config_error(self.out, theirs, mine, self._fix)
        result_path = self.out / "result.json"
        if not result_path.exists():
            return None
        try:
            result = read_json(result_path)
        except (OSError, ValueError) as e:
            raise NasBenchError(f"{result_path} is not a readable result ({type(e).__name__})", self._fix) from None
        if not isinstance(result, dict) or not isinstance(result.get("config"), dict):
            raise NasBenchError(f"{result_path} is not a result of this toolkit (no 'config' in it)", self._fix)
        if result["config"] != _as_json(self.cfg.identity()):
            raise other_config_error(self.out, resolved_from_identity(result["config"]), mine, self._fix)
        return result

    def delete_run(self) -> None:
        """Delete the run outputs in ``out`` (``RUN_OUTPUTS``; other files stay), for ``--overwrite``."""
        for pattern in RUN_OUTPUTS:
            for path in self.out.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)

    def run_epoch(self, epoch: int, total_steps: int) -> None:
        """Train epoch ``epoch``, log it as the last finished one, then :meth:`end_of_epoch`."""
        with self.timed("train_s"):
            stats = self.train_epoch(epoch, total_steps)
        check_finite_loss(stats, epoch, getattr(self.p, "lr", None))
        self.state.train_log.append({"epoch": epoch, **stats})
        self.state.epoch = epoch
        self.end_of_epoch(epoch)

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the block's wall-clock seconds to ``state.timings[phase]``."""
        t0 = time.perf_counter()
        yield
        self.state.timings[phase] += time.perf_counter() - t0

    # ------------------------------------------------------------------ checkpoints
    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        write_checkpoint(self.ckpt_path, {"identity": self.cfg.identity(), "state": dataclasses.asdict(self.state),
                                          **self.checkpoint_contents()})
        self._checkpointed = True

    def load_checkpoint(self) -> bool:
        """Restore the newest intact checkpoint if there is one (tensors on ``self.device``); whether there
        was."""
        ck = read_checkpoint(self.ckpt_path, self.device, self.cfg.identity(), run=self.run_kind, log=self.log)
        if ck is None:
            return False
        self.state = self.state_class(**ck["state"])
        self.restore(ck)
        return True


def read_checkpoint(path: Path, device: torch.device | str, identity: Mapping[str, Any], *, run: str = "run",
                    log: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """The newest intact checkpoint at ``path`` (SHA-256 checked, loaded weights-only, tensors on
    ``device``), ``None`` when there is none; a one-line error when none is intact or it belongs to another
    identity (``run`` names the kind of run in the fix)."""
    fix = f"delete {path.name}* in {path.parent} to restart the {run} from scratch, or use another --out"
    ck = read_checkpoint_file(path, device, fix, log)
    if ck is None:
        return None
    if not isinstance(ck, dict) or "identity" not in ck or "state" not in ck:
        raise NasBenchError(f"checkpoint {path} is not a checkpoint of this toolkit", fix)
    if _as_json(ck["identity"]) != _as_json(dict(identity)):
        raise other_config_error(path.parent, resolved_from_identity(dict(ck["identity"])),
                                 resolved_from_identity(dict(identity)), "use another --out directory, or pass "
                                 "--overwrite to delete that run and start over")
    return ck
