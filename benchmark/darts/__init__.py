"""The DARTS-space driver: SE-NAS search on CIFAR-10, genotypes, ImageNet retraining.

Modules: :mod:`.genotypes` (the DARTS ``Genotype`` form), :mod:`.presets`, :mod:`.expanded` (SE-NAS
expanding on the DARTS supernet), :mod:`.relaxation` (the DARTS relaxation behind ``magnitude``),
:mod:`.search`, :mod:`.retrain`, :mod:`.cost` (parameters and FLOPs) and :mod:`.cli` (``darts_app``).
"""
