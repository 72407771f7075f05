"""SPOS (Guo et al., 2020): one supernet trained with uniform single-path sampling, no shrinking.

It is the baseline of SE-NAS Figs. 7-8 and Table 1: it trains for the same total epochs and ranks the
architectures of its own (unshrunk) space. Its evaluated weights are kept at every tau epoch so that it can
also rank exactly the architectures SE-NAS ranks (like-for-like, :mod:`benchmark.pairing`).

``spos_avg`` is SPOS with SE-NAS's Eq. 4 weight averaging (K = 5 snapshots over the last epoch of each
stage): the ablation that separates what averaging brings from what shrinking-and-expanding brings
(SE-NAS Sec. 4.2 credits averaging with "a lot" of the stability).
"""

from benchmark.methods.base import OneShotRun


class SPOS(OneShotRun):
    """Uniform sampling, one stage structure kept only for the schedule; nothing is removed."""

    method = "spos"
    default_weight_avg_k = 1
    keeps_snapshots = True


class SPOSAveraged(SPOS):
    """SPOS evaluated with the Eq. 4 average of K = 5 weight snapshots, as SE-NAS is."""

    method = "spos_avg"
    default_weight_avg_k = 5
