"""What a search space supplies so that the one-shot pipeline (``nasbench run spos|senas --space NAME``)
runs on it: datasets, a supernet, a ground truth to rank against, its architecture strings and convolution
count (the bias diagnostics). A space registers it in its :class:`~benchmark.spaces.SpaceEntry`
(``oneshot``); a space without one is refused by the pipeline in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd
from torch import nn

from benchmark.spaces.base import Arch, SearchSpace


class SpaceGroundTruth(Protocol):
    """A space's ground truth as the pipeline reads it (NB201's :class:`benchmark.groundtruth.GroundTruth`
    is one); architectures are the space's strings (``OneShotSupport.format_arch``)."""

    source: str

    def metric_name(self, dataset: str) -> str:
        """The accuracy ranked against, e.g. ``cifar10/test``."""

    def accuracies(self, archs: Sequence[str], dataset: str) -> np.ndarray:
        """Ground-truth accuracy of each architecture."""

    def params(self, archs: Sequence[str], dataset: str) -> np.ndarray:
        """Parameters (M) of each architecture (the size-bias diagnostic)."""

    def table3_row(self, arch: str) -> dict[str, float]:
        """What a run reports about its best architecture (SE-NAS Table 3)."""

    def operation_scores(self, dataset: str) -> pd.DataFrame:
        """``edge``, ``op``, ``score``, ``rank`` of every (slot, operation) over the full space (Fig. 6)."""


@dataclass(frozen=True)
class OneShotSupport:
    """The one-shot pipeline's view of a space.

    ``supernet(space, num_classes, preset, expandable)`` builds the weight-sharing supernet,
    ``forward(x, arch) -> logits``; with ``expandable`` it must be an
    :class:`~benchmark.models.expandable.ExpandableSupernet` (SE-NAS Sec. 3.4). ``groundtruth(data_root,
    path)`` loads the ground truth (``path``: ``--gt``, or None for the default). ``datasets`` maps each
    dataset it is trained on (:func:`benchmark.data.load_dataset`) to its number of classes.
    """

    datasets: Mapping[str, int]
    supernet: Callable[[SearchSpace, int, Any, bool], nn.Module]
    groundtruth: Callable[[Path, str | None], SpaceGroundTruth]
    format_arch: Callable[[Arch], str]
    conv_count: Callable[[str], int]
