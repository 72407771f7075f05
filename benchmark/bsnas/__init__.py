"""BS-NAS (Shen et al.): spring-block channel search, step-shrinking training and evolutionary search.

``step_shrinking`` is the reusable Sec. 3.2 component (NB201 and ImageNet); ``presets`` holds the ImageNet
settings; ``imagenet`` is the ``bsnas`` ImageNet search method (registered in
:mod:`benchmark.imagenet.methods`).
"""
