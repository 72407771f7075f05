"""The DARTS-space driver: SE-NAS search on CIFAR-10 and ImageNet retraining of the genotypes it finds.

Modules: :mod:`.presets`, :mod:`.expanded` (SE-NAS expanding on the DARTS supernet), :mod:`.relaxation`
(the DARTS relaxation behind ``magnitude``), :mod:`.search`, :mod:`.retrain`, :mod:`.cost` (parameters
and FLOPs) and :mod:`.cli` (``darts_app``). The space and its ``Genotype`` form live with the other spaces
(:mod:`benchmark.spaces.darts`, :mod:`benchmark.spaces.darts_genotypes`).
"""
