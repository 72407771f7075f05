"""ImageNet search methods, registered by name (``nasbench imagenet mobilenet search --method NAME``).

A method is a class with a ``presets`` mapping (preset name -> its preset object) and
``search(cfg: SearchConfig, out_dir: Path) -> dict`` (the run's summary, also written to
``out_dir/result.json``; :class:`~benchmark.imagenet.config.SearchConfig`). ``senas`` and ``spos`` search
the MobileNet-like space (:mod:`benchmark.imagenet.search`); ``bsnas`` searches the BS-NAS space
(:mod:`benchmark.bsnas.imagenet`).
"""

from __future__ import annotations

from benchmark.bsnas.imagenet import BSNASImageNet
from benchmark.imagenet.search import SENASMobileNet, SPOSMobileNet
from benchmark.registry import Registry

IMAGENET_METHODS: Registry[type] = Registry("ImageNet search method")
IMAGENET_METHODS.register("senas")(SENASMobileNet)
IMAGENET_METHODS.register("spos")(SPOSMobileNet)
IMAGENET_METHODS.register("bsnas")(BSNASImageNet)
