"""One interface over every NB201 ground-truth source: accuracies, the table, operation scores.

Subclasses hold the data (compact table, official .pth, NATS-tss folder) and answer three questions:
the official index of an architecture, the seed-mean / per-seed accuracy of one index on one metric,
and the whole compact table. Everything else (name checks, batch lookups, SE-NAS Sec. 4.2 operation
scores, the reporting row of SE-NAS Table 3) is computed here the same way for all sources.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np
import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.groundtruth.metrics import (
    COSTS,
    REPORTED,
    UNIQUE_STR,
    default_metric,
    metric_name,
    reported_for,
)
from benchmark.spaces.base import Arch, SearchSpace
from benchmark.spaces.nb201 import EDGE_NAMES, NUM_ARCHS, OPS, format_arch, parse_arch


def canonical_table(compact: pd.DataFrame) -> pd.DataFrame:
    """The compact table renamed to metric names: index, arch, the six metrics, costs, unique_str."""
    out = pd.DataFrame({"index": compact["index"].to_numpy(), "arch": compact["arch"].to_numpy()})
    for name, col in {**REPORTED, **COSTS}.items():
        if col in compact:
            out[name] = compact[col].to_numpy(dtype=float)
    if UNIQUE_STR[1] in compact:
        out[UNIQUE_STR[0]] = compact[UNIQUE_STR[1]].to_numpy()
    return out


class GroundTruth(ABC):
    """NB201 ground truth of one source. Build it with :func:`benchmark.groundtruth.load_groundtruth`.

    ``accuracy(arch, dataset, split)`` covers the six NB201 reporting metrics; ``split=None`` means the
    :func:`default_metric` of a training dataset (cifar10 | cifar100 | imagenet16-120).
    """

    kind: str  # "table" | "nb201-pth" | "nats-tss"
    default_metric = staticmethod(default_metric)

    def __init__(self, source: str, arch_to_index: dict[str, int]):
        self.source = source
        self._arch_to_index = arch_to_index
        self._op_scores: dict[str, pd.DataFrame] = {}
        self._params: dict[str, dict[str, float]] = {}

    # -- what a source provides ------------------------------------------------------------------
    @abstractmethod
    def _mean(self, index: int, metric: str) -> float:
        """Seed-mean accuracy of ``index`` on ``metric`` (a key of ACCURACIES); NaN if the source lacks it."""

    @abstractmethod
    def _per_seed(self, index: int, metric: str) -> dict[int, float]:
        """Accuracy per training seed; raise NasBenchError where the source has no per-seed results."""

    @abstractmethod
    def compact(self) -> pd.DataFrame:
        """All 15,625 rows (or the rows the table has) in the column layout of nb201_groundtruth.csv.gz."""

    # -- lookups ---------------------------------------------------------------------------------
    def index_of(self, arch: str | Arch) -> int:
        """Official NB201 index of an architecture string (any spelling parse_arch accepts) or op tuple."""
        s = arch if isinstance(arch, str) else format_arch(arch)
        index = self._arch_to_index.get(s)
        if index is None:
            s = format_arch(parse_arch(s))
            index = self._arch_to_index.get(s)
        if index is None:
            raise NasBenchError(f"architecture {s} is not in the ground truth {self.source}",
                                "load the full NB201 table (15,625 architectures)")
        return index

    def metric_name(self, dataset: str, split: str | None = None) -> str:
        """``dataset/split`` of a reporting metric; ``split=None`` -> the default metric of ``dataset``."""
        return metric_name(dataset, split)

    def accuracy(self, arch: str | Arch, dataset: str, split: str | None = None,
                 seed: int | None = None) -> float:
        """200-epoch top-1 accuracy (%) of ``arch``: the seed mean, or one training seed (e.g. 777)."""
        metric = metric_name(dataset, split)
        index = self.index_of(arch)
        if seed is not None:
            per_seed = self._per_seed(index, metric)
            if seed not in per_seed:
                raise NasBenchError(f"index {index} has no seed {seed} on {metric} in {self.source}",
                                    f"use one of its seeds: {sorted(per_seed)}")
            return per_seed[seed]
        value = self._mean(index, metric)
        if math.isnan(value):
            raise NasBenchError(f"no ground truth for index {index} on {metric} in {self.source}",
                                "use a source holding every architecture (the compact table, a full .pth "
                                "or a full NATS-tss folder)")
        return value

    def accuracies(self, archs: Sequence[str | Arch], dataset: str, split: str | None = None,
                   seed: int | None = None) -> np.ndarray:
        """:meth:`accuracy` of each architecture, as a float array in the same order."""
        return np.array([self.accuracy(a, dataset, split, seed) for a in archs], dtype=float)

    def seed_accuracies(self, arch: str | Arch, dataset: str, split: str | None = None) -> dict[int, float]:
        """Accuracy per training seed ({777: ..., 888: ...}); official .pth and NATS sources only."""
        return dict(self._per_seed(self.index_of(arch), metric_name(dataset, split)))

    def reported_accuracies(self, arch: str | Arch, dataset: str | None = None) -> dict[str, float]:
        """The NB201 reporting accuracies of ``arch``: all six, or those of one training dataset."""
        names = list(REPORTED) if dataset is None else reported_for(dataset)
        return {m: self.accuracy(arch, *m.split("/")) for m in names}

    def params(self, archs: Sequence[str], dataset: str) -> np.ndarray:
        """Parameters (M) of each architecture: the table's own column when it has one, else counted
        (``torch.utils.flop_counter`` and the parameter count of the built network)."""
        column = f"{dataset}/params"
        if column not in self._params:
            table = self.table()
            self._params[column] = dict(zip(table["arch"], table[column])) if column in table else {}
        lookup = self._params[column]
        if all(a in lookup for a in archs):
            return np.array([lookup[a] for a in archs], dtype=float)
        from benchmark.models.complexity import nb201_params_flops  # torch, only for a table without params

        return np.array([lookup[a] if a in lookup else nb201_params_flops(parse_arch(a), dataset)[0]
                         for a in archs], dtype=float)

    def table3_row(self, arch: str | Arch) -> dict[str, float]:
        """One row of SE-NAS Table 3: valid and test accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120."""
        return self.reported_accuracies(arch)

    def table(self) -> pd.DataFrame:
        """index, arch, the six reporting metrics (NaN where missing), params/FLOPs, unique_str if known."""
        return canonical_table(self.compact())

    # -- SE-NAS Sec. 4.2 ground-truth operation scores ------------------------------------------------
    def _operation_table(self, metric: str) -> pd.DataFrame:
        """Score and rank of all 30 (edge, op) pairs on ``metric``, computed once per metric."""
        if metric in self._op_scores:
            return self._op_scores[metric]
        t = self.table()
        values = t[metric].to_numpy(dtype=float)
        if len(t) != NUM_ARCHS or np.isnan(values).any():
            raise NasBenchError(
                f"operation scores need {metric} for all {NUM_ARCHS} architectures; "
                f"{self.source} has {int(np.isfinite(values).sum())}",
                "use the full compact table (nb201_groundtruth.csv.gz) or a full .pth",
            )
        ops = np.array([[OPS.index(o) for o in parse_arch(s)] for s in t["arch"]])
        rows = [(e, op, float(values[ops[:, e] == k].mean()))
                for e in range(len(EDGE_NAMES)) for k, op in enumerate(OPS)]
        frame = pd.DataFrame(rows, columns=["edge", "op", "score"])
        frame["rank"] = frame["score"].rank(ascending=False, method="min").astype(int)
        self._op_scores[metric] = frame
        return frame

    def operation_score(self, edge: int, op: str, dataset: str, split: str | None = None) -> float:
        """SE-NAS Sec. 4.2: mean ground-truth accuracy of ALL NB201 architectures with ``op`` on ``edge``.

        ``edge`` indexes benchmark.spaces.nb201.EDGES. Unlike the ``groundtruth`` criterion (mean over the
        *alive* space, the exact value Eq. 5 estimates), this score is fixed by the full space, so the
        ground-truth ranking of Fig. 6 does not move while the space shrinks.
        """
        if not 0 <= edge < len(EDGE_NAMES) or op not in OPS:
            raise NasBenchError(f"no NB201 pair (edge {edge}, {op!r})",
                                f"use edge 0..5 and an op from {', '.join(OPS)}")
        frame = self._operation_table(metric_name(dataset, split))
        return float(frame.loc[(frame["edge"] == edge) & (frame["op"] == op), "score"].iloc[0])

    def operation_scores(self, dataset: str, split: str | None = None,
                         space: SearchSpace | None = None) -> pd.DataFrame:
        """Columns edge, op, score, rank for the alive pairs of ``space`` (all 30 when None), edge-major.

        ``rank`` is the ground-truth rank among all 30 pairs (1 = best, ties share the best rank), so a
        shrunk space still shows where its surviving operations stood (SE-NAS Fig. 6).
        """
        frame = self._operation_table(metric_name(dataset, split))
        if space is None:
            return frame.copy()
        if tuple(space.slots) != EDGE_NAMES or any(tuple(c) != OPS for c in space.choices):
            raise NasBenchError(f"space {space.name!r} is not the NB201 cell space",
                                "pass benchmark.spaces.nb201.nb201_space() or one shrunk from it")
        alive = set(space.alive_pairs())
        keep = [(e, o) in alive for e, o in zip(frame["edge"], frame["op"])]
        return frame[keep].reset_index(drop=True)
