"""Fast-path settings for supernet training and architecture evaluation (``docs/performance.md``).

One frozen :class:`FastPath` says which speed-ups are on. :meth:`FastPath.for_device` picks the defaults:

* CUDA: bf16 autocast for training, channels-last tensors, the fused SGD step, cuDNN autotuning, and
  several architectures evaluated per launch (:func:`benchmark.estimation.evaluate_archs` with
  ``eval_group``); BatchNorm recalibration and evaluation in full fp32 (no autocast, no TF32) unless
  ``eval_autocast`` (the preset's ``eval_autocast``) opts back in, so a ranking is computed in one precision;
* CPU: everything off, which is exactly the toolkit's behaviour without a fast path (foreach SGD).

:meth:`FastPath.eager` switches every optimisation off, including the foreach optimizer step: the plain
eager baseline of ``nasbench perf``. ``compile_ops`` (off everywhere until a GPU measurement says it pays
off; ``nasbench perf --compile`` measures it) compiles each operation of the supernet on its own with
``torch.compile`` ("regional compilation"): a path that changes every step cannot be compiled whole, but
it is made of a few kinds of operation whose compiled code all instances share. Nothing here synchronises
the host with the device.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmark.errors import NasBenchError

OPTIMIZER_STEPS = ("loop", "foreach", "fused")


@dataclass(frozen=True)
class FastPath:
    """Which speed-ups training and evaluation use; the defaults are today's exact CPU behaviour.

    ``autocast_dtype``: run forward passes under ``torch.autocast`` with this dtype (``torch.bfloat16`` or
    ``None``); ``channels_last``: model and inputs in NHWC memory format;
    ``optimizer``: SGD step implementation (``loop`` per tensor, ``foreach`` batched, ``fused`` one kernel);
    ``cudnn_benchmark``: let cuDNN time its convolution algorithms; ``eval_group``: architectures evaluated
    together in one batch of ``eval_group x batch`` images (1 = one architecture after another);
    ``compile_ops``: ``torch.compile`` each of the model's ``compile_regions()`` (its operations);
    ``eval_autocast``: evaluation (BatchNorm recalibration and accuracy) runs under ``autocast_dtype`` too;
    when False it runs in full fp32 (TF32 off on CUDA). The dataclass default (True) keeps a hand-built
    ``FastPath(autocast_dtype=...)`` evaluating as it trains (the ImageNet searches cache their images in
    bf16); :meth:`for_device`, the NB201 pipeline's settings, defaults to fp32 evaluation.
    """

    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    optimizer: str = "foreach"
    cudnn_benchmark: bool = False
    eval_group: int = 1
    compile_ops: bool = False
    eval_autocast: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZER_STEPS:
            raise NasBenchError(f"unknown optimizer step {self.optimizer!r}",
                                f"choose one of: {', '.join(OPTIMIZER_STEPS)}")
        if self.autocast_dtype not in (None, torch.bfloat16):
            raise NasBenchError(f"autocast dtype {self.autocast_dtype} is not supported",
                                "use torch.bfloat16 (float16 would need loss scaling) or None")
        if self.eval_group < 1:
            raise NasBenchError(f"eval_group must be at least 1, got {self.eval_group}",
                                "set eval_group to 1 or more")

    @classmethod
    def eager(cls) -> FastPath:
        """Every optimisation off: fp32, NCHW, a per-tensor SGD loop, one architecture at a time."""
        return cls(optimizer="loop")

    @classmethod
    def for_device(cls, device: torch.device | str, eval_autocast: bool = False) -> FastPath:
        """The defaults for ``device``: all speed-ups on CUDA, none on CPU (exactly today's results).
        On CUDA, evaluation runs in fp32 unless ``eval_autocast`` (bf16 autocast for training only)."""
        device = torch.device(device)
        if device.type != "cuda":
            return cls()
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return cls(autocast_dtype=torch.bfloat16 if bf16 else None, channels_last=True, optimizer="fused",
                   cudnn_benchmark=True, eval_group=16, eval_autocast=eval_autocast)

    def replace(self, **changes: Any) -> FastPath:
        return dataclasses.replace(self, **changes)

    def autocast(self, device_type: str) -> AbstractContextManager:
        """``torch.autocast`` with ``autocast_dtype`` on ``device_type``, or nothing when it is ``None``."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=self.autocast_dtype)

    @property
    def eval_dtype(self) -> torch.dtype:
        """The precision evaluation computes in: ``autocast_dtype`` under ``eval_autocast``, else fp32."""
        if self.eval_autocast and self.autocast_dtype is not None:
            return self.autocast_dtype
        return torch.float32

    def evaluation(self, device_type: str) -> AbstractContextManager:
        """The numeric context of BatchNorm recalibration and evaluation: :meth:`autocast` under
        ``eval_autocast``; otherwise full fp32, with TF32 convolutions and matmuls off on CUDA (restored
        afterwards; nothing changes on CPU)."""
        if self.eval_dtype != torch.float32:
            return self.autocast(device_type)
        if device_type != "cuda":
            return contextlib.nullcontext()
        return _no_tf32()

    @contextlib.contextmanager
    def backend_flags(self) -> Iterator[None]:
        """cuDNN autotuning for the duration of a loop (the global flag is restored afterwards)."""
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = before or self.cudnn_benchmark
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = before

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Put ``model``'s weights in the memory format of the fast path and compile its operations (in
        place; idempotent). Call it again after modules were added (SE-NAS expanding) or copied (a deep
        copy, such as the Eq. 4 average, drops compilation)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.compile_ops:
            regions = getattr(model, "compile_regions", None)
            if regions is None:
                raise NasBenchError(f"{type(model).__name__} does not name its compile regions",
                                    "switch compile_ops off for this model")
            for module in regions():
                if getattr(module, "_compiled_call_impl", None) is None:  # not compiled yet
                    module.compile()
        return model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch in the fast path's memory format (a no-op when channels-last is off)."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings (recorded by ``nasbench perf`` and in each run's ``result.json``), with
        ``eval_dtype``, the precision evaluation used (``float32`` means no autocast and no TF32)."""
        d = dataclasses.asdict(self)
        if self.autocast_dtype is not None:
            d["autocast_dtype"] = str(self.autocast_dtype).removeprefix("torch.")
        d["eval_dtype"] = str(self.eval_dtype).removeprefix("torch.")
        return d


@contextlib.contextmanager
def _no_tf32() -> Iterator[None]:
    """Full-precision fp32 convolutions (cuDNN) and matmuls on CUDA for the duration (PyTorch lets cuDNN
    convolutions use TF32 by default)."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.allow_tf32, matmul.allow_tf32)
    cudnn.allow_tf32, matmul.allow_tf32 = False, False
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = before
