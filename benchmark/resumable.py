"""The skeleton of every resumable training run (NB201 methods, the DARTS-space search, standalone training):
an epoch loop with an atomic checkpoint after every epoch, resume at the last finished epoch, and wall-clock
timings per phase.

A checkpoint holds the run's ``identity`` (everything that determines its result); a resumed run must match
it exactly, so a changed setting never continues someone else's training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch

from benchmark.errors import NasBenchError
from benchmark.io import read_json, torch_save
from benchmark.progress import progress_bar


class ResumableConfig(Protocol):
    """What the skeleton reads of a run's configuration."""

    @property
    def preset(self) -> Any: ...  # with ``total_epochs``

    def identity(self) -> dict[str, Any]: ...


class ResumableRun(ABC):
    """Train epoch by epoch into ``out_dir``, then :meth:`finish` (final evaluation, ``result.json``).

    Guarantees:

    * after every epoch, ``checkpoint.pt`` holds the run's ``identity``, its ``state`` and
      :meth:`checkpoint_contents`, written atomically (a temporary file renamed over the old one), so a
      kill at any moment leaves the last finished epoch's checkpoint intact, never a partial file;
    * :meth:`run` in the same folder restores it and continues at the next epoch (after the last one, it
      only repeats :meth:`finish`), with the same result as an uninterrupted run (exactly, on CPU),
      provided every random stream an epoch draws from is seeded by the epoch or checkpointed;
    * a checkpoint of another identity, or an unreadable one, is refused with a one-line error, never used;
    * a finished run (``result.json`` exists) is returned as written, without any setup;
    * :meth:`timed` adds each phase's wall-clock seconds to ``state.timings``, which is checkpointed, so a
      resumed run's timings include its epochs finished before the kill.

    Subclasses set ``state_class`` (a dataclass with ``epoch``, ``train_log`` and ``timings``) and implement
    the abstract methods (:meth:`setup` sets ``device`` and ``steps_per_epoch``); :meth:`end_of_epoch` is
    optional.
    """

    state_class: ClassVar[type]
    checkpoint_weights_only: ClassVar[bool] = False  # True when the contents are tensors and plain data only
    run_kind: ClassVar[str] = "run"  # names the run in the fix of an unreadable checkpoint

    def __init__(self, cfg: ResumableConfig, out_dir: Path, progress: bool = True,
                 log: Callable[[str], None] = print):
        self.cfg = cfg
        self.p = cfg.preset
        self.out = Path(out_dir)
        self.progress = progress
        self.log = log
        self.state = self.state_class()

    # ------------------------------------------------------------------ hooks
    @property
    @abstractmethod
    def progress_label(self) -> str:
        """What the progress bar of the epochs says."""

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
        result_path = self.out / "result.json"
        if result_path.exists():
            return read_json(result_path)
        self.setup()
        self.out.mkdir(parents=True, exist_ok=True)
        if self.load_checkpoint():
            self.log(f"resuming {self.out} after epoch {self.state.epoch}")
        total = self.p.total_epochs
        with progress_bar(self.progress_label, total - self.state.epoch, self.progress) as advance:
            for epoch in range(self.state.epoch + 1, total + 1):
                self.run_epoch(epoch, total * self.steps_per_epoch)
                self.save_checkpoint()
                advance(1)
        return self.finish()

    def run_epoch(self, epoch: int, total_steps: int) -> None:
        """Train epoch ``epoch``, log it as the last finished one, then :meth:`end_of_epoch`."""
        with self.timed("train_s"):
            stats = self.train_epoch(epoch, total_steps)
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
        torch_save(self.ckpt_path, {"identity": self.cfg.identity(), "state": dataclasses.asdict(self.state),
                                    **self.checkpoint_contents()})

    def load_checkpoint(self) -> bool:
        """Restore ``checkpoint.pt`` if there is one (tensors on ``self.device``); whether there was."""
        ck = read_checkpoint(self.ckpt_path, self.device, self.cfg.identity(),
                             weights_only=self.checkpoint_weights_only, run=self.run_kind)
        if ck is None:
            return False
        self.state = self.state_class(**ck["state"])
        self.restore(ck)
        return True


def read_checkpoint(path: Path, device: torch.device | str, identity: Mapping[str, Any], *,
                    weights_only: bool, run: str = "run") -> dict[str, Any] | None:
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
