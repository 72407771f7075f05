"""NB201 networks: parameter / FLOP counts equal NB201's, and the supernet path equals the standalone net."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.models import NB201Network, NB201Supernet, count_flops, count_params, nb201_params_flops
from benchmark.models.nb201_ops import cell_forward, nb201_op
from benchmark.paths import data_root
from benchmark.spaces.base import SearchSpace
from benchmark.spaces.nb201 import EDGE_NAMES, EDGES, GT_TABLE, OPS, format_arch, parse_arch

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
INDEX1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
# 3x3 conv on edge 1<-0 feeds nothing that reaches the output: NB201 still counts it
DISCONNECTED = ("nor_conv_3x3", "none", "none", "skip_connect", "none", "none")
ALL_NONE = ("none",) * 6
ALL_CONV3 = ("nor_conv_3x3",) * 6
EXTRA_PARAMS = {10: 0, 100: 5_850, 120: 7_150}


pytestmark = pytest.mark.usefixtures("one_thread")


def formula_params(arch: tuple[str, ...], num_classes: int) -> int:
    return 73_306 + 243_040 * arch.count("nor_conv_3x3") + 28_000 * arch.count("nor_conv_1x1") \
        + EXTRA_PARAMS[num_classes]


def formula_flops(arch: tuple[str, ...], num_classes: int, side: int) -> int:
    n3, n1 = arch.count("nor_conv_3x3"), arch.count("nor_conv_1x1")
    if side == 16:
        assert num_classes == 120, "the README gives the 16x16 formula for ImageNet16-120 only"
        return 1_953_400 + 8_847_360 * n3 + 983_040 * n1
    return 7_783_050 + 35_389_440 * n3 + 3_932_160 * n1 + EXTRA_PARAMS[num_classes]  # linear: +1 per weight


def random_archs(n: int, seed: int = 0) -> list[tuple[str, ...]]:
    rng = random.Random(seed)
    return [tuple(rng.choice(OPS) for _ in EDGES) for _ in range(n)]


def randomize(model: nn.Module, seed: int) -> None:
    """Random weights and BatchNorm statistics, so a wrongly copied tensor shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if p.ndim == 1 else 0.0))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.track_running_stats:
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


# -- parameter and FLOP counts --------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [10, 100, 120])
def test_params_equal_nb201_formula(num_classes):
    archs = random_archs(50) + [ALL_CONV3, ALL_NONE, ("nor_conv_1x1",) * 6, DISCONNECTED]
    for arch in archs:
        net = NB201Network(arch, num_classes=num_classes)
        assert count_params(net) == formula_params(arch, num_classes), arch


@pytest.mark.parametrize(("num_classes", "side"), [(10, 32), (100, 32), (120, 16)])
def test_flops_equal_nb201_formula(num_classes, side):
    for arch in random_archs(4, seed=1) + [ALL_CONV3, ALL_NONE, DISCONNECTED]:
        net = NB201Network(arch, num_classes=num_classes)
        assert count_flops(net, (1, 3, side, side)) == formula_flops(arch, num_classes, side), arch


def test_official_costs_of_index_0_and_1():
    """Values printed by the official API (NATS-Bench issues #18, #24, #36)."""
    assert nb201_params_flops(INDEX1, "cifar10") == pytest.approx((0.802426, 113.95137), abs=1e-9)
    assert nb201_params_flops(INDEX1, "cifar100") == pytest.approx((0.808276, 113.95722), abs=1e-9)
    params, flops = nb201_params_flops(INDEX1, "ImageNet16-120")
    assert (round(params, 3), round(flops, 2)) == (0.810, 28.50)
    assert nb201_params_flops(INDEX0, "cifar10-valid")[1] == pytest.approx(15.64737, abs=1e-9)
    assert nb201_params_flops(INDEX0, "cifar100")[1] == pytest.approx(15.65322, abs=1e-9)
    assert nb201_params_flops(INDEX0, "imagenet16")[1] == pytest.approx(3.91948, abs=1e-9)


def test_costs_match_ground_truth_table():
    path = data_root() / GT_TABLE
    if not path.is_file():
        pytest.skip(f"NB201 ground-truth table absent at {path}")
    import pandas as pd

    df = pd.read_csv(path, usecols=["arch", "cifar10_params", "cifar10_flops", "cifar100_params",
                                    "cifar100_flops", "imagenet16_params", "imagenet16_flops"])
    ops = df["arch"].map(parse_arch)
    key = ops.map(lambda a: (a.count("nor_conv_1x1"), a.count("nor_conv_3x3")))
    one_per_key = df[~key.duplicated()]  # every (n1, n3) combination once: 28 rows
    assert len(one_per_key) == 28
    rows = [(r, "cifar10") for r in one_per_key.itertuples()]
    rows += [(r, ds) for r in df.sample(6, random_state=0).itertuples() for ds in ("cifar100", "imagenet16")]
    for r, ds in rows:
        want = (getattr(r, f"{ds}_params"), getattr(r, f"{ds}_flops"))
        assert nb201_params_flops(r.arch, ds) == pytest.approx(want, rel=1e-12), (r.arch, ds)


def test_count_flops_leaves_model_untouched():
    net = NB201Network(INDEX1).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    count_flops(net, (2, 3, 32, 32))
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_unknown_dataset_and_bad_arch_are_one_line_errors():
    with pytest.raises(NasBenchError, match="unknown NB201 dataset"):
        nb201_params_flops(INDEX1, "svhn")
    with pytest.raises(NasBenchError):
        NB201Network(("nor_conv_3x3",) * 5)
    with pytest.raises(NasBenchError, match="invalid NB201 skeleton"):
        NB201Network(INDEX1, C=0)
    with pytest.raises(NasBenchError):
        NB201Network("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")


# -- cell semantics -------------------------------------------------------------------------------------
def reference_cell(x: torch.Tensor, mods: list[nn.Module]) -> torch.Tensor:
    """Node j = sum over i<j of op(node_i), every op applied, zeros included (NB201's InferCell)."""
    nodes = [x]
    for j in (1, 2, 3):
        nodes.append(sum(m(nodes[i]) for (jj, i), m in zip(EDGES, mods) if jj == j))
    return nodes[3]


def test_cell_forward_equals_the_plain_sum_rule():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    for arch in random_archs(30, seed=2) + [ALL_NONE, DISCONNECTED]:
        mods = [nb201_op(op, 4) for op in arch]
        skip_none = [None if op == "none" else m for op, m in zip(arch, mods)]
        assert torch.allclose(cell_forward(x, skip_none), reference_cell(x, mods), atol=1e-6), arch


def test_nb201_ops():
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(nb201_op("none", 4)(x), torch.zeros_like(x))
    assert torch.equal(nb201_op("skip_connect", 4)(x), x)
    pool = nb201_op("avg_pool_3x3", 4)(x)  # corner: mean of 4 real pixels, padding not counted
    assert torch.allclose(pool[:, :, 0, 0], x[:, :, :2, :2].mean(dim=(2, 3)))
    conv = nb201_op("nor_conv_3x3", 4, affine=False, track_running_stats=False)
    assert [type(m) for m in conv] == [nn.ReLU, nn.Conv2d, nn.BatchNorm2d]
    assert conv[1].bias is None and conv[2].weight is None and conv[2].running_mean is None
    with pytest.raises(ValueError):
        nb201_op("max_pool_3x3", 4)


def test_all_none_network_ignores_its_input():
    net = NB201Network(ALL_NONE).eval()
    out = net(torch.randn(3, 3, 32, 32))
    assert torch.allclose(out, out[:1].expand_as(out))


@pytest.mark.parametrize(("num_classes", "side"), [(10, 32), (100, 32), (120, 16)])
def test_output_shapes(num_classes, side):
    x = torch.randn(2, 3, side, side)
    assert NB201Network(INDEX1, num_classes=num_classes, C=8, N=1)(x).shape == (2, num_classes)
    sup = NB201Supernet(num_classes=num_classes, C=8, N=1)
    assert sup(x, parse_arch(INDEX1)).shape == (2, num_classes)
    assert sup(x, INDEX1).shape == (2, num_classes)


# -- supernet -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bn_affine", "bn_track"), [(False, True), (False, False), (True, True)])
def test_supernet_path_equals_standalone(bn_affine, bn_track):
    torch.manual_seed(0)
    sup = NB201Supernet(C=8, N=2, bn_affine=bn_affine, bn_track=bn_track)
    randomize(sup, seed=1)
    archs = random_archs(6, seed=3) + [ALL_NONE, DISCONNECTED, ALL_CONV3]
    for arch in archs:
        x = torch.randn(4, 3, 32, 32)
        sup.train()
        for _ in range(2):  # update the path's running statistics
            sup(torch.randn(4, 3, 32, 32), arch)
        out_train = sup(x, arch)
        net = sup.to_standalone(arch)
        assert net.training and net.arch == arch
        assert torch.allclose(net(x), out_train, atol=1e-5), arch
        sup.eval()
        net = sup.to_standalone(arch)
        assert not net.training
        assert torch.allclose(net(x), sup(x, arch), atol=1e-5), arch


@pytest.mark.parametrize("bn_track", [True, False])
def test_bn_track_covers_the_cells_only_and_the_rest_always_tracks(bn_track):
    """As NB201's ``TinyNetworkRANDOM``: the search settings reach the cells' BatchNorm only; the stem, the
    reduction blocks and lastact are affine and track running statistics (docs/batchnorm.md)."""
    sup = NB201Supernet(C=4, N=1, bn_affine=False, bn_track=bn_track)
    outside = {id(m) for s in sup.shared_modules() for m in s.modules() if isinstance(m, nn.BatchNorm2d)}
    bns = [m for m in sup.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(outside) == 1 + 2 * 2 + 1 and len(bns) > len(outside)
    for m in bns:
        if id(m) in outside:
            assert m.affine and m.track_running_stats and m.running_mean is not None
        else:
            assert not m.affine and m.track_running_stats == bn_track and (m.running_mean is not None) == bn_track


def test_full_size_supernet_path_equals_standalone():
    sup = NB201Supernet()
    randomize(sup, seed=2)
    sup.eval()
    x = torch.randn(2, 3, 32, 32)
    arch = parse_arch(INDEX1)
    net = sup.to_standalone(arch)
    assert count_params(NB201Network(arch, affine=False)) == count_params(net)
    assert torch.allclose(net(x), sup(x, arch), atol=1e-5)
    assert count_flops(sup, (1, 3, 32, 32), arch) == formula_flops(arch, 10, 32)


def test_only_path_parameters_get_gradients():
    sup = NB201Supernet(C=8, N=2, bn_affine=True)
    x = torch.randn(4, 3, 32, 32)
    for arch in [ALL_CONV3, parse_arch(INDEX1), DISCONNECTED]:
        sup.zero_grad(set_to_none=True)
        sup(x, arch).sum().backward()
        got = {id(p) for p in sup.parameters() if p.grad is not None}
        path = {id(p) for p in sup.path_parameters(arch)}
        assert got <= path
        # every executed op reaches the loss except ones on edges cut off from the output
        if arch != DISCONNECTED:
            assert got == path
        else:
            cut_off = {id(p) for k in range(6) for p in sup.edge_op(k, 0, "nor_conv_3x3", arch).parameters()}
            assert path - got == cut_off
    assert len(sup.path_parameters(ALL_CONV3)) < len(list(sup.parameters()))


def test_supernet_holds_every_candidate_op_and_respects_its_space():
    sup = NB201Supernet(C=8, N=1)
    cell = sup.cells[sup.cell_positions[0]]
    assert list(cell.edges.keys()) == list(EDGE_NAMES)
    assert all(list(ops.keys()) == list(OPS) for ops in cell.edges.values())
    small = SearchSpace("nb201", EDGE_NAMES, tuple(("skip_connect", "nor_conv_3x3") for _ in EDGES))
    sub = NB201Supernet(C=8, N=1, space=small)
    assert count_params(sub) < count_params(sup)
    with pytest.raises(NasBenchError, match="not in this supernet's space"):
        sub(torch.randn(1, 3, 32, 32), parse_arch(INDEX0))
    with pytest.raises(NasBenchError):
        NB201Supernet(space=SearchSpace("other", ("a",), (("x",),)))


class CopyPerFirstEdge(NB201Supernet):
    """An edge_op override: edge 5 of every cell gets a separate copy per operation on edge 0."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.copies = nn.ModuleDict({
            first: nn.ModuleList(nb201_op("nor_conv_1x1", C, self.bn_affine, self.bn_track)
                                 for C in [8, 16, 32] for _ in range(self.N))
            for first in ("skip_connect", "nor_conv_3x3")
        })

    def edge_op(self, cell_index, edge, op, arch):
        if edge == 5 and op == "nor_conv_1x1" and arch[0] in self.copies:
            return self.copies[arch[0]][cell_index]
        return super().edge_op(cell_index, edge, op, arch)


def test_edge_op_is_the_single_point_of_resolution():
    sup = CopyPerFirstEdge(C=8, N=1)
    randomize(sup, seed=4)
    sup.eval()
    x = torch.randn(2, 3, 32, 32)
    a = ("skip_connect", "none", "none", "none", "none", "nor_conv_1x1")
    b = ("nor_conv_3x3", "none", "none", "none", "none", "nor_conv_1x1")
    copy_ids = {id(p) for p in sup.copies["skip_connect"].parameters()}
    assert copy_ids <= {id(p) for p in sup.path_parameters(a)}
    assert not copy_ids & {id(p) for p in sup.path_parameters(b)}
    for arch in (a, b):
        assert torch.allclose(sup.to_standalone(arch)(x), sup(x, arch), atol=1e-5)
    base = NB201Supernet(C=8, N=1)
    base.load_state_dict({k: v for k, v in sup.state_dict().items() if not k.startswith("copies")})
    base.eval()
    assert not torch.allclose(base(x, a), sup(x, a))


def test_format_round_trip_of_network_arch():
    net = NB201Network(INDEX1, C=8, N=1)
    assert net.arch_str == INDEX1 and format_arch(net.arch) == INDEX1
