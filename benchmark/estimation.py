"""Supernet accuracy of an architecture on the validation split, under an explicit BatchNorm policy.

BatchNorm decides weight-sharing results on NB201, so the policy is a named option recorded in every
result (see ``docs/batchnorm.md``):

* ``recalibrate`` -- reset the statistics and re-estimate them on a fixed set of training batches for
  each architecture before evaluating it (as official SPOS does);
* ``batch``       -- every BatchNorm, stem and reduction blocks included, normalises each validation batch
  with that batch's own statistics;
* ``tracked``     -- every BatchNorm uses the running statistics tracked during supernet training;
* ``nb201``       -- NB201's weight-sharing baselines at evaluation (``network.eval()`` in ``xautodl``): the
  searchable cells normalise with batch statistics (their BatchNorm tracks none there), the stem, the
  reduction blocks and lastact with the running statistics they tracked during training.

Evaluation runs in one numeric path: :func:`evaluate_archs` sends every NB201 architecture through
:func:`evaluate_arch_group` (groups of one on CPU), whose results do not depend on the group size, in the
precision :meth:`FastPath.evaluation` sets (fp32 unless ``eval_autocast``).

Eq. 4 (SE-NAS, evaluation stability) averages K snapshots of the weights of the last epoch:
:class:`WeightAverager` wraps ``torch.optim.swa_utils.AveragedModel``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from benchmark.errors import NasBenchError
from benchmark.fastpath import FastPath
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.spaces.base import Arch
from benchmark.spaces.nb201 import EDGES
from benchmark.vocabulary import BN_POLICIES

Batch = tuple[torch.Tensor, torch.Tensor]


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _outside_cells(model: nn.Module) -> set[int]:
    """Ids of the BatchNorms outside the searchable cells (stem, reduction blocks, lastact): those that
    keep their tracked statistics under the ``nb201`` policy."""
    shared = getattr(model, "shared_modules", None)
    if shared is None:
        raise NasBenchError(f"bn_eval=nb201 needs to know which layers of a {type(model).__name__} lie outside "
                            "the searchable cells", "use bn_eval=recalibrate, batch or tracked for this model")
    return {id(m) for module in shared() for m in _batchnorms(module)}


@contextmanager
def bn_policy(model: nn.Module, policy: str, forward: Callable[[torch.Tensor], torch.Tensor],
              recal_batches: Sequence[Batch] = ()) -> Iterator[None]:
    """Put ``model``'s BatchNorm layers in the evaluation state of ``policy``; restore them afterwards.

    Nothing the policy touches survives the context: tracked statistics and train/eval mode are restored,
    so evaluating never changes the supernet that training continues from.
    """
    bns = _batchnorms(model)
    was_training = model.training
    saved = [(m.momentum, m.track_running_stats, m.running_mean, m.running_var, m.num_batches_tracked)
             for m in bns]
    try:
        if policy == "recalibrate":
            dev = next((p.device for p in model.parameters()), torch.device("cpu"))
            for m in bns:
                m.track_running_stats = True
                m.running_mean = torch.zeros(m.num_features, device=dev)
                m.running_var = torch.ones(m.num_features, device=dev)
                m.num_batches_tracked = torch.zeros((), dtype=torch.long, device=dev)
                m.momentum = None  # cumulative average over the recalibration batches
            model.train()
            with torch.no_grad():
                for x, _ in recal_batches:
                    forward(x)
            model.eval()
        elif policy == "batch":
            for m in bns:
                m.track_running_stats = False  # batch statistics; tracked ones neither read nor updated
            model.train()
        elif policy == "tracked":
            model.eval()
        elif policy == "nb201":
            outside = _outside_cells(model)
            model.eval()
            for m in bns:
                if id(m) not in outside:  # as an untracked BatchNorm in eval mode: batch statistics
                    m.track_running_stats = False
                    m.train()
        else:
            raise ValueError(f"unknown BatchNorm policy {policy!r}")
        yield
    finally:
        for m, (mom, track, mean, var, nbt) in zip(bns, saved):
            m.momentum, m.track_running_stats = mom, track
            m.running_mean, m.running_var, m.num_batches_tracked = mean, var, nbt
        model.train(was_training)


@torch.no_grad()
def _correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=1) == y).sum()


def evaluate_arch(model: nn.Module, arch: Arch, val_batches: Sequence[Batch], policy: str,
                  recal_batches: Sequence[Batch] = (), fast: FastPath | None = None) -> float:
    """Top-1 accuracy (percent) of ``arch`` with the supernet's weights (Eq. 2's ACC_val), through the
    model's own BatchNorm modules in the state :func:`bn_policy` sets (any supernet taking ``(x, arch)``).

    ``fast`` (default: none, today's exact results) sets the precision (:meth:`FastPath.evaluation`) and
    the channels-last input format.
    """
    fast = FastPath() if fast is None else fast

    def forward(x: torch.Tensor) -> torch.Tensor:
        with fast.evaluation(x.device.type):
            return model(fast.prepare_input(x), arch)

    total = 0
    with bn_policy(model, policy, forward, recal_batches), torch.no_grad():
        hits = []
        for x, y in val_batches:
            hits.append(_correct(forward(x), y))
            total += len(y)
        correct = int(torch.stack(hits).sum()) if hits else 0
    return 100.0 * correct / max(total, 1)


def evaluate_archs(model: nn.Module, archs: Iterable[Arch], val_batches: Sequence[Batch], policy: str,
                   recal_batches: Sequence[Batch] = (), progress: Callable[[int], None] | None = None,
                   fast: FastPath | None = None) -> np.ndarray:
    """Supernet accuracy of many architectures, in order.

    An NB201 supernet always goes through :func:`evaluate_arch_group`, ``fast.eval_group`` architectures at
    a time (1 on CPU; the last group may be smaller), so every architecture of a ranking takes the same
    numeric path whatever the group size (one host sync per group). Other supernets are evaluated one
    after another with :func:`evaluate_arch`.
    """
    fast = FastPath() if fast is None else fast
    archs = list(archs)
    grouped = isinstance(model, NB201Supernet)
    size = fast.eval_group if grouped else 1
    out: list[float] = []
    with fast.backend_flags():
        for lo in range(0, len(archs), size):
            chunk = archs[lo:lo + size]
            if grouped:
                out += evaluate_arch_group(model, chunk, val_batches, policy, recal_batches, fast)
            else:
                out.append(evaluate_arch(model, chunk[0], val_batches, policy, recal_batches, fast))
            if progress is not None:
                progress(len(chunk))
    return np.asarray(out, dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# Several architectures per launch: the images of g architectures are stacked along the batch (arch-major,
# g x B rows), each edge operation runs once on the rows of the architectures that use it, and every
# BatchNorm keeps g sets of statistics, so each architecture is normalised as if it were evaluated alone.

class _GroupBatchNorm:
    """The BatchNorm policies of :func:`bn_policy` with one set of statistics per architecture.

    A BatchNorm module that sees ``g_m * B`` rows (``B`` images per architecture, set per batch in
    ``rows``) serves ``g_m`` architectures; the stem sees ``B`` rows and, being shared by all of them,
    keeps one set (its statistics are the same for every architecture). ``tracked``: the ids of the
    modules that normalise with their running statistics (every one with statistics under ``tracked``,
    those outside the cells under ``nb201``, none otherwise).

    Every normalisation is ``F.batch_norm`` on a view with ``g_m x C`` channels (one plane per image and
    channel, as for one architecture), so each architecture gets bit for bit what the module computes for
    it alone on CPU. (Applying re-estimated statistics as ``x * scale + shift`` with separately computed
    terms does not: BatchNorm's kernel rounds its per-channel terms differently, by up to 1e-6.)
    """

    def __init__(self, policy: str, tracked: set[int] = frozenset()):
        self.policy = policy
        self.tracked = tracked
        self.rows = 0  # images per architecture in the current batch
        self.step = 0  # recalibration batches seen
        self.frozen = False  # after recalibration: normalise with the re-estimated statistics
        self.stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _stats(self, m: nn.modules.batchnorm._BatchNorm, g: int, device: torch.device):
        if id(m) not in self.stats:  # as bn_policy: mean 0, variance 1 before any recalibration batch
            self.stats[id(m)] = (torch.zeros(g * m.num_features, device=device),
                                 torch.ones(g * m.num_features, device=device))
        return self.stats[id(m)]

    def forward(self, m: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
        g, c = x.shape[0] // self.rows, m.num_features
        if id(m) in self.tracked:  # running statistics, shared by all g: nothing to split
            return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, training=False, eps=m.eps)
        weight = None if m.weight is None else m.weight.repeat(g)
        bias = None if m.bias is None else m.bias.repeat(g)
        z = x if g == 1 else x.reshape(g, self.rows, *x.shape[1:]).transpose(0, 1).reshape(
            self.rows, g * c, *x.shape[2:])
        if self.policy == "recalibrate":  # momentum 1/step = BatchNorm's cumulative average (momentum=None)
            mean, var = self._stats(m, g, x.device)
            out = F.batch_norm(z, mean, var, weight, bias, training=not self.frozen,
                               momentum=1.0 / max(self.step, 1), eps=m.eps)
        else:  # "batch" (and the untracked ones of "tracked", "nb201"): each batch normalised with its own
            out = F.batch_norm(z, None, None, weight, bias, training=True, eps=m.eps)
        if g == 1:
            return out
        return out.reshape(self.rows, g, *x.shape[1:]).transpose(0, 1).reshape(x.shape)


@contextmanager
def _group_batchnorm(model: nn.Module, gbn: _GroupBatchNorm) -> Iterator[None]:
    """Route every BatchNorm of ``model`` through ``gbn``, in eval mode; restore both afterwards."""
    was_training = model.training
    bns = _batchnorms(model)
    model.eval()
    for m in bns:
        m.forward = functools.partial(gbn.forward, m)
    try:
        yield
    finally:
        for m in bns:
            del m.forward
        model.train(was_training)


Routes = list[tuple[nn.Module, torch.Tensor | None]]  # an edge's modules and the rows that run each
GroupPlan = list[list[Routes]]  # cells x edges


def _group_plan(model: NB201Supernet, archs: Sequence[Arch], device: torch.device) -> GroupPlan:
    """For each cell and edge: (module, indices of the architectures that run it; ``None`` = all)."""
    g = len(archs)
    cells = []
    for k in range(len(model.cell_positions)):
        edges = []
        for e in range(len(EDGES)):
            users: dict[int, tuple[nn.Module, list[int]]] = {}
            for a, arch in enumerate(archs):
                if arch[e] != "none":
                    module = model.edge_op(k, e, arch[e], arch)
                    users.setdefault(id(module), (module, []))[1].append(a)
            edges.append(list(users.values()))
        cells.append(edges)
    flat = [a for edges in cells for groups in edges for _, rows in groups for a in rows]
    index = torch.tensor(flat, dtype=torch.long).to(device)  # one host-to-device copy per group
    plan: GroupPlan = []
    start = 0
    for edges in cells:
        plan.append([])
        for groups in edges:
            routed = []
            for module, rows in groups:
                routed.append((module, None if len(rows) == g else index[start:start + len(rows)]))
                start += len(rows)
            plan[-1].append(routed)
    return plan


def _group_cell(x: torch.Tensor, edges: list[Routes], g: int) -> torch.Tensor:
    """The NB201 cell rule (:func:`benchmark.models.nb201_ops.cell_forward`) for g stacked architectures;
    each architecture's node sums are taken in the same edge order, so they equal the one-by-one sums."""
    shape5 = (g, x.shape[0] // g, *x.shape[1:])
    nodes = [x]
    acc: torch.Tensor | None = None
    for (j, i), groups in zip(EDGES, edges):
        if j > len(nodes):  # first edge into node j: close node j-1
            nodes.append(torch.zeros_like(x) if acc is None else acc.view(x.shape))
            acc = None
        for module, rows in groups:
            src = nodes[i]
            y = module(src if rows is None else src.view(shape5).index_select(0, rows).flatten(0, 1))
            dtype = y.dtype if acc is None else torch.promote_types(acc.dtype, y.dtype)
            acc = x.new_zeros(shape5, dtype=dtype) if acc is None else acc.to(dtype)
            if rows is None:
                acc.add_(y.view(shape5))
            else:
                acc.index_add_(0, rows, y.view(-1, *shape5[1:]).to(dtype))
    return torch.zeros_like(x) if acc is None else acc.view(x.shape)


def _group_logits(model: NB201Supernet, plan: GroupPlan, g: int, x: torch.Tensor) -> torch.Tensor:
    """Logits of the g planned architectures on the same images ``x``: (g * B) x classes, arch-major.
    The stem runs once (it precedes every cell, so it is the same for all g)."""
    h = model.stem(x)
    h = h.expand(g, *h.shape).flatten(0, 1)
    cells = iter(plan)
    positions = set(model.cell_positions)
    for p, layer in enumerate(model.cells):
        h = _group_cell(h, next(cells), g) if p in positions else layer(h)
    return model.head(h)


def group_logits(model: NB201Supernet, archs: Sequence[Arch], val_batches: Sequence[Batch], policy: str,
                 recal_batches: Sequence[Batch] = (), fast: FastPath | None = None,
                 ) -> Iterator[torch.Tensor]:
    """The logits of the architectures ``archs`` on each validation batch, ``g x B x classes``, under
    BatchNorm ``policy`` with statistics kept per architecture (recalibrated first if the policy says so).

    On CPU in fp32 each architecture's logits are bit-identical whatever the group it is evaluated in,
    groups of one included, and equal to :func:`evaluate_arch`'s (tests/test_fastpath.py). Arguments are
    checked at the call; iterate the result to its end (or close it): the supernet's BatchNorm layers are
    rerouted while it runs and restored when it finishes."""
    if policy not in BN_POLICIES:
        raise ValueError(f"unknown BatchNorm policy {policy!r}")
    fast = FastPath() if fast is None else fast
    archs = [model.check_arch(a) for a in archs]
    g = len(archs)
    device = next(model.parameters()).device
    plan = _group_plan(model, archs, device)
    tracked: set[int] = set()
    if policy == "tracked":
        tracked = {id(m) for m in _batchnorms(model) if m.running_mean is not None}
    elif policy == "nb201":
        tracked = _outside_cells(model)
    gbn = _GroupBatchNorm(policy, tracked)

    def logits(x: torch.Tensor) -> torch.Tensor:
        gbn.rows = len(x)
        with fast.evaluation(x.device.type):
            return _group_logits(model, plan, g, fast.prepare_input(x)).view(g, len(x), -1)

    def run() -> Iterator[torch.Tensor]:
        with _group_batchnorm(model, gbn), torch.no_grad():
            if policy == "recalibrate":
                for step, (x, _) in enumerate(recal_batches, start=1):
                    gbn.step = step
                    logits(x)
                gbn.frozen = True
            for x, _ in val_batches:
                yield logits(x)

    return run()  # checks above run now; the model is in evaluation state only while this is iterated


def evaluate_arch_group(model: NB201Supernet, archs: Sequence[Arch], val_batches: Sequence[Batch],
                        policy: str, recal_batches: Sequence[Batch] = (), fast: FastPath | None = None,
                        ) -> list[float]:
    """:func:`evaluate_arch` for several architectures at once (:func:`group_logits`): the same BatchNorm
    policy, statistics kept per architecture, one host sync for the group. The fast path for GPUs, where
    one small architecture leaves most of the device idle, and the one path :func:`evaluate_archs` takes
    on every device."""
    device = next(model.parameters()).device
    hits = torch.zeros(len(archs), dtype=torch.long, device=device)
    total = 0
    with closing(group_logits(model, archs, val_batches, policy, recal_batches, fast)) as batches:
        for out, (_, y) in zip(batches, val_batches):
            hits += (out.argmax(-1) == y).sum(1)
            total += len(y)
    return [100.0 * c / max(total, 1) for c in hits.tolist()]


class WeightAverager:
    """Eq. 4: the mean of K weight snapshots taken at evenly spaced steps of the last epoch."""

    def __init__(self, model: nn.Module, k: int, steps_per_epoch: int):
        if k < 1:
            raise ValueError("K must be >= 1")
        self.k = k
        # snapshot steps (0-based within the epoch), ending at the last step
        self.steps = {steps_per_epoch - 1 - round(i * steps_per_epoch / k) for i in range(k)}
        self.averaged = AveragedModel(model, use_buffers=False)

    def maybe_update(self, model: nn.Module, step_in_epoch: int) -> None:
        if step_in_epoch in self.steps:
            self.averaged.update_parameters(model)

    @property
    def module(self) -> nn.Module:
        return self.averaged.module
