"""Worker process of ``nasbench sweep --workers N``: ``python -m benchmark.harness.worker RESULTS RUN_ID
RUNTIME_JSON`` runs one run with :func:`~benchmark.harness.runs.execute_run` and exits 0 (a failed run
leaves its ``error.json``)."""

from __future__ import annotations

import json
import sys

from benchmark.harness.runs import execute_run


def main(argv: list[str]) -> int:
    results, run_id, runtime = argv
    execute_run(results, run_id, json.loads(runtime))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
