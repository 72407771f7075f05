"""Analysis of one-shot NAS runs: the NAS-Bench-201 ground truth and ranking-correlation metrics."""
