"""NAS-Bench-201 ground truth from the compact table, the official .pth or a NATS-Bench tss folder.

    gt = load_groundtruth("nb201_groundtruth.csv.gz")       # or a .pth, a NATS-tss folder, a data root
    gt.accuracy(arch, "cifar10-valid", "x-valid")            # seed mean, 200 epochs, percent
    gt.accuracy(arch, "cifar10")                             # default metric of a training dataset
    gt.operation_scores("cifar10-valid", "x-valid", space)   # SE-NAS Sec. 4.2 ground-truth operator ranks
"""

from benchmark.groundtruth.base import GroundTruth
from benchmark.groundtruth.load import build_table, default_groundtruth, load_groundtruth
from benchmark.groundtruth.metrics import REPORTED, default_metric, metric_name
from benchmark.groundtruth.table import TableGroundTruth

__all__ = [
    "REPORTED",
    "GroundTruth",
    "TableGroundTruth",
    "build_table",
    "default_groundtruth",
    "default_metric",
    "load_groundtruth",
    "metric_name",
]
