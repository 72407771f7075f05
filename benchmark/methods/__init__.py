"""One-shot NAS methods on NB201, registered by name (``nasbench run METHOD``)."""

from benchmark.methods.base import METHODS, OneShotRun, RunConfig
from benchmark.methods import bsnas as _bsnas  # noqa: F401  (registers 'bsnas')
from benchmark.methods import senas as _senas  # noqa: F401  (registers 'senas')
from benchmark.methods import spos as _spos  # noqa: F401  (registers 'spos')

__all__ = ["METHODS", "OneShotRun", "RunConfig"]
