"""BS-NAS (Shen et al.): spring-block channel search, step-shrinking training and evolutionary search.

``step_shrinking`` is the reusable Sec. 3.2 component (NB201 and ImageNet); ``presets`` holds the ImageNet
settings; ``imagenet`` is the ``bsnas`` search of its spring space (``mobilenet-bsnas``, a driver of
:mod:`benchmark.methods.registry`) and the retraining of what it finds.
"""
