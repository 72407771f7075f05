"""Names of the NB201 ground-truth metrics and their columns in the compact table.

A metric is a (dataset, split) pair of the NB201 API, written ``dataset/split``: dataset is the training
setting (``cifar10-valid`` = 25k CIFAR-10 training images, ``cifar10`` = all 50k, ``cifar100``,
``imagenet16-120``) and split the evaluation set (``x-valid``, ``x-test``, ``ori-test``, ``train``).
Six of them are the accuracies NB201 reports and SE-NAS Table 3 lists; :func:`default_metric` picks
the one a supernet trained on a dataset is ranked against.
"""

from __future__ import annotations

from benchmark.errors import NasBenchError

DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "imagenet16-120")
SPLITS: tuple[str, ...] = ("x-valid", "ori-test", "x-test", "train")
TRAINING_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")

# The six NB201 reporting metrics (SE-NAS Table 3) -> their column in nb201_groundtruth.csv.gz.
REPORTED: dict[str, str] = {
    "cifar10-valid/x-valid": "cifar10_valid",
    "cifar10/ori-test": "cifar10_test",
    "cifar100/x-valid": "cifar100_valid",
    "cifar100/x-test": "cifar100_test",
    "imagenet16-120/x-valid": "imagenet16_valid",
    "imagenet16-120/x-test": "imagenet16_test",
}
# Further accuracies the compact table keeps (written by ``build_table``, not queried by ``accuracy``).
EXTRA: dict[str, str] = {
    "cifar10-valid/ori-test": "cifar10_valid_oritest",
    "cifar10-valid/train": "cifar10_valid_train",
    "cifar100/train": "cifar100_train",
    "imagenet16-120/train": "imagenet16_train",
}
ACCURACIES: dict[str, str] = {**REPORTED, **EXTRA}
# Params (M) and FLOPs (M) per dataset; cifar10-valid has the cifar10 network, so the same costs.
COSTS: dict[str, str] = {
    f"{ds}/{kind}": f"{col}_{kind}"
    for ds, col in (("cifar10", "cifar10"), ("cifar100", "cifar100"), ("imagenet16-120", "imagenet16"))
    for kind in ("params", "flops")
}
UNIQUE_STR = ("unique_str", "nats_unique_str")  # (name in table(), column in the compact table)
# Columns of the shared table that repeat an x-test metric as released in NATS-Bench tss.
NATS_COPIES: dict[str, str] = {
    "cifar100_test_nats": "cifar100/x-test",
    "imagenet16_test_nats": "imagenet16-120/x-test",
}
# Dataset names as the NB201 / NATS-Bench APIs spell them.
API_DATASET: dict[str, str] = {
    "cifar10-valid": "cifar10-valid",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "imagenet16-120": "ImageNet16-120",
}

_DEFAULT: dict[str, str] = {
    "cifar10": "cifar10-valid/x-valid",
    "cifar100": "cifar100/x-valid",
    "imagenet16-120": "imagenet16-120/x-valid",
}


def default_metric(dataset: str) -> str:
    """The NB201 metric that ranks a supernet trained on ``dataset`` (cifar10 | cifar100 | imagenet16-120).

    Always the held-out validation accuracy (``x-valid``), never a test split:
    - ``cifar10`` -> ``cifar10-valid/x-valid``: NB201 trained those networks on the CIFAR-10 training
      images only and scored them on held-out training images, the protocol of a one-shot search
      (train on the train split, rank by ACC_val, SE-NAS Eq. 2), so the test set stays unseen.
      It is also an NB201 v1_1 column like the other five, whereas ``cifar10/ori-test`` in the shared
      table comes from NATS-Bench tss. SE-NAS searches on CIFAR-10 and reports both (Table 3); ask
      for ``cifar10/ori-test`` explicitly to rank against the test accuracy. The two rank the 15,625
      architectures almost alike (Spearman 0.984, table README).
    - ``cifar100`` -> ``cifar100/x-valid`` and ``imagenet16-120`` -> ``imagenet16-120/x-valid``:
      the validation half of the test set; the other half (``x-test``) is kept for reporting.
    """
    key = dataset.strip().lower()
    if key not in _DEFAULT:
        raise NasBenchError(f"unknown training dataset {dataset!r}",
                            f"choose one of: {', '.join(TRAINING_DATASETS)}")
    return _DEFAULT[key]


def metric_name(dataset: str, split: str | None = None) -> str:
    """``dataset/split`` of one of the six reporting metrics; ``split=None`` -> :func:`default_metric`."""
    if split is None:
        return default_metric(dataset)
    name = f"{dataset.strip().lower()}/{split.strip().lower()}"
    if name not in REPORTED:
        raise NasBenchError(
            f"no NB201 reporting metric {name!r}",
            f"choose one of: {', '.join(REPORTED)} (or split=None for the default of a training dataset)",
        )
    return name


def reported_for(dataset: str) -> list[str]:
    """The reporting metrics of one training dataset (cifar10 -> its cifar10-valid and cifar10 columns)."""
    default_metric(dataset)
    key = dataset.strip().lower()
    return [m for m in REPORTED if m.split("/")[0] in (key, f"{key}-valid")]

# Column order of nb201_groundtruth.csv.gz; ``build_table`` writes the subset its source has, in this order.
TABLE_COLUMNS: tuple[str, ...] = (
    "index", "arch",
    "cifar10_valid", "cifar10_valid_oritest", "cifar10_valid_train", "cifar10_test",
    "cifar100_valid", "cifar100_test", "cifar100_train",
    "imagenet16_valid", "imagenet16_test", "imagenet16_train",
    *NATS_COPIES, *(COSTS[f"{ds}/params"] for ds in TRAINING_DATASETS),
    *(COSTS[f"{ds}/flops"] for ds in TRAINING_DATASETS), UNIQUE_STR[1],
)
