"""Named choices shared by every search space and driver, declared once (docs/batchnorm.md,
docs/criteria.md).

* ``BN_POLICIES``: how a supernet path's BatchNorm layers normalise when it is evaluated -- ``recalibrate``
  (statistics re-estimated per path on training batches, SPOS Sec. 3.3), ``batch`` (each validation
  batch's own statistics), ``tracked`` (running statistics kept in training; BS-NAS Sec. 3.3) and
  ``nb201`` (NB201's protocol: cells on batch statistics, the rest tracked).
* ``NORMALIZATIONS``: the two readings of SE-NAS Eq. 7's "mean normalization" (``mean``: x / mean(x);
  ``range``: 1 + (x - mean(x)) / (max(x) - min(x))).
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmark.errors import NasBenchError

BN_POLICIES: tuple[str, ...] = ("recalibrate", "batch", "tracked", "nb201")
NORMALIZATIONS: tuple[str, ...] = ("mean", "range")
DEFAULT_NORMALIZATION = "mean"


def check_bn_eval(bn_eval: str, bn_track: bool, recal_batches: int,
                  allowed: Sequence[str] = BN_POLICIES) -> None:
    """Refuse a BatchNorm evaluation policy that is unknown, not offered here (``allowed``), or impossible
    with these settings (``tracked`` without running statistics, ``recalibrate`` without batches)."""
    if bn_eval not in allowed:
        raise NasBenchError(f"unknown bn_eval {bn_eval!r}", f"choose one of: {', '.join(allowed)}")
    others = "|".join(p for p in allowed if p != "tracked")
    if bn_eval == "tracked" and not bn_track:
        raise NasBenchError("bn_eval=tracked needs running statistics",
                            f"set bn_track=true or use bn_eval={others}")
    if bn_eval == "recalibrate" and recal_batches < 1:
        raise NasBenchError(f"bn_eval=recalibrate with {recal_batches} recalibration batches or images",
                            "set recal_batches (recal_images) >= 1")


def check_normalization(normalization: str) -> None:
    """Refuse an Eq. 7 normalisation other than :data:`NORMALIZATIONS`."""
    if normalization not in NORMALIZATIONS:
        raise NasBenchError(f"unknown normalization {normalization!r}",
                            f"choose one of: {', '.join(NORMALIZATIONS)}")
