"""The sweep harness (``nasbench sweep``): a config expanded into runs, one directory per run keyed by the
hash of its resolved config, executed locally, by worker processes or on Ray, with a results index rebuilt
from the run directories. See ``docs/sweeps.md``.

Modules: :mod:`~benchmark.harness.config` (the sweep config: schema, validation, expansion; its ``set``
overrides are typed by :mod:`benchmark.settings`, as ``--set`` is), :mod:`~benchmark.harness.runs` (run
directories, named by the run id of :mod:`benchmark.identity`; status; the per-run function),
:mod:`~benchmark.harness.index` (the results index), :mod:`~benchmark.harness.executors` (local, workers,
Ray), :mod:`~benchmark.harness.sweep` (orchestration: version check, lock, skip / resume / rerun, progress),
:mod:`~benchmark.harness.run_ids` (runs recorded before settings were added, mapped to today's run ids).
"""
