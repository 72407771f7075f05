"""The DARTS space driver: space and slots, genotypes, networks, supernet paths, expanding, the
relaxation behind ``magnitude``, network costs, and tiny end-to-end runs (CIFAR-10 search, ImageNet
retraining on a generated folder)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from benchmark.criteria import CriterionContext, create_criterion
from benchmark.darts.cli import darts_app, darts_arch_info
from benchmark.darts.cost import CostTable, NetworkSetting, network_cost
from benchmark.darts.expanded import ExpandableDartsSupernet
from benchmark.darts.presets import RETRAIN_PRESETS, SEARCH_PRESETS, get_retrain_preset, get_search_preset
from benchmark.darts.relaxation import DartsMixedNetwork, DartsSpaceRelaxation
from benchmark.darts.retrain import pdarts_lr
from benchmark.darts.search import DartsSearch, DartsSearchConfig
from benchmark.data.imagenet import write_fake_imagenet
from benchmark.distributed import DistInfo
from benchmark.errors import NasBenchError
from benchmark.fastpath import FastPath
from benchmark.imagenet.train import train_epoch
from benchmark.models.darts_network import (
    DartsSupernet,
    GenotypeCell,
    darts_cifar_network,
    darts_imagenet_network,
)
from benchmark.relaxation import RELAXATIONS, alive_softmax
from benchmark.shrinking import shrink
from benchmark.spaces import SPACES
from benchmark.spaces.darts import (
    CHOICES,
    EDGE_SLOT,
    EDGE_SPACE_SIZE,
    EDGES,
    GENOTYPES_PER_CELL,
    NODES,
    OPS,
    PAIR_SLOT,
    PRIMITIVES,
    SLOTS,
    darts_space,
    edge_view,
)
from benchmark.spaces.darts_genotypes import (
    GENOTYPES,
    arch_from_genotype,
    format_genotype,
    genotype_from_arch,
    parse_genotype,
    resolve_genotype,
    same_cells,
)
from tests.conftest import kill_at_epoch

# P-DARTS' genotypes.py writes its cell as below (with range(2, 6)); it must read as our PDARTS
PDARTS_SOURCE = ("Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0),('sep_conv_3x3', 1), "
                 "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3',0), ('dil_conv_5x5', 4)], "
                 "normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), "
                 "('dil_conv_5x5', 2), ('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('dil_conv_3x3', 1), "
                 "('dil_conv_5x5', 3)], reduce_concat=range(2, 6))")
# overrides that make a whole search a few seconds on 2 CPU cores (tiny preset, smaller still)
FAST_SEARCH = {"layers": "3", "C": "2", "max_train": "64", "max_val": "32", "selection_samples": "2",
               "merge_threshold": "8", "weight_avg_k": "1"}


pytestmark = pytest.mark.usefixtures("one_thread")


def one_line(e: pytest.ExceptionInfo) -> str:
    message = str(e.value)
    assert "\n" not in message and " -- " in message
    return message


# ----------------------------------------------------------------------------------------------- space
def test_space_size_and_slots():
    space = darts_space()
    assert EDGE_SPACE_SIZE == 8 ** 14 and len(PRIMITIVES) == 8 and len(EDGES) == 14
    assert space.num_slots == 36 and len(OPS) == 7 and "none" not in OPS
    per_kind = math.prod(len(c) for c in CHOICES[:18])
    assert per_kind == 180 * 7 ** 14 and space.size() == per_kind ** 2
    assert GENOTYPES_PER_CELL == 180 * 7 ** 8
    assert space.removable() == 200
    assert SPACES.get("darts").build().slots == SLOTS and "8^14" in SPACES.get("darts").description
    assert "darts" in RELAXATIONS


def test_paths_keep_two_inputs_per_node_and_count_as_stated():
    space = darts_space()
    rng = random.Random(0)
    for _ in range(100):
        arch = space.sample(rng)
        view = edge_view(arch)
        assert len(view) == 28 and all(op in PRIMITIVES for op in view)
        for kind in (0, 1):
            for j in NODES:
                ops = [view[14 * kind + e] for e, (node, _) in enumerate(EDGES) if node == j]
                assert sum(op != "none" for op in ops) == 2
    # node 3 alone: 3 pairs x 7^3 slot values, each path (pair, two ops) realised 7 times
    slots = [PAIR_SLOT["normal", 3]] + [EDGE_SLOT["normal", e] for e, (j, _) in enumerate(EDGES) if j == 3]
    base = list(space.sample(rng))
    views = {}
    for values in itertools.product(*(CHOICES[s] for s in slots)):
        for s, v in zip(slots, values):
            base[s] = v
        view = edge_view(tuple(base))
        views[view] = views.get(view, 0) + 1
    assert len(views) == 3 * 7 ** 2 and set(views.values()) == {7}


# ------------------------------------------------------------------------------------------- genotypes
def test_genotype_round_trips():
    for name, g in GENOTYPES.items():
        assert parse_genotype(format_genotype(g)) == g
        assert str(g).startswith("Genotype(normal=[(") and "normal_concat=[2, 3, 4, 5]" in str(g)
        assert same_cells(genotype_from_arch(arch_from_genotype(g)), g)
        assert resolve_genotype(name.lower()) == (name, g)
    assert parse_genotype(PDARTS_SOURCE) == GENOTYPES["PDARTS"]
    rng = random.Random(1)
    for _ in range(20):
        arch = darts_space().sample(rng)
        text = str(genotype_from_arch(arch))
        assert arch_from_genotype(parse_genotype(text), filler=arch) == arch
    assert not same_cells(GENOTYPES["DARTS_V1"], GENOTYPES["DARTS_V2"])


@pytest.mark.parametrize(("text", "needle"), [
    (PDARTS_SOURCE.replace("'dil_conv_5x5', 4", "'sep_conv_7x7', 4"), "unknown operation 'sep_conv_7x7'"),
    (PDARTS_SOURCE.replace("'dil_conv_5x5', 4", "'none', 4"), "unknown operation 'none'"),
    (PDARTS_SOURCE.replace("('dil_conv_5x5', 2)", "('dil_conv_5x5', 3)"), "impossible input index 3 for node 3"),
    (PDARTS_SOURCE.replace("('skip_connect', 0), ('dil_conv_3x3', 1), ", "('skip_connect', 0), "), "entries"),
    (PDARTS_SOURCE.replace("normal_concat=range(2, 6)", "normal_concat=[2, 3, 6]"), "normal_concat"),
    ("Genotype(normal=[('sep_conv_3x3', 0)]", "not a Python expression"),
    ("__import__('os').system('true')", "expected Genotype"),
    ("DARTS_V3", "unknown genotype name"),
])
def test_bad_genotypes_are_one_line_errors(text, needle):
    with pytest.raises(NasBenchError) as e:
        resolve_genotype(text)
    assert needle in one_line(e)


def test_genotypes_outside_the_space_cannot_become_architectures():
    g = GENOTYPES["DARTS_V2"]
    with pytest.raises(NasBenchError) as e:
        arch_from_genotype(g._replace(normal_concat=(2, 3, 5)))
    assert "outside the DARTS search space" in one_line(e)
    twice = g._replace(normal=(("sep_conv_3x3", 0), ("sep_conv_5x5", 0)) + g.normal[2:])
    with pytest.raises(NasBenchError) as e:
        arch_from_genotype(twice)
    assert "reads input 0 twice" in one_line(e)
    # ...but the networks build them, as DARTS' code does (three nodes concatenated)
    net = darts_cifar_network(g._replace(normal_concat=(2, 3, 5)), C=4, layers=3)
    assert net(torch.randn(2, 3, 16, 16))[0].shape == (2, 10)


# -------------------------------------------------------------------------------------------- networks
def test_cell_and_network_shapes():
    g = GENOTYPES["PDARTS"]
    x = torch.randn(2, 12, 8, 8)
    normal = GenotypeCell(g.normal, g.normal_concat, 12, 12, 4, reduction=False, reduction_prev=False)
    reduce = GenotypeCell(g.reduce, g.reduce_concat, 12, 12, 4, reduction=True, reduction_prev=False)
    assert normal(x, x).shape == (2, 16, 8, 8) and reduce(x, x).shape == (2, 16, 4, 4)

    cifar = darts_cifar_network(g, C=4, layers=5, auxiliary=True).train()
    logits, aux = cifar(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and aux.shape == (2, 10)
    assert cifar.eval()(torch.randn(2, 3, 32, 32))[1] is None
    imagenet = darts_imagenet_network(g, C=8, layers=5, num_classes=7).train()
    logits, aux = imagenet(torch.randn(2, 3, 224, 224))
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    search = DartsSupernet(C=4, layers=8)
    assert search.reductions == (2, 5) and len(search.cells) == 8
    assert search(torch.randn(2, 3, 32, 32), darts_space().sample(random.Random(0))).shape == (2, 10)


def test_networks_that_cannot_be_built_are_one_line_errors():
    g = GENOTYPES["DARTS_V2"]
    with pytest.raises(NasBenchError) as e:
        darts_imagenet_network(g, C=8, layers=5).check_image_size(192)
    assert "auxiliary head" in one_line(e)
    with pytest.raises(NasBenchError) as e:
        darts_cifar_network(g, C=4, layers=5).check_image_size(30)
    assert "odd size" in one_line(e)
    darts_imagenet_network(g, C=10, layers=5)  # the first cell's factorized reduction to C=10 is fine...
    with pytest.raises(NasBenchError) as e:
        darts_imagenet_network(g, C=5, layers=5)  # ...to C=5 it is not
    assert "odd width" in one_line(e)
    with pytest.raises(NasBenchError) as e:
        darts_cifar_network(g, C=4, layers=2)
    assert "cannot be built" in one_line(e)
    darts_imagenet_network(g, C=8, layers=5).check_image_size(224)  # the mobile setting's size is fine


def _warm(model: torch.nn.Module, archs, x: torch.Tensor) -> None:
    """A few training-mode passes so the tracked BatchNorm statistics are not the defaults."""
    model.train()
    with torch.no_grad():
        for arch in archs:
            model(x, arch)


def test_supernet_path_equals_the_standalone_network_with_its_weights():
    torch.manual_seed(0)
    supernet = DartsSupernet(num_classes=10, C=4, layers=3, bn_affine=True, bn_track=True)
    rng = random.Random(2)
    archs = [darts_space().sample(rng) for _ in range(2)]
    x = torch.randn(4, 3, 16, 16)
    _warm(supernet, archs, x)
    for arch in archs:
        for training in (True, False):
            supernet.train(training)
            net = supernet.to_standalone(arch)
            assert net.training == training
            with torch.no_grad():
                torch.testing.assert_close(net(x)[0], supernet(x, arch), rtol=0, atol=0)
    other = supernet.to_standalone(archs[1]).eval()
    assert not torch.equal(other(x)[0], supernet.eval()(x, archs[0]))


def test_expanding_copies_start_equal_and_are_keyed_by_the_partial_model():
    torch.manual_seed(0)
    space = darts_space()
    supernet = ExpandableDartsSupernet(num_classes=10, C=4, layers=3, bn_track=True, space=space)
    x = torch.randn(4, 3, 16, 16)
    rng = random.Random(3)
    _warm(supernet, [space.sample(rng) for _ in range(3)], x)
    supernet.eval()
    p2, e20, e21 = PAIR_SLOT["normal", 2], EDGE_SLOT["normal", 0], EDGE_SLOT["normal", 1]
    space.restrict([("max_pool_3x3", "avg_pool_3x3") if s in (e20, e21) else ops for s, ops in enumerate(CHOICES)])
    supernet.expand(space, T=4)
    assert supernet.groups == [(p2, e20, e21)]  # 1 x 2 x 2 <= T; the next slots are larger
    assert len(supernet.copies) == 0  # pooling has nothing to copy
    supernet.set_groups([])
    space.restrict([("sep_conv_3x3", "dil_conv_3x3") if s in (e20, e21) else ops for s, ops in enumerate(CHOICES)])
    a = list(space.sample(rng))
    a[e20], a[e21] = "sep_conv_3x3", "sep_conv_3x3"
    b = list(a)
    b[e21] = "dil_conv_3x3"
    a, b = tuple(a), tuple(b)
    shared = supernet(x, a)
    origins = supernet.expand(space, T=4)
    assert len(supernet.copies) == 4 * 2  # 4 partial models x 2 edges x 1 normal cell
    assert len(origins) == sum(1 for _ in supernet.copies.parameters())
    torch.testing.assert_close(supernet(x, a), shared, rtol=0, atol=0)  # copies start equal
    assert supernet.edge_op(0, 0, "sep_conv_3x3", a) is not supernet.edge_op(0, 0, "sep_conv_3x3", b)

    # a child space holding node 3's pair slot: edges the pair does not keep read `none` (one copy, not two)
    p3 = PAIR_SLOT["normal", 3]
    group = (p3, p3 + 1, p3 + 2, p3 + 3)
    space2 = darts_space()
    space2.restrict([("sep_conv_3x3", "dil_conv_3x3") if s in group[1:] else ops for s, ops in enumerate(CHOICES)])
    net = ExpandableDartsSupernet(num_classes=10, C=4, layers=3, space=darts_space())
    net.rebuild(space2, [group])
    assert len(net.copies) == 3 * 4 * 2  # 3 pairs x 4 op pairs x 2 kept edges (not 3 x 8 x 2)
    c = list(space2.sample(rng))
    c[p3] = "1+2"
    d = list(c)
    d[p3 + 1] = "dil_conv_3x3" if c[p3 + 1] == "sep_conv_3x3" else "sep_conv_3x3"  # 3<-0 is not kept by 1+2
    assert net.edge_op(0, 4, c[p3 + 2], tuple(c)) is net.edge_op(0, 4, c[p3 + 2], tuple(d))
    again = ExpandableDartsSupernet(num_classes=10, C=4, layers=3, space=darts_space())
    again.rebuild(space2, net.groups)
    again.load_state_dict(net.state_dict())  # a checkpoint's structure is rebuilt exactly


# ---------------------------------------------------------------------------------- relaxation, magnitude
def test_relaxation_one_hot_is_the_path_and_magnitude_shrinks_the_space():
    torch.manual_seed(0)
    mixed = DartsMixedNetwork(num_classes=3, C=2, layers=3, bn_track=False)
    supernet = DartsSupernet(num_classes=3, C=2, layers=3, bn_track=False)
    supernet.load_state_dict(mixed.state_dict())
    x = torch.randn(4, 3, 8, 8)
    arch = darts_space().sample(random.Random(4))
    one_hot = [{c: float(c == chosen) for c in choices} for chosen, choices in zip(arch, CHOICES)]
    torch.testing.assert_close(mixed(x, one_hot), supernet(x, arch), rtol=0, atol=0)

    space = darts_space()
    space.restrict([ops if "+" in ops[0] else ("skip_connect", "sep_conv_3x3") for ops in CHOICES])
    preset = get_search_preset("tiny", {"C": "2", "layers": "3"})
    r = DartsSpaceRelaxation(space, 3, 2, 3, preset, "cpu", seed=0)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g))]
    start = r.weights()
    r.train_epochs(1, lambda epoch: batches, lambda epoch: batches)
    scores = create_criterion("magnitude").score(space, CriterionContext(relaxation=r))
    assert list(zip(scores.slot, scores.op)) == space.alive_pairs()
    assert scores.groupby("slot").score.sum().to_numpy() == pytest.approx([1.0] * 36)
    assert not scores.alpha.equals(start.alpha)
    record = shrink(space, scores, 10)
    assert record.removed.sum() == 10 and space.removable() == 2 * (14 + 16) - 10
    lowest = scores[scores.groupby("slot").op.transform("size") > 1].nsmallest(10, "score")
    assert set(zip(lowest.slot, lowest.op)) == set(zip(record.slot[record.removed], record.op[record.removed]))
    assert [tuple(w) for w in alive_softmax(r.alpha, space)] == [tuple(a) for a in space.alive]
    r.train_epochs(1, lambda epoch: batches, lambda epoch: batches)  # trains on the shrunk space
    assert r.epoch == 2


# ------------------------------------------------------------------------------------------------ costs
@pytest.fixture(scope="module")
def darts_v2_info() -> dict:
    return darts_arch_info("DARTS_V2", imagenet=True)


def test_darts_v2_imagenet_mobile_size(darts_v2_info):
    assert darts_v2_info["params_m"] == pytest.approx(4.7, abs=0.05)  # DARTS paper: 4.7M
    assert 500 < darts_v2_info["flops_m"] < 600  # mobile setting; DARTS reports 574M with pooling counted
    assert darts_v2_info["name"] == "DARTS_V2" and "14 cells, C=48, 224x224" in darts_v2_info["setting"]
    with torch.device("meta"):  # DARTS' CIFAR-10 network: DARTS reports 3.3M parameters
        cifar = darts_cifar_network(parse_genotype(darts_v2_info["genotype"]), C=36, layers=20)
    assert sum(p.numel() for p in cifar.parameters()) / 1e6 == pytest.approx(3.3, abs=0.05)


def test_cost_table_sums_to_the_counted_network():
    small = NetworkSetting(C=8, layers=5, num_classes=10, image_size=224, imagenet=True)
    table = CostTable(small)
    for g in (GENOTYPES["PDARTS"], genotype_from_arch(darts_space().sample(random.Random(5)))):
        # PDARTS reads intermediate nodes inside its reduction cell (at half resolution)
        params_m, flops_m = network_cost(g, small)
        assert table(arch_from_genotype(g)) == pytest.approx(flops_m, abs=1e-9)
        assert table.params_m(g) == pytest.approx(params_m, abs=1e-9)


# -------------------------------------------------------------------------------------------- presets
def test_presets_follow_the_papers_and_refuse_bad_settings():
    paper = SEARCH_PRESETS["paper"]
    assert (paper.C, paper.layers, paper.first_stage_epochs, paper.epochs_per_stage, paper.remove_per_stage,
            paper.merge_threshold) == (16, 8, 200, 5, 10, 50)
    assert [paper.stage_of(e) for e in (1, 200, 201, 205, 206)] == [1, 1, 2, 2, 3] and paper.stage_end(2) == 205
    retrain = RETRAIN_PRESETS["paper"]
    assert (retrain.C, retrain.layers, retrain.epochs, retrain.auxiliary, retrain.label_smoothing,
            retrain.flops_budget_m) == (48, 14, 250, True, 0.1, 600.0)
    lrs = [pdarts_lr(e, retrain) for e in range(250)]
    assert lrs[0] == pytest.approx(0.1) and lrs[4] == pytest.approx(0.5 * 241 / 245)
    assert lrs[244] == pytest.approx(0.5 / 245) and lrs[245] == pytest.approx(0.5 / 245 / 5)  # the flat tail
    assert lrs[249] == pytest.approx(0.5 / 245)
    for overrides, needle in (({"layers": "2"}, "two reduction"), ({"lr_tail_epochs": "250"}, "lr_tail_epochs")):
        with pytest.raises(NasBenchError) as e:
            get_retrain_preset("paper", overrides)
        assert needle in one_line(e)
    with pytest.raises(NasBenchError) as e:
        get_search_preset("tiny", {"epochs": "3"})
    assert "unknown setting" in one_line(e)


# ------------------------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("selection, evaluated", [("evolution", 8), ("sample", 2)])  # tiny: 4 x 2; FAST: 2
def test_tiny_search_on_cifar10_end_to_end(root, tmp_path, selection, evaluated):
    """Both final selections: a genotype of the final space, how it was selected, each distinct path
    evaluated once, and the same choice when a finished search selects again (seeded)."""
    out = tmp_path / "search"
    overrides = {**FAST_SEARCH, "selection": selection}
    args = ["search", "--preset", "tiny", "--out", str(out), "--device", "cpu", "--quiet", "--json",
            "--data-root", str(root)] + [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]
    result = CliRunner().invoke(darts_app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    genotype = parse_genotype((out / "genotype.txt").read_text())
    assert str(genotype) == summary["genotype"]
    assert summary["removable_left"] == 180  # two stages x k = 10
    ops = pd.read_parquet(out / "operators.parquet")
    assert ops.groupby("stage").removed.sum().to_dict() == {1: 10, 2: 10}
    ranking = pd.read_parquet(out / "ranking.parquet")
    assert ranking.genotype[0] == summary["genotype"] and ranking.supernet_acc.is_monotonic_decreasing
    assert summary["child_spaces"] and 0 < summary["imagenet"]["flops_m"] < 700
    final = darts_space()
    final.restrict([summary["alive"][slot] for slot in SLOTS])
    best = tuple(ranking.arch[0].split("|"))
    assert final.contains(best) and edge_view(arch_from_genotype(genotype)) == edge_view(best)
    assert summary["best_supernet_acc"] == ranking.supernet_acc[0]
    archs = [tuple(a.split("|")) for a in ranking.arch]
    assert len(archs) == len({edge_view(a) for a in archs}) == evaluated == summary["n_ranked"]
    assert summary["selection"]["method"] == selection and summary["selection"]["supernet_evaluations"] == evaluated
    if selection == "evolution":
        assert {k: summary["selection"][k] for k in ("population", "iterations", "topk")} == {
            "population": 4, "iterations": 2, "topk": 2}
        history = pd.read_parquet(out / "evolution.parquet")
        assert sorted(history.arch) == sorted(ranking.arch) and history.fitness.max() == ranking.supernet_acc[0]
    else:
        assert summary["selection"]["samples"] == 2 and not (out / "evolution.parquet").exists()
    (out / "result.json").unlink()
    # resumed after the last epoch: only the selection runs; the plain summary says how it selected
    again = CliRunner().invoke(darts_app, [a for a in args if a != "--json"])
    assert again.exit_code == 0, again.output
    assert f"selected by {selection} over {evaluated} supernet evaluations" in again.output
    assert json.loads((out / "result.json").read_text())["genotype"] == summary["genotype"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "ranking.parquet"), ranking)


def test_final_selection_by_evolution_beats_sampling_under_the_flops_budget(root, tmp_path, monkeypatch):
    """The last step with a planted supernet accuracy (a value per cell kind, edge and operation, summed
    over the kept edges): both selections meet the FLOPs budget, evaluate each distinct network once and
    are seeded; with the same number of evaluations evolution finds at least as good a genotype."""
    rng = np.random.default_rng(0)
    value = {(e, op): float(rng.random()) for e in range(2 * len(EDGES)) for op in OPS}
    settings = {"population": "20", "iterations": "10", "topk": "5", "n_crossover": "8", "n_mutation": "8"}
    budget = 450.0  # about a third of uniform paths fit (286-676M)

    def select(selection: str):
        calls: list[tuple] = []

        def planted(archs, what):
            calls.extend(archs)
            return np.array([sum(value[e, op] for e, op in enumerate(edge_view(a)) if op != "none") for a in archs])

        preset = get_search_preset("tiny", {**FAST_SEARCH, **settings, "selection": selection,
                                            "selection_samples": "200", "flops_budget_m": str(budget)})
        search = DartsSearch(DartsSearchConfig(preset=preset, device="cpu", data_root=str(root)),
                             tmp_path / selection, progress=False, log=lambda s: None)
        search.setup()
        monkeypatch.setattr(search, "evaluate", planted)
        found, ranking = search.select()
        assert len(calls) == len({edge_view(a) for a in calls}) == found.evaluated == len(ranking) == 200
        assert all(search.costs(a) <= budget for a in calls) and ranking.imagenet_flops_m.max() <= budget
        assert ranking.arch[0] == "|".join(found.best) and ranking.supernet_acc[0] == found.fitness
        again, _ = search.select()
        assert again.history.equals(found.history)  # seeded
        return found

    evolved, sampled = select("evolution"), select("sample")
    assert set(evolved.history.origin) == {"random", "crossover", "mutation"}
    assert evolved.fitness >= sampled.fitness + 1.0  # planted: about 13.3 against 12.1 (of at most 16)


def test_tiny_search_with_the_magnitude_criterion_resumes_its_relaxation(root, tmp_path):
    preset = get_search_preset("tiny", {**FAST_SEARCH, "stages": "1", "max_train": "32"})
    cfg = DartsSearchConfig(preset=preset, criterion="magnitude", device="cpu", data_root=str(root))
    first = DartsSearch(cfg, tmp_path, progress=False, log=lambda s: None).run()
    assert first["criterion"] == "magnitude" and "relaxation_loss" in first["train_log"][0]
    ops = pd.read_parquet(tmp_path / "operators.parquet")
    assert ops.removed.sum() == 10 and ops.groupby("slot").score.sum().to_numpy() == pytest.approx(1.0)
    (tmp_path / "result.json").unlink()
    search = DartsSearch(cfg, tmp_path, progress=False, log=lambda s: None)
    again = search.run()  # resumed after the last epoch: expanded copies and the relaxation come back
    assert search.relaxation.epoch == 1 and again["genotype"] == first["genotype"]
    assert again["child_spaces"] == first["child_spaces"] != []
    with pytest.raises(NasBenchError) as e:
        DartsSearch(dataclasses.replace(cfg, criterion="groundtruth"), tmp_path / "gt", progress=False).run()
    assert "no ground truth" in one_line(e)


def test_a_search_killed_mid_run_resumes_to_the_uninterrupted_result(root, tmp_path, monkeypatch):
    """Killed in stage 2: the checkpoint of stage 1 holds the expanded copies and the Eq. 4 average."""
    preset = get_search_preset("tiny", {**FAST_SEARCH, "weight_avg_k": "2"})
    cfg = DartsSearchConfig(preset=preset, device="cpu", data_root=str(root))
    whole = DartsSearch(cfg, tmp_path / "whole", progress=False, log=lambda s: None).run()
    kill_at_epoch(monkeypatch, DartsSearch, 2)
    with pytest.raises(KeyboardInterrupt):
        DartsSearch(cfg, tmp_path / "killed", progress=False, log=lambda s: None).run()
    monkeypatch.undo()
    lines: list[str] = []
    resumed = DartsSearch(cfg, tmp_path / "killed", progress=False, log=lines.append).run()
    assert lines[0] == f"resuming {tmp_path / 'killed'} after epoch 1"
    for key in ("genotype", "best_supernet_acc", "alive", "child_spaces", "train_log"):
        assert resumed[key] == whole[key], key
    for name in ("ranking", "operators"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"killed/{name}.parquet"),
                                      pd.read_parquet(tmp_path / f"whole/{name}.parquet"))


def test_the_search_runs_on_a_gpu_fast_path(root, tmp_path, monkeypatch):
    """FastPath.for_device's CUDA layout settings forced on CPU (channels-last, fused SGD): the search
    trains, expands and ranks on them; the model is prepared again after each expanding, the rebuilt
    optimizer keeps the fused step, and every weight copy, averaged ones too, is channels-last.

    bf16 autocast stays off here: on CPU (torch 2.13) the weight gradient of a channels-last depthwise
    dilated 5x5 convolution (``dil_conv_5x5``) under bf16 autocast is NaN at 2-4 channels and 32x32 inputs,
    and the run stops as diverged (``benchmark.divergence``); bf16 is checked on a GPU."""
    fast = FastPath(channels_last=True, optimizer="fused")
    monkeypatch.setattr(FastPath, "for_device", classmethod(lambda cls, device: fast))
    prepared: list[torch.nn.Module] = []
    prepare = FastPath.prepare_model
    monkeypatch.setattr(FastPath, "prepare_model", lambda self, m: prepared.append(m) or prepare(self, m))
    preset = get_search_preset("tiny", {**FAST_SEARCH, "weight_avg_k": "2"})
    search = DartsSearch(DartsSearchConfig(preset=preset, device="cpu", data_root=str(root)), tmp_path,
                         progress=False, log=lambda s: None)
    result = search.run()
    assert result["child_spaces"] and search.model.copies and search.optimizer.defaults["fused"]
    assert result["fast_path"]["channels_last"] and result["fast_path"]["optimizer"] == "fused"
    assert sum(m is search.model for m in prepared) == 1 + preset.stages  # built, then after each expanding
    assert any(m is search.averager.module for m in prepared)
    weights = [m.weight for net in (search.model, search.averager.module) for m in net.modules()
               if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)


def test_retraining_step_adds_the_auxiliary_loss_and_clips_the_gradient():
    class TwoHeads(torch.nn.Module):  # (logits, auxiliary logits), as GenotypeNetwork with auxiliary=True
        def __init__(self):
            super().__init__()
            self.main, self.aux = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.main(x), self.aux(x)

    torch.manual_seed(0)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    net, ref = TwoHeads(), TwoHeads()
    ref.load_state_dict(net.state_dict())
    stats = train_epoch(net, lambda m, v: m(v), [(x, y)], torch.optim.SGD(net.parameters(), lr=1.0),
                        None, DistInfo(0, 1, 0, torch.device("cpu")), label_smoothing=0.1, grad_clip=0.01,
                        aux_weight=0.4)
    ce = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    logits, aux = ref(x)
    loss = ce(logits, y) + 0.4 * ce(aux, y)
    loss.backward()
    assert torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.01) > 0.01  # the clipping matters
    torch.optim.SGD(ref.parameters(), lr=1.0).step()
    assert stats["loss"] == pytest.approx(loss.item())
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_tiny_retrain_on_a_generated_imagenet_folder(tmp_path):
    folder = write_fake_imagenet(tmp_path / "imagenet")
    out = tmp_path / "retrain"
    args = ["retrain", "--genotype", "PDARTS", "--data-root", str(folder), "--out", str(out), "--device", "cpu",
            "--json", "--set", "epochs=1"]
    result = CliRunner().invoke(darts_app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "result.json").read_text())  # stdout also carries the run's log lines
    assert len(summary["log"]) == 1 and 0 <= summary["top1"] <= 100 and summary["log"][0]["images"] == 16
    assert "3 classes" in summary["setting"] and (out / "checkpoint.pt").is_file()
    resumed = CliRunner().invoke(darts_app, args)  # finished run: resumes after the last epoch, trains nothing
    assert resumed.exit_code == 0 and "resumed after epoch 1" in resumed.output
    assert json.loads((out / "result.json").read_text())["top1"] == summary["top1"]
    over = CliRunner().invoke(darts_app, args[:-2] + ["--flops-budget", "1", "--out", str(tmp_path / "over")])
    assert isinstance(over.exception, NasBenchError) and "over the 1M budget" in str(over.exception)
    assert not (tmp_path / "over").exists()
