"""SPOS (Guo et al., 2020): one supernet trained with uniform single-path sampling, no shrinking.

It is the baseline of SE-NAS Figs. 7-8 and Table 1: it trains for the same total epochs and ranks the
architectures of its own (unshrunk) space.
"""

from benchmark.methods.base import METHODS, OneShotRun


@METHODS.register("spos")
class SPOS(OneShotRun):
    """Uniform sampling, one stage structure kept only for the schedule; nothing is removed."""

    method = "spos"
    default_weight_avg_k = 1
