"""Ground truth read through the benchmarks' own ``ArchResults`` objects (official NB201 .pth, NATS-tss).

Both APIs keep, per architecture and training schedule, one ``ArchResults`` with every seed's run.
The seed mean is ``get_metrics(dataset, split, is_random=False)`` of the 200-epoch record -- what
``get_more_info(index, dataset, hp='200', is_random=False)`` returns (its defaults, ``hp='12'`` and
``is_random=True``, would give one random seed of the 12-epoch schedule) -- and one seed's value is
``get_metrics(..., is_random=seed)``. Params/FLOPs come from the 12-epoch record: the 200-epoch
cost info is wrong for some architectures (NATS-Bench issue #36, see the table README).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import pandas as pd

from benchmark.errors import NasBenchError
from benchmark.groundtruth.base import GroundTruth
from benchmark.groundtruth.metrics import (
    ACCURACIES,
    API_DATASET,
    COSTS,
    NATS_COPIES,
    TABLE_COLUMNS,
    UNIQUE_STR,
)
from benchmark.spaces.nb201 import NB201Index


@dataclass(frozen=True)
class ArchRecord:
    """The 200-epoch results of one architecture, reduced to what the ground truth needs."""

    per_seed: dict[str, dict[int, float]]  # metric -> {seed: accuracy}
    mean: dict[str, float]  # metric -> seed mean
    costs: dict[str, float]  # compact cost column -> params (M) or FLOPs (M)


def read_record(full: Any, less: Any | None) -> ArchRecord:
    """Extract an :class:`ArchRecord` from the 200-epoch (``full``) and 12-epoch (``less``) ArchResults."""
    per_seed: dict[str, dict[int, float]] = {}
    mean: dict[str, float] = {}
    for metric in ACCURACIES:
        dataset, split = metric.split("/")
        name = API_DATASET[dataset]
        if name not in full.get_dataset_names():
            continue
        try:
            per_seed[metric] = {int(s): float(full.get_metrics(name, split, is_random=s)["accuracy"])
                                for s in full.get_dataset_seeds(name)}
            mean[metric] = float(full.get_metrics(name, split, is_random=False)["accuracy"])
        except KeyError:  # the benchmark did not evaluate this split for this dataset
            per_seed.pop(metric, None)
    cost_source = less if less is not None else full
    costs = {}
    for metric, col in COSTS.items():
        dataset, kind = metric.split("/")
        if API_DATASET[dataset] in cost_source.get_dataset_names():
            costs[col] = float(cost_source.get_compute_costs(API_DATASET[dataset])[kind])
    return ArchRecord(per_seed, mean, costs)


def unique_str(arch: str) -> str:
    """NATS-Bench isomorphism key of an NB201 string (what ``NATStopology.get_unique_str`` returns)."""
    from nats_bench.genotype_utils import topology_str2structure  # only the benchmark APIs' path needs it

    return topology_str2structure(arch).to_unique_str(consider_zero=True)


class ApiGroundTruth(GroundTruth):
    """Ground truth from an official API: records fetched on demand and kept in small form."""

    def __init__(self, kind: str, source: str, meta_archs: list[str], recorded: Iterable[int],
                 fetch: Callable[[int], ArchRecord]):
        index = NB201Index(list(meta_archs), source)
        super().__init__(source, {s: i for i, s in enumerate(index.strings)})
        self._strings = index.strings
        self.kind = kind
        self.recorded = frozenset(int(i) for i in recorded)
        self._fetch = fetch
        self._records: dict[int, ArchRecord] = {}
        self._compact: pd.DataFrame | None = None

    def _record(self, index: int) -> ArchRecord | None:
        if index not in self.recorded:
            return None
        if index not in self._records:
            self._records[index] = self._fetch(index)
        return self._records[index]

    def _mean(self, index: int, metric: str) -> float:
        record = self._record(index)
        return math.nan if record is None else record.mean.get(metric, math.nan)

    def _per_seed(self, index: int, metric: str) -> dict[int, float]:
        record = self._record(index)
        if record is None or metric not in record.per_seed:
            raise NasBenchError(f"{self.source} has no {metric} results for index {index}",
                                f"query one of its {len(self.recorded)} recorded architectures")
        return record.per_seed[metric]

    def compact(self) -> pd.DataFrame:
        """The compact table of this source (reads every record once: minutes for a full NATS folder)."""
        if self._compact is None:
            archs = self._strings
            records = [self._record(i) for i in range(len(archs))]
            data: dict[str, list] = {"index": list(range(len(archs))), "arch": archs}
            for metric, col in ACCURACIES.items():
                data[col] = [math.nan if r is None else r.mean.get(metric, math.nan) for r in records]
            if self.kind == "nats-tss":  # every accuracy of this source is the NATS-Bench release
                data.update({col: data[ACCURACIES[metric]] for col, metric in NATS_COPIES.items()})
            for col in COSTS.values():
                data[col] = [math.nan if r is None else r.costs.get(col, math.nan) for r in records]
            data[UNIQUE_STR[1]] = [unique_str(s) for s in archs]
            self._compact = pd.DataFrame({c: data[c] for c in TABLE_COLUMNS if c in data})
        return self._compact.copy()
