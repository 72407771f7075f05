"""Reference equivalence with NAS-Bench-201's own code (Dong & Yang, ICLR 2020, Sec. 2.1 and Sec. 5).

``xautodl`` 1.0.0 is the NB201 authors' implementation: ``TinyNetwork`` (``models/cell_infers``) is the
standalone network of one architecture, ``TinyNetworkRANDOM`` (``models/cell_searchs``) the weight-sharing
supernet of its random-sampling baseline, built as NB201's weight-sharing baselines build it: non-affine,
untracked cell BatchNorm. Given the same weights, our :class:`NB201Network` and :class:`NB201Supernet` (as the
pipeline builds it: ``bn_affine=False, bn_track=False``) must compute exactly what these compute: the
forward logits, one (and a second, with momentum) SGD step of the supernet with :mod:`benchmark.training`'s
optimizer, and evaluation in NB201's ``network.eval()`` state (our ``nb201`` BatchNorm policy).

Weights are mapped by name, never by position: an edge is ``"j<-i"`` in both implementations (xautodl's
``edges['1<-0']``, ours ``EDGE_NAMES``), an operation is its NB201 name (xautodl's index in ``op_names``,
ours a ``ModuleDict`` key), and the standalone cell's layers are found through the genotype xautodl parsed
from the official string. ``test_a_swapped_edge_or_op_is_caught`` shows the comparison fails when two edges'
or two operations' weights trade places.

One known, harmless difference: xautodl's ``ReLUConvBN`` gives its convolution a bias when the BatchNorm
is not affine (``bias=not affine``). A non-affine BatchNorm subtracts the per-channel mean right after, so
the bias cancels (it receives a zero gradient up to rounding); our cells have none. The test sets those
biases to zero in xautodl and checks they are the only parameters without a counterpart.

xautodl pins ``numpy<=1.19.5``, so it is installed test-only with ``pip install --no-deps xautodl==1.0.0``;
the three modules used here import cleanly with numpy 2.4 and torch 2.13. Without xautodl the module skips.
"""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from benchmark.estimation import bn_policy, evaluate_arch, evaluate_archs, group_logits
from benchmark.models.nb201_network import NB201Network
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.presets import get_preset
from benchmark.spaces.base import Arch
from benchmark.spaces.nb201 import EDGE_NAMES, EDGES, OPS, format_arch
from benchmark.training import cosine_lr, make_optimizer, train_one_epoch

pytest.importorskip("xautodl", reason="xautodl (test-only: pip install --no-deps xautodl==1.0.0) is missing")
from xautodl.models.cell_infers.tiny_network import TinyNetwork
from xautodl.models.cell_searchs.genotypes import Structure
from xautodl.models.cell_searchs.search_model_random import TinyNetworkRANDOM

pytestmark = pytest.mark.usefixtures("one_thread")

# a spread of architectures: none, skip and pooling edges, all-pooling, a cut-off output, random ones
ARCHS: list[Arch] = [
    ("nor_conv_3x3",) * 6,
    ("nor_conv_1x1", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "none", "avg_pool_3x3"),
    ("avg_pool_3x3",) * 6,
    ("skip_connect", "none", "none", "none", "none", "skip_connect"),
    ("nor_conv_3x3", "none", "nor_conv_1x1", "none", "none", "none"),  # output all-none: zeros
    ("none", "nor_conv_3x3", "none", "avg_pool_3x3", "nor_conv_1x1", "skip_connect"),  # node 1 is zeros
    ("skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3", "nor_conv_1x1"),
] + [tuple(rng.choice(OPS) for _ in EDGES) for rng in map(random.Random, range(3))]


def structure(arch: Arch) -> Structure:
    """xautodl's genotype of ``arch``, parsed by xautodl from the official string."""
    return Structure.str2structure(format_arch(arch))


def _strip(key: str) -> str:
    """xautodl wraps ReLU-Conv-BN in ``.op``; ours is the Sequential itself."""
    return key.replace("op.", "")


def _reduction_map(ours: nn.Module, theirs: nn.Module, p: int) -> dict[str, str]:
    return {f"cells.{p}.{_strip(k)}": f"cells.{p}.{k}" for k in theirs.cells[p].state_dict()}


def _head_map(theirs: nn.Module) -> dict[str, str]:
    return {k: k for k in theirs.state_dict() if k.split(".")[0] in ("stem", "lastact", "classifier")}


def standalone_map(ours: NB201Network, theirs: TinyNetwork) -> dict[str, str]:
    """Our state-dict key -> xautodl's, by edge and operation name (xautodl's cell layers found through
    its parsed genotype: node ``j``'s input ``i`` with operation ``op`` is edge ``"j<-i"``)."""
    names = {}
    cells = set(ours.cell_positions)
    for p, cell in enumerate(theirs.cells):
        if p not in cells:
            names.update(_reduction_map(ours, theirs, p))
            continue
        for j, (node, layers) in enumerate(zip(cell.genotype.nodes, cell.node_IX), start=1):
            for (op, i), layer in zip(node, layers):
                e = EDGE_NAMES.index(f"{j}<-{i}")
                assert ours.cells[p].arch[e] == op, (p, e, op)
                for k in cell.layers[layer].state_dict():
                    names[f"cells.{p}.edges.{e}.{_strip(k)}"] = f"cells.{p}.layers.{layer}.{k}"
    return {**names, **_head_map(theirs)}


def supernet_map(ours: NB201Supernet, theirs: TinyNetworkRANDOM) -> dict[str, str]:
    """Our state-dict key -> xautodl's: ``edges[edge][op]`` <-> ``edges[edge][op_names.index(op)]``."""
    names = {}
    cells = set(ours.cell_positions)
    for p, cell in enumerate(theirs.cells):
        if p not in cells:
            names.update(_reduction_map(ours, theirs, p))
            continue
        for edge, ops in cell.edges.items():
            for op in OPS:
                index = cell.op_names.index(op)
                for k in ops[index].state_dict():
                    if not k.endswith("op.1.bias"):  # xautodl's conv bias before a non-affine BatchNorm
                        names[f"cells.{p}.edges.{edge}.{op}.{_strip(k)}"] = f"cells.{p}.edges.{edge}.{index}.{k}"
    return {**names, **_head_map(theirs)}


def load_mapped(ours: nn.Module, theirs: nn.Module, names: dict[str, str]) -> None:
    """Copy xautodl's weights and buffers into ours through ``names``, which must cover every entry of
    ours; xautodl's only unmapped entries are convolution biases, which are zeroed (see the docstring)."""
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert set(names) == set(mine)
    assert len(set(names.values())) == len(names)
    extra = set(ref) - set(names.values())
    assert all(k.endswith("op.1.bias") for k in extra), sorted(extra)[:5]
    with torch.no_grad():
        for k in extra:
            ref[k].zero_()
    ours.load_state_dict({k: ref[v].clone() for k, v in names.items()})


def randomise(model: nn.Module, seed: int) -> None:
    """Non-trivial BatchNorm affine parameters and statistics (defaults are 1 and 0, which hide swaps)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                if m.weight is not None:
                    m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                    m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
                if m.running_mean is not None:
                    m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                    m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))


def images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def xautodl_supernet(C: int, N: int, seed: int) -> TinyNetworkRANDOM:
    torch.manual_seed(seed)
    return TinyNetworkRANDOM(C, N, 4, 10, list(OPS), affine=False, track_running_stats=False)


def paired_supernets(C: int = 4, N: int = 1, seed: int = 0) -> tuple[NB201Supernet, TinyNetworkRANDOM]:
    """xautodl's supernet and ours (as the pipeline builds it) holding the same weights; xautodl's extra
    convolution biases stay at zero (frozen: their gradient is zero up to rounding, and rounding-level
    biases would make later steps differ in the last bits)."""
    theirs = xautodl_supernet(C, N, seed)
    randomise(theirs, seed + 1)
    ours = NB201Supernet(num_classes=10, C=C, N=N, bn_affine=False, bn_track=False)
    load_mapped(ours, theirs, supernet_map(ours, theirs))
    for k, p in theirs.named_parameters():
        if k.endswith("op.1.bias"):
            p.requires_grad_(False)
    return ours, theirs


def supernet_logits(theirs: TinyNetworkRANDOM, x: torch.Tensor, arch: Arch) -> torch.Tensor:
    theirs.arch_cache = structure(arch)
    return theirs(x)[1]


# -- forward ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("train", [True, False], ids=["train-mode", "eval-mode"])
def test_standalone_network_computes_exactly_what_tinynetwork_computes(train):
    x, _ = images(8, 0)
    for k, arch in enumerate(ARCHS):
        torch.manual_seed(k)
        theirs = TinyNetwork(4, 2, structure(arch), 10)
        randomise(theirs, k)
        ours = NB201Network(arch, num_classes=10, C=4, N=2)
        load_mapped(ours, theirs, standalone_map(ours, theirs))
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            assert torch.equal(ours(x), theirs(x)[1]), format_arch(arch)


def test_supernet_paths_compute_exactly_what_tinynetwork_random_computes():
    ours, theirs = paired_supernets(C=4, N=2)
    x, _ = images(8, 1)
    logits = []
    with torch.no_grad():
        for arch in ARCHS:
            mine = ours(x, arch)
            assert torch.equal(mine, supernet_logits(theirs, x, arch)), format_arch(arch)
            logits.append(mine)
    assert len({tuple(v.flatten().tolist()) for v in logits}) >= len(ARCHS) - 1  # only ARCHS[4] is zeros


def test_real_size_network_and_supernet_match_the_reference():
    """C=16, N=5 as in NB201 (a few seconds on one CPU thread)."""
    arch = ARCHS[1]
    x, _ = images(4, 2)
    torch.manual_seed(0)
    theirs = TinyNetwork(16, 5, structure(arch), 10)
    ours = NB201Network(arch)
    load_mapped(ours, theirs, standalone_map(ours, theirs))
    ours_s, theirs_s = paired_supernets(C=16, N=5)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x)[1])
        assert torch.equal(ours_s(x, arch), supernet_logits(theirs_s, x, arch))


def test_a_swapped_edge_or_op_is_caught():
    """The name maps are what the comparison rests on: trading two edges' or two operations' weights in
    the map makes the logits differ, so a network that swapped them would fail the tests above."""
    ours, theirs = paired_supernets(C=4, N=1)
    x, _ = images(8, 1)
    arch = ARCHS[6]  # 1<-0 skip, 2<-0 1x1, 2<-1 pool, 3<-0 none, 3<-1 3x3, 3<-2 1x1
    ref = supernet_logits(theirs, x, arch)
    with torch.no_grad():
        assert torch.equal(ours(x, arch), ref)
    good = supernet_map(ours, theirs)

    def swapped(a: str, b: str) -> dict[str, str]:
        return {k.replace(a, "\0").replace(b, a).replace("\0", b): v for k, v in good.items()}

    # edges: 2<-0 and 3<-2 both run a 1x1 convolution; 3<-1 runs a 3x3 one, 2<-1 pools (its 3x3 is idle)
    for names in (swapped(".edges.2<-0.", ".edges.3<-2."), swapped(".edges.3<-1.", ".edges.2<-1.")):
        wrong = NB201Supernet(10, 4, 1, bn_affine=False, bn_track=False)
        load_mapped(wrong, theirs, names)
        with torch.no_grad():
            assert not torch.allclose(wrong(x, arch), ref, atol=1e-3)
    # operations: the two convolutions cannot even load each other's weights; stateless ones (skip, pooling,
    # none) have no weights to swap and differ in the logits themselves (the forward tests above)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_mapped(NB201Supernet(10, 4, 1, bn_affine=False, bn_track=False), theirs,
                    swapped(".nor_conv_1x1.", ".nor_conv_3x3."))


def test_xautodl_conv_bias_before_non_affine_batchnorm_cancels():
    """The one structural difference (module docstring): with xautodl's own random convolution biases
    left in place, the logits agree to float rounding and the biases' gradients vanish (to rounding), so
    zeroing and freezing them changes nothing NB201 computes."""
    theirs = xautodl_supernet(4, 1, 0)
    randomise(theirs, 1)
    biases = {k: v.clone() for k, v in theirs.state_dict().items() if k.endswith("op.1.bias")}
    assert biases and all(v.abs().max() > 0 for v in biases.values())
    ours = NB201Supernet(10, 4, 1, bn_affine=False, bn_track=False)
    load_mapped(ours, theirs, supernet_map(ours, theirs))  # zeroes them in ``theirs``
    x, _ = images(8, 1)
    theirs.load_state_dict(biases, strict=False)  # put them back
    with torch.no_grad():
        for arch in ARCHS:
            torch.testing.assert_close(ours(x, arch), supernet_logits(theirs, x, arch), rtol=1e-4, atol=1e-5)
    nn.functional.cross_entropy(supernet_logits(theirs, x, ARCHS[0]), torch.arange(8)).backward()
    grads = dict(theirs.named_parameters())
    for k in biases:
        weight = grads[k.replace("bias", "weight")].grad
        if weight is not None:  # on the path
            assert grads[k].grad.abs().max() < 1e-4 * weight.abs().max(), k  # rounding, not a gradient


# -- training ---------------------------------------------------------------------------------------------
def trained_pair(steps: int = 2) -> tuple[NB201Supernet, TinyNetworkRANDOM, dict[str, str], list[Arch]]:
    """Both supernets after ``steps`` SGD steps on the same batches and paths: ours with
    :func:`benchmark.training.train_one_epoch` and :func:`make_optimizer` (the tiny preset: SGD, nesterov
    momentum 0.9, weight decay 5e-4, gradient clipping at 5, cosine lr), xautodl's as its
    ``exps/NAS-Bench-201-algos/RANDOM-NAS.py`` ``search_func`` steps, with the same optimizer settings."""
    ours, theirs = paired_supernets(C=4, N=1)
    names = supernet_map(ours, theirs)
    preset = get_preset("tiny")
    batches = [images(16, 10 + s) for s in range(steps)]
    archs = [ARCHS[1], ARCHS[6], ARCHS[0]][:steps]
    path = iter(archs)
    train_one_epoch(ours, lambda: next(path), batches, make_optimizer(ours, preset), preset, first_step=0,
                    total_steps=10)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=preset.lr, momentum=preset.momentum,
                                weight_decay=preset.weight_decay, nesterov=preset.nesterov)
    theirs.train()
    for step, ((x, y), arch) in enumerate(zip(batches, archs)):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, 10, preset.lr, preset.lr_min)
        theirs.arch_cache = structure(arch)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(theirs(x)[1], y)
        loss.backward()
        nn.utils.clip_grad_norm_(theirs.parameters(), preset.grad_clip)
        optimizer.step()
    return ours, theirs, names, archs


def test_sgd_steps_of_the_supernet_give_xautodls_weights():
    """Two steps (the second with momentum), on two different paths: every weight and BatchNorm statistic
    equals xautodl's bit for bit (CPU, fp32); the weights of the sampled paths moved, the others did not."""
    before, _ = paired_supernets(C=4, N=1)
    ours, theirs, names, archs = trained_pair()
    ref = theirs.state_dict()
    moved = 0
    for k, v in ours.state_dict().items():
        assert torch.equal(v, ref[names[k]]), k
        moved += not torch.equal(v, before.state_dict()[k])
    on_path = {id(p) for a in archs for p in ours.path_parameters(a)}
    assert moved >= len(on_path) and len(on_path) < len(list(ours.parameters()))
    for p, p0 in zip(ours.parameters(), before.parameters()):
        assert torch.equal(p, p0) == (id(p) not in on_path)


# -- evaluation: NB201's BatchNorm at evaluation ------------------------------------------------------------
def test_nb201_policy_evaluates_as_xautodls_eval_mode():
    """After training steps (the stem, reduction blocks and lastact have tracked statistics), NB201's
    ``network.eval()`` -- untracked cells on batch statistics, the rest on running statistics -- gives the
    logits of our ``nb201`` policy, one architecture at a time (:func:`bn_policy`) and grouped
    (:func:`group_logits`, several architectures per batch); the accuracies follow. ``batch`` and
    ``batch`` differs: it normalises the stem and the reductions with batch statistics too."""
    ours, theirs, _, _ = trained_pair(steps=3)
    assert int(ours.stem[1].num_batches_tracked) == 3 and ours.cells[1].conv_a[2].running_mean.abs().sum() > 0
    theirs.eval()
    val = [images(16, 20), images(16, 21)]
    archs = ARCHS[:7]
    ref = []
    with torch.no_grad():
        for arch in archs:
            ref.append(torch.stack([supernet_logits(theirs, x, arch) for x, _ in val]))
            with bn_policy(ours, "nb201", lambda v, a=arch: ours(v, a)):
                mine = torch.stack([ours(x, arch) for x, _ in val])
            assert torch.equal(mine, ref[-1]), format_arch(arch)
            with bn_policy(ours, "batch", lambda v, a=arch: ours(v, a)):
                assert not torch.allclose(ours(val[0][0], arch), ref[-1][0], atol=1e-4)
    grouped = torch.stack(list(group_logits(ours, archs, val, "nb201")), dim=1)  # archs x batches x B x 10
    assert torch.equal(grouped, torch.stack(ref))
    y = torch.stack([b[1] for b in val])
    expected = [100.0 * float((r.argmax(-1) == y).float().mean()) for r in ref]
    assert evaluate_archs(ours, archs, val, "nb201").tolist() == pytest.approx(expected, abs=1e-9)
    assert [evaluate_arch(ours, a, val, "nb201") for a in archs] == pytest.approx(expected, abs=1e-9)
    assert ours.training  # the policy is undone
