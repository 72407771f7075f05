"""The MobileNet-like space (SE-NAS Table 2), its FLOPs table, the FLOPs-window sampler, constrained SE-NAS
scoring, expanding, and a tiny search + retraining end to end on a generated ImageNet folder."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import chisquare
from typer.testing import CliRunner

from benchmark.criteria import CriterionContext, create_criterion
from benchmark.data.imagenet import write_fake_imagenet
from benchmark.errors import NasBenchError
from benchmark.imagenet.cli import imagenet_app
from benchmark.imagenet.config import SearchConfig
from benchmark.imagenet.perf import mobilenet_throughput
from benchmark.imagenet.search import _SearchRun, budget_windows
from benchmark.models.complexity import count_flops, count_params
from benchmark.models.mobilenet import MobileNetSupernet, mobilenet_network, mobilenet_v2
from benchmark.search.constrained_sampling import WindowSampler
from benchmark.search.constraints import FlopsConstraint
from benchmark.shrinking import shrink, shrink_per_slot
from benchmark.spaces import SPACES
from benchmark.spaces.base import SearchSpace
from benchmark.spaces.mobilenet import IDENTITY, MB_OPS, NOMINAL_SIZE, MobileNetSkeleton, mobilenet_space
from benchmark.spaces.mobilenet_flops import FlopsTable

TINY = MobileNetSkeleton(width_mult=0.25, input_size=32, num_classes=4)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def counted_macs(arch, skeleton: MobileNetSkeleton) -> int:
    """torch.utils.flop_counter on the built network (on the meta device: shapes only)."""
    with torch.device("meta"):
        net = mobilenet_network(arch, skeleton)
    return count_flops(net, (1, 3, skeleton.input_size, skeleton.input_size))


# ------------------------------------------------------------------------------------------------- space
def test_space_size_and_identity_placement():
    space = mobilenet_space()
    assert space.num_slots == 21
    first_of_stage = [s for s, ops in zip(space.slots, space.choices) if IDENTITY not in ops]
    assert first_of_stage == ["s1b1", "s2b1", "s3b1", "s4b1", "s5b1", "s6b1"]  # incl. the 432-channel block
    assert all(ops == MB_OPS for ops in space.choices if IDENTITY not in ops)
    assert space.size() == 6 ** 6 * 7 ** 15 == 221_502_229_807_900_608
    assert NOMINAL_SIZE == 7 ** 21 > space.size()  # the paper's nominal count ignores the identity rule


def test_flops_range_of_the_space():
    """At 224 x 224, width 1.0, 1000 classes: 182.48M (identity everywhere it is allowed, k3_e3 in each
    stage's first block) to 1036.67M (k7_e6 everywhere) multiply-accumulates, also counted."""
    space, table = mobilenet_space(), FlopsTable(MobileNetSkeleton())
    lo, hi = table.range_m(space)
    assert lo == pytest.approx(182.48, abs=0.01) and hi == pytest.approx(1036.67, abs=0.01)
    cheap, costly = table.extreme_archs(space)
    assert cheap.count(IDENTITY) == 15 and set(costly) == {"k7_e6"}
    assert counted_macs(cheap, MobileNetSkeleton()) / 1e6 == pytest.approx(lo, rel=1e-9)
    assert counted_macs(costly, MobileNetSkeleton()) / 1e6 == pytest.approx(hi, rel=1e-9)
    assert SPACES.get("mobilenet").flops_range_m() == (lo, hi)


@pytest.mark.parametrize("skeleton", [MobileNetSkeleton(), TINY], ids=["imagenet224", "tiny"])
def test_flops_table_matches_the_counter(skeleton):
    space, table = mobilenet_space(), FlopsTable(skeleton)
    rng = random.Random(0)
    for _ in range(2):
        arch = space.sample(rng)
        assert table.macs(arch) == pytest.approx(counted_macs(arch, skeleton), rel=0.01)


def test_mobilenet_v2_counts_about_300m_macs():
    with torch.device("meta"):
        net = mobilenet_v2()
    macs = count_flops(net, (1, 3, 224, 224)) / 1e6
    assert 295 < macs < 306  # 300.8M: 300M in Sandler et al. Table 4
    assert count_params(net) / 1e6 == pytest.approx(3.5, abs=0.05)


# ---------------------------------------------------------------------------------------------- networks
def test_supernet_path_equals_the_standalone_network():
    torch.manual_seed(0)
    net = MobileNetSupernet(TINY).eval()
    arch = mobilenet_space().sample(random.Random(3))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = net(x, arch)
        torch.testing.assert_close(net.to_standalone(arch)(x), ref)
        torch.testing.assert_close(net.path_view(arch)(x), ref)
    net.train()
    net(x, arch).sum().backward()
    used = {id(p) for p in net.path_view(arch).parameters()}
    assert all((p.grad is not None) == (id(p) in used) for p in net.parameters())


def test_expanding_gives_each_partial_model_its_own_weights():
    torch.manual_seed(0)
    space = mobilenet_space()
    net = MobileNetSupernet(TINY, space)
    space.restrict([ops[:2] for ops in space.alive])  # 2 ops per layer: pairs of layers merge (4 <= T)
    net.expand(space, T=4)
    assert net.groups[0] == (0, 1) and len(net.groups) == 10
    a = ("k3_e3", "k3_e3") + tuple(ops[0] for ops in space.alive[2:])
    b = ("k3_e3", "k3_e6") + a[2:]
    assert net.layer_op(0, "k3_e3", a) is not net.layer_op(0, "k3_e3", b)  # partial models differ
    assert net.layer_op(20, a[20], a) is net.layers[20][a[20]]  # layer 20 is in no child space
    x = torch.randn(2, 3, 32, 32)
    net.eval()
    other = MobileNetSupernet(TINY, mobilenet_space())
    other.rebuild(space, net.groups)
    other.load_state_dict(net.state_dict())
    torch.testing.assert_close(other.eval()(x, b), net(x, b))


# ------------------------------------------------------------------------------------------------ sampler
def test_window_sampler_never_leaves_a_narrow_window():
    space, table = mobilenet_space(), FlopsTable(MobileNetSkeleton())
    constraint = FlopsConstraint(245.0, 250.0, table.flops_m)  # 0.6 % of the 182-1037M range
    window = WindowSampler(space, table.per_slot_m(space), table.fixed_m, constraint)
    rng = np.random.default_rng(0)
    archs = window.sample(2000, rng)
    assert all(245.0 <= table.flops_m(a) <= 250.0 for a in archs)
    assert len(set(archs)) > 1990
    held = window.sample_containing(8, "k7_e6", 200, rng)
    assert all(a[8] == "k7_e6" and constraint(a) for a in held)
    assert not window.feasible(1, "k7_e6", rng)  # too costly at 56 x 56 for 250M
    anywhere = WindowSampler(space, table.per_slot_m(space), table.fixed_m, FlopsConstraint(0, math.inf, table.flops_m))
    assert anywhere.superset_count() == space.size() and len(set(anywhere.sample(100, rng))) == 100
    with pytest.raises(NasBenchError, match="no architecture .* has flops in \\[250, 250\\]"):
        WindowSampler(space, table.per_slot_m(space), table.fixed_m,
                      FlopsConstraint(250.0, 250.0, table.flops_m)).sample(1, rng)


def _toy() -> tuple[SearchSpace, list[dict[str, float]], FlopsConstraint]:
    costs = [{"a": 0.0, "b": 1.0, "c": 2.5}, {"a": 0.0, "b": 1.5, "c": 3.0}, {"a": 0.5, "b": 1.0, "c": 2.0},
             {"a": 0.0, "b": 2.0, "c": 2.2}]
    space = SearchSpace("toy", ("e0", "e1", "e2", "e3"), (("a", "b", "c"),) * 4)

    def flops(arch):
        return 1.0 + sum(c[op] for c, op in zip(costs, arch))

    return space, costs, FlopsConstraint(5.0, 6.5, flops)


def test_window_sampler_is_uniform_on_a_toy_space():
    space, costs, constraint = _toy()
    inside = [a for a in space.enumerate() if constraint(a)]
    assert 10 < len(inside) < space.size()
    window = WindowSampler(space, costs, 1.0, constraint, bins=7)  # coarse bins: many proposals rejected
    rng = np.random.default_rng(0)
    draws = Counter(window.sample(200 * len(inside), rng))
    assert set(draws) == set(inside)
    assert chisquare([draws[a] for a in inside]).pvalue > 1e-3
    held = [a for a in inside if a[1] == "b"]
    draws = Counter(window.sample_containing(1, "b", 200 * len(held), rng))
    assert set(draws) == set(held) and chisquare([draws[a] for a in held]).pvalue > 1e-3


# ---------------------------------------------------------------------------------------- SE-NAS scoring
def test_constrained_scores_rank_planted_operations_and_remove_them():
    table = FlopsTable(MobileNetSkeleton())
    planted = (3, 10, 15)  # k5_e3 costs 5 points of accuracy in these layers only

    def evaluate(archs):
        return np.array([60.0 - 5.0 * sum(a[s] == "k5_e3" for s in planted) for a in archs])

    def scored(criterion: str, M: int = 30, sharing: str = "shared", seed: int = 0):
        space = mobilenet_space()
        window = WindowSampler(space, table.per_slot_m(space), table.fixed_m,
                               FlopsConstraint(245, 250, table.flops_m))
        ctx = CriterionContext(evaluate=evaluate, window=window, seed=seed)
        return space, create_criterion(criterion, M=M, sharing=sharing).score(space, ctx)

    space, scores = scored("accuracy")
    assert (scores[scores["feasible"]]["n_samples"] >= 30).all()
    infeasible = set(zip(*scores[~scores["feasible"]][["slot", "op"]].to_numpy().T))
    assert infeasible == {(1, "k7_e6"), (2, "k7_e6"), (3, "k7_e6")}  # too costly at 56 x 56 under 250M
    assert (scores[~scores["feasible"]]["score"] == -np.inf).all()
    record = shrink(space, scores, 6)  # SI (Eq. 5): the infeasible, then the planted operations go
    assert set(zip(*record[record["removed"]][["slot", "op"]].to_numpy().T)) == infeasible | {
        (s, "k5_e3") for s in planted}
    space, scores = scored("senas")  # S (Eq. 7): the high-variance (planted) layers' operations rank lowest
    removed = shrink(space, scores, 6).query("removed")
    assert {s for s, op in zip(removed["slot"], removed["op"]) if (s, op) not in infeasible} <= set(planted)
    _, independent = scored("accuracy", M=2, sharing="independent")
    assert independent.attrs["n_evaluations"] >= 2 * independent["feasible"].sum() - 5  # M per pair
    space, scores = scored("senas", M=5, seed=1)
    fair = shrink_per_slot(space, scores)
    assert fair.groupby("slot")["removed"].sum().tolist() == [1] * 21
    assert all(len(ops) == len(c) - 1 for ops, c in zip(space.alive, space.choices))


def test_impossible_flops_budget_is_one_line_error():
    space, skeleton = mobilenet_space(), MobileNetSkeleton()
    with pytest.raises(NasBenchError, match="meets the FLOPs budget 150M .* spans 182.480-1036.675M"):
        budget_windows((250.0, 150.0), 0.02, FlopsTable(skeleton), space, skeleton)


# ------------------------------------------------------------------------------------------- end to end
@pytest.mark.filterwarnings("ignore:skipping unreadable image")  # the planted corrupt JPEG, counted instead
def test_tiny_search_and_retrain_end_to_end(tmp_path):
    root = write_fake_imagenet(tmp_path / "imagenet", classes=4, train_per_class=8, val_per_class=2,
                               size=(40, 48), corrupt=1)
    runner = CliRunner()
    common = ["--preset", "tiny", "--data-root", str(root), "--device", "cpu"]
    fast = ["--set", "criterion_samples=1", "--set", "merge_threshold=36"]
    out = tmp_path / "search"
    res = runner.invoke(imagenet_app, ["mobilenet", "search", *common, *fast, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "1M: arch_1M.json" in res.output
    result = json.loads((out / "result.json").read_text())
    assert [row["budget_m"] for row in result["selections"]] == [1.0, 1.5]
    assert result["stage_log"][0]["space_size"] < mobilenet_space().size()
    assert result["stage_log"][0]["child_spaces"]  # expanding happened
    assert result["train_log"][-1]["skipped_images"] >= 0 and result["train_log"][-1]["images_per_s"] > 0
    record = json.loads((out / "arch_1M.json").read_text())
    assert 0.9 <= record["flops_m"] <= 1.0 and len(record["layers"]) == 21
    assert record["selection"]["method"] == "evolution" and record["selection"]["evaluated"] == 8  # tiny: 4 x 2
    assert result["selection"] == {"method": "evolution", "supernet_evaluations": 16}
    assert len(pd.read_parquet(out / "evolution_1M.parquet")) == 8
    assert json.loads((out / "split.json").read_text())["n_train"] == 24
    resumed = runner.invoke(imagenet_app, ["mobilenet", "search", *common, *fast, "--out", str(out)])
    assert "resumed after epoch 2" in resumed.output  # expanded copies rebuilt from the checkpoint
    assert json.loads((out / "result.json").read_text())["selections"] == result["selections"]
    again = runner.invoke(imagenet_app, ["mobilenet", "search", *common, *fast, "--out", str(out), "--seed", "1"])
    assert isinstance(again.exception, NasBenchError) and "different settings (seed)" in str(again.exception)

    res = runner.invoke(imagenet_app, ["mobilenet", "retrain", *common, "--arch", str(out / "arch_1M.json"),
                                       "--out", str(tmp_path / "retrain"), "--label-smoothing", "0.1",
                                       "--ema", "0.9"])
    assert res.exit_code == 0, res.output
    retrained = json.loads((tmp_path / "retrain" / "result.json").read_text())
    assert 0 <= retrained["top1"] <= 100 and retrained["ema_top1"] is not None
    assert retrained["arch"]["arch"] == record["arch"]


def test_search_supernet_starts_from_the_seed(tmp_path):
    root = write_fake_imagenet(tmp_path / "imagenet", classes=4, train_per_class=4, val_per_class=1)

    def initial_weights(seed: int, out: str) -> dict[str, torch.Tensor]:
        run = _SearchRun(SearchConfig(method="senas", data_root=str(root), device="cpu", seed=seed), tmp_path / out,
                         shrinks=True)
        run.setup()
        return run.model.state_dict()

    first, again, other = initial_weights(0, "a"), initial_weights(0, "b"), initial_weights(1, "c")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_final_selection_by_evolution_or_sampling(tmp_path, monkeypatch):
    """The last step with a planted supernet accuracy (a value per layer and operation, summed): both
    selections stay in each budget's window, evaluate every candidate once, are seeded and say how they
    selected; with the same number of evaluations evolution finds the better architecture."""
    root = write_fake_imagenet(tmp_path / "imagenet", classes=4, train_per_class=4, val_per_class=1)
    rng = np.random.default_rng(0)
    value = {(s, op): float(rng.random()) for s, ops in enumerate(mobilenet_space().choices) for op in ops}
    evolution = {"population": "20", "iterations": "10", "topk": "5", "n_crossover": "8", "n_mutation": "8"}

    def select(selection: str, out: str):
        calls = []

        def planted(archs):
            calls.extend(archs)
            return np.array([sum(value[s, op] for s, op in enumerate(a)) for a in archs])

        cfg = SearchConfig(method="spos", data_root=str(root), device="cpu",
                           overrides={"selection": selection, "selection_samples": "200", **evolution})
        run = _SearchRun(cfg, tmp_path / out, shrinks=False)
        run.setup()
        monkeypatch.setattr(run, "evaluator", lambda: planted)
        return run.select(), calls

    rows, calls = select("evolution", "evolution")
    assert len(set(calls)) == len(calls) == 2 * 200  # two budgets, each candidate evaluated once
    table = FlopsTable(TINY)
    for row in rows:
        record = json.loads((tmp_path / "evolution" / row["file"]).read_text())
        lo, hi = record["window_m"]
        assert row["selection"] == "evolution" and row["evaluated"] == 200 and lo <= row["flops_m"] <= hi
        assert record["selection"] == {"method": "evolution", "evaluated": 200, "population": 20, "iterations": 10,
                                       "topk": 5, "n_crossover": 8, "n_mutation": 8, "mutation_prob": 0.1}
        history = pd.read_parquet(tmp_path / "evolution" / f"evolution_{row['budget_m']:g}M.parquet")
        assert len(history) == 200 and history["fitness"].max() == row["supernet_top1"]
        assert all(lo <= table.flops_m(tuple(a.split(","))) <= hi for a in history["arch"])
    assert select("evolution", "again")[0] == rows  # seeded
    sampled, calls = select("sample", "sample")
    assert len(set(calls)) == len(calls) == 2 * 200
    assert not list((tmp_path / "sample").glob("evolution_*"))
    for best, drawn in zip(rows, sampled):
        record = json.loads((tmp_path / "sample" / drawn["file"]).read_text())
        assert record["selection"] == {"method": "sample", "evaluated": 200, "samples": 200}
        lo, hi = record["window_m"]
        assert drawn["selection"] == "sample" and lo <= drawn["flops_m"] <= hi
        assert best["supernet_top1"] > drawn["supernet_top1"]


def test_mobilenet_throughput_reports_speed_and_memory():
    stats = mobilenet_throughput("cpu", batch_size=2, steps=1, input_size=32, warmup=1)
    assert stats["images_per_s"] > 0 and stats["peak_mem"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("in_window", [False, True])
def test_fair_search_trains_one_group_per_batch_and_resumes(tmp_path, in_window, monkeypatch):
    """``--fair`` (FairNAS Algorithm 1): each batch trains a group of 7 paths with one step; strictly fair groups
    without a training window, window groups inside it (recorded as ``fair_groups``); a run killed after its
    first epoch's checkpoint resumes to the same training log and selections."""
    root = write_fake_imagenet(tmp_path / "imagenet", classes=4, train_per_class=4, val_per_class=1)
    runner = CliRunner()

    def search(out: str):
        args = ["mobilenet", "search", "--method", "spos", "--fair", "--preset", "tiny", "--data-root", str(root),
                "--device", "cpu", "--set", f"train_in_window={str(in_window).lower()}", "--out", str(tmp_path / out)]
        return runner.invoke(imagenet_app, args)

    res = search("whole")
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "whole/result.json").read_text())
    assert result["fair"] and result["fair_groups"] == ("window" if in_window else "strict")
    for epoch in result["train_log"]:
        assert epoch["images"] == 7 * 8 * epoch["steps"]  # 7 paths on each batch of 8, one step per batch

    original = _SearchRun.checkpoint

    def killed(self):
        original(self)
        raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(_SearchRun, "checkpoint", killed)
    assert search("resumed").exit_code == 130  # the CLI's exit status for an interrupted run
    monkeypatch.undo()
    res = search("resumed")
    assert "resumed after epoch 1" in res.output
    again = json.loads((tmp_path / "resumed/result.json").read_text())
    assert again["selections"] == result["selections"]
    assert [e["loss"] for e in again["train_log"]] == [e["loss"] for e in result["train_log"]]
