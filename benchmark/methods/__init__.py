"""One-shot NAS methods. The registry of every method on every space is :mod:`benchmark.methods.registry`
(``METHODS``); the one-shot pipeline they share on spaces with a ground truth is :mod:`benchmark.methods.base`."""
