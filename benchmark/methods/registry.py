"""The one method registry (``nasbench run METHOD --space SPACE``, sweeps, the ImageNet commands): every
method, declared once with the spaces it runs on (:class:`~benchmark.methods.driver.Method`).

``spos``, ``spos_avg``, ``senas`` and ``bsnas`` run on every space that supplies the one-shot pipeline (NB201,
or a space a user registers; ``bsnas`` on NB201 only, whose N_r schedule it is written for), ranked against
its ground truth. The searches of spaces without a ground truth are their drivers: SE-NAS on DARTS
(CIFAR-10, SE-NAS Sec. 4.3), SE-NAS and SPOS on the MobileNet-like space (ImageNet, SE-NAS Table 2), BS-NAS
on its spring space (BS-NAS Sec. 4).
"""

from __future__ import annotations

from benchmark.bsnas.imagenet import BSNAS_ON_SPRING
from benchmark.darts.search import SENAS_ON_DARTS
from benchmark.imagenet.search import SENAS_ON_MOBILENET, SPOS_ON_MOBILENET
from benchmark.methods.bsnas import BSNAS
from benchmark.methods.driver import Method
from benchmark.methods.senas import SENAS
from benchmark.methods.spos import SPOS, SPOSAveraged
from benchmark.registry import Registry

METHODS: Registry[Method] = Registry("method")

METHODS.register("spos")(Method(
    "spos", "SPOS: uniform single-path supernet training, no shrinking (the baseline of SE-NAS Figs. 7-8)",
    oneshot=SPOS, drivers={"mobilenet": SPOS_ON_MOBILENET}))
METHODS.register("spos_avg")(Method(
    "spos_avg", "SPOS with SE-NAS's Eq. 4 weight averaging (K = 5): the averaging ablation", oneshot=SPOSAveraged))
METHODS.register("senas")(Method(
    "senas", "SE-NAS: shrinking (Eq. 5-7 operator scores) and expanding (Sec. 3.4), Algorithm 1",
    oneshot=SENAS, drivers={"darts": SENAS_ON_DARTS, "mobilenet": SENAS_ON_MOBILENET}))
METHODS.register("bsnas")(Method(
    "bsnas", "BS-NAS: fair sampling and step-shrinking by R_i (Sec. 3.2); evolution under FLOPs budgets on "
    "its spring space", oneshot=BSNAS, drivers={"mobilenet-bsnas": BSNAS_ON_SPRING}))


def oneshot_methods() -> list[str]:
    """The methods with a one-shot run (what the NB201 sweeps compare)."""
    return [n for n in METHODS.names() if METHODS.get(n).oneshot is not None]
