"""Reporting on one-shot NAS runs, the layer on top of :mod:`benchmark`: a results directory read
(:mod:`.results`), its statistics (:mod:`.stats`), Tables 1 and 3 (:mod:`.tables`), the figures
(:mod:`.figures`, :mod:`.fig5`) and the lines ``nasbench compare`` prints (:mod:`.report`)."""
