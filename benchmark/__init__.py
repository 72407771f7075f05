"""One-shot NAS benchmark toolkit: SPOS, SE-NAS and BS-NAS against the NAS-Bench-201 ground truth."""

__version__ = "0.1.0"
