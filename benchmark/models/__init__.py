"""NAS-Bench-201 networks: operations, the standalone network, the weight-sharing supernet, and their
parameter / FLOP counts under NB201's conventions."""

from benchmark.models.complexity import count_flops, count_params, nb201_params_flops
from benchmark.models.nb201_network import NB201Network
from benchmark.models.nb201_supernet import NB201Supernet

__all__ = ["NB201Network", "NB201Supernet", "count_flops", "count_params", "nb201_params_flops"]
