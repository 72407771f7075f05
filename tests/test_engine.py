"""One method engine over search spaces: a space registered with its one-shot support (a toy space of two
slots, registered in this test only) runs SPOS and SE-NAS through ``nasbench run`` without a driver of its
own; the SE-NAS stage (score, shrink, record, expand; SE-NAS Algorithm 1 lines 3-7) is the one every space
shares. A space without support, and a method written for another space, are refused in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from benchmark.expanding import partial_key
from benchmark.models.expandable import ExpandableSupernet, Site
from benchmark.spaces import SPACES, OneShotSupport, SpaceEntry
from benchmark.spaces.base import Arch, SearchSpace
from tests.conftest import nasbench

OPS = ("conv3", "conv1", "skip")
# planted ground truth: conv3 best and skip worst in both slots, slot 0 weighing more
GAIN = {"conv3": 10.0, "conv1": 6.0, "skip": 0.0}


def toy_space() -> SearchSpace:
    return SearchSpace("toy", ("s0", "s1"), (OPS, OPS))


def fmt(arch: Arch) -> str:
    return "|".join(arch)


class ToySupernet(ExpandableSupernet, nn.Module):
    """A stem, one operation per slot, a classifier; expandable (SE-NAS Sec. 3.4) per slot operation."""

    def __init__(self, num_classes: int, C: int, bn_track: bool):
        nn.Module.__init__(self)

        def conv(k: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(C, C, k, padding=k // 2, bias=False),
                                 nn.BatchNorm2d(C, affine=False, track_running_stats=bn_track), nn.ReLU())

        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(C, affine=False, track_running_stats=bn_track))
        self.ops = nn.ModuleList(nn.ModuleDict({"conv3": conv(3), "conv1": conv(1), "skip": nn.Identity()})
                                 for _ in range(2))
        self.head = nn.Linear(C, num_classes)
        self.init_expanding()

    def op(self, slot: int, arch: Arch) -> nn.Module:
        group = self.group_of.get(slot)
        if group is None or arch[slot] == "skip":
            return self.ops[slot][arch[slot]]
        return self.copies[f"s{slot}-{arch[slot]}-{partial_key(arch, group)}"]

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        x = self.stem(x)
        for slot in range(2):
            x = self.op(slot, arch)(x)
        return self.head(x.mean((2, 3)))

    def partial_copies(self, group: tuple[int, ...], arch: Arch) -> Iterator[tuple[str, Site]]:
        for s in group:
            if arch[s] != "skip":
                yield f"s{s}-{arch[s]}-{partial_key(arch, group)}", (s, arch)

    def shared_module(self, site: Site) -> nn.Module:
        s, arch = site
        return self.ops[s][arch[s]]

    def serving_module(self, site: Site) -> nn.Module:
        s, arch = site
        return self.op(s, arch)


class PlantedGroundTruth:
    """Accuracy 50 + 2 x gain(slot 0) + gain(slot 1); parameters: the number of convolutions."""

    source = "planted"

    def __init__(self):
        self.acc = {fmt((a, b)): 50 + 2 * GAIN[a] + GAIN[b] for a in OPS for b in OPS}

    def metric_name(self, dataset: str) -> str:
        return f"{dataset}/planted"

    def accuracies(self, archs, dataset: str) -> np.ndarray:
        return np.array([self.acc[a] for a in archs])

    def params(self, archs, dataset: str) -> np.ndarray:
        return np.array([float(a.count("conv")) for a in archs])

    def table3_row(self, arch: str) -> dict[str, float]:
        return {"planted": self.acc[arch]}

    def operation_scores(self, dataset: str) -> pd.DataFrame:
        rows = [(e, op, float(np.mean([v for a, v in self.acc.items() if a.split("|")[e] == op])))
                for e in range(2) for op in OPS]
        frame = pd.DataFrame(rows, columns=["edge", "op", "score"])
        frame["rank"] = frame["score"].rank(ascending=False, method="min").astype(int)
        return frame


TOY = SpaceEntry(toy_space, "toy: two slots x 3 operations (tests only)", oneshot=OneShotSupport(
    datasets={"cifar10": 10},
    supernet=lambda space, num_classes, p, expandable: ToySupernet(num_classes, p.C, p.bn_track),
    groundtruth=lambda root, path: PlantedGroundTruth(),
    format_arch=fmt,
    conv_count=lambda arch: arch.count("conv")))

FAST = ["--set", "max_train=256", "--set", "max_val=64", "--set", "remove_per_stage=1", "--set", "C=4"]


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The toy space, registered for this test only."""
    monkeypatch.setitem(SPACES._items, "toy", TOY)


def run(monkeypatch, capsys, out: Path, method: str, *extra: str) -> dict:
    code, stdout, stderr = nasbench(monkeypatch, capsys, "run", method, "--space", "toy", "--preset", "tiny",
                                    "--device", "cpu", "--quiet", "--json", "--out", out, *FAST, *extra)
    assert code == 0, stderr
    return json.loads(stdout)


def test_spos_and_senas_run_on_a_registered_toy_space(toy, monkeypatch, capsys, tmp_path, one_thread):
    spos = run(monkeypatch, capsys, tmp_path / "spos", "spos")
    assert spos["n_ranked"] == 9 and spos["final_space_size"] == 9  # SPOS ranks its whole (unshrunk) space
    assert spos["groundtruth"] == {"source": "planted", "metric": "cifar10/planted"}

    senas = run(monkeypatch, capsys, tmp_path / "senas", "senas", "--criterion", "groundtruth")
    ops = pd.read_parquet(tmp_path / "senas" / "operators.parquet")
    removed = ops[ops["removed"]]
    # the oracle criterion (mean ground truth over the alive space) removes slot 0's skip (mean 55.3), then
    # slot 1's (66.0, below slot 0's conv1 at 67.3 once slot 0 lost its skip)
    assert removed[["stage", "edge", "op"]].values.tolist() == [[1, 0, "skip"], [2, 1, "skip"]]
    assert senas["alive"] == {"s0": ["conv3", "conv1"], "s1": ["conv3", "conv1"]}
    assert senas["final_space_size"] == 4 == senas["n_ranked"]
    assert senas["child_spaces"], "expanding (Sec. 3.4) merged the slots into a child space"
    assert set(ops["gt_rank"]) <= set(range(1, 7))

    eq7 = run(monkeypatch, capsys, tmp_path / "eq7", "senas")  # Eq. 7 on P(a): two operations go
    assert eq7["final_space_size"] in (3, 4) and eq7["criterion"] == "senas"


@pytest.mark.parametrize("method, space, match", [
    ("spos", "darts", "spos cannot search space 'darts': it supplies no one-shot pipeline"),
    ("spos_avg", "mobilenet", "spos_avg cannot search space 'mobilenet'"),
    ("bsnas", "toy", "bsnas cannot search space 'toy': the method is written for other spaces"),
])
def test_spaces_a_method_does_not_apply_to_are_refused_in_one_line(toy, monkeypatch, capsys, tmp_path, method,
                                                                   space, match):
    code, _, stderr = nasbench(monkeypatch, capsys, "run", method, "--space", space, "--preset", "tiny",
                               "--device", "cpu", "--out", tmp_path / "x")
    assert code == 2 and match in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "checkpoint.pt").exists()
