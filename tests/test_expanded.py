"""SE-NAS expanding (Sec. 3.4): child spaces, weight copies, independence, resume on the NB201 supernet, and
one contract that every expandable supernet (NB201, MobileNet, DARTS) keeps."""

import random

import pytest
import torch

from benchmark.darts.expanded import ExpandableDartsSupernet
from benchmark.models.mobilenet import MobileNetSupernet
from benchmark.models.nb201_expanded import ExpandableNB201Supernet
from benchmark.spaces.darts import darts_space
from benchmark.spaces.mobilenet import MobileNetSkeleton, mobilenet_space
from benchmark.spaces.nb201 import nb201_space

SIZES_TO_ALIVE = {1: ["nor_conv_3x3"], 2: ["nor_conv_3x3", "nor_conv_1x1"],
                  3: ["nor_conv_3x3", "nor_conv_1x1", "skip_connect"],
                  5: ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]}


def _space(sizes):
    space = nb201_space()
    space.restrict([SIZES_TO_ALIVE[n] for n in sizes])
    return space


def test_copies_start_equal_to_the_path_they_replace():
    torch.manual_seed(0)
    net = ExpandableNB201Supernet(C=4, N=1).eval()
    space = _space([5, 2, 1, 3, 2, 3])
    arch = ("nor_conv_1x1", "nor_conv_1x1", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_1x1")
    x = torch.randn(4, 3, 32, 32)
    before = net(x, arch)
    net.expand(space, T=6)
    assert net.groups == [(1, 2, 3), (4, 5)]  # the paper's Fig. 3 example, 0-based
    assert torch.allclose(net(x, arch), before)


def test_existing_child_spaces_stay_whole_when_merging_again():
    net = ExpandableNB201Supernet(C=4, N=1)
    space = _space([5, 2, 1, 3, 2, 3])
    net.expand(space, T=6)
    space.restrict([SIZES_TO_ALIVE[n] for n in (2, 1, 1, 3, 1, 1)])
    assert net.plan_groups(space, T=6) == [(0, 1, 2, 3, 4, 5)]
    space.restrict([SIZES_TO_ALIVE[n] for n in (5, 2, 1, 3, 2, 3)])
    assert net.plan_groups(space, T=2) == [(1, 2, 3), (4, 5)]  # over T now, but never split


def test_rebuild_then_load_restores_an_expanded_supernet():
    torch.manual_seed(1)
    net = ExpandableNB201Supernet(C=4, N=1).eval()
    space = _space([5, 2, 1, 3, 2, 3])
    net.expand(space, T=6)
    for p in net.copies.parameters():
        p.data.normal_()
    other = ExpandableNB201Supernet(C=4, N=1)
    other.rebuild(space, net.groups)
    other.load_state_dict(net.state_dict())
    other.eval()
    arch = ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1", "nor_conv_1x1", "nor_conv_3x3")
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(other(x, arch), net(x, arch))


def test_expanded_partial_models_train_independently():
    torch.manual_seed(0)
    net = ExpandableNB201Supernet(C=4, N=1)
    space = nb201_space()
    space.restrict([["nor_conv_3x3", "nor_conv_1x1"], ["nor_conv_3x3"], ["skip_connect"], ["nor_conv_3x3"],
                    ["skip_connect", "nor_conv_1x1"], ["skip_connect"]])
    net.expand(space, T=50)
    assert net.groups == [(0, 1, 2, 3, 4, 5)]
    a = ("nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "skip_connect", "skip_connect")
    b = ("nor_conv_1x1",) + a[1:]
    # the same edge op (edge 1, nor_conv_3x3) is a different module in the two partial models
    assert net.edge_op(0, 1, "nor_conv_3x3", a) is not net.edge_op(0, 1, "nor_conv_3x3", b)
    stem_ids = {id(p) for m in net.shared_modules() for p in m.parameters()}
    own_b = [p for p in net.path_parameters(b) if id(p) not in stem_ids]
    before_b = [p.clone() for p in own_b]
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    torch.nn.functional.cross_entropy(net(x, a), y).backward()
    opt.step()
    assert own_b and all(torch.equal(p, p0) for p, p0 in zip(own_b, before_b))
    moved = [p for p in net.path_parameters(a) if id(p) not in stem_ids and p.grad is not None]
    assert moved


# -- the contract of benchmark.models.expandable over every supernet -----------------------------------------
SUPERNETS = {
    "nb201": (lambda: ExpandableNB201Supernet(C=4, N=1), nb201_space, 8),
    "mobilenet": (lambda: MobileNetSupernet(MobileNetSkeleton(width_mult=0.25, input_size=32, num_classes=4),
                                            mobilenet_space()), mobilenet_space, 9),
    "darts": (lambda: ExpandableDartsSupernet(num_classes=10, C=4, layers=3, space=darts_space()), darts_space, 12),
}


@pytest.mark.parametrize("name", list(SUPERNETS))
def test_every_supernet_keeps_the_expanding_contract(name):
    """Over successive shrinks: copies start as the module that served the site (shared or an earlier copy),
    ``origins`` pairs every copied parameter with its source in ``copies`` order, each site is then served by
    its copy, and ``rebuild`` recreates the structure so a checkpoint loads strictly."""
    make, make_space, T = SUPERNETS[name]
    torch.manual_seed(0)
    net, space, rng = make(), make_space(), random.Random(0)
    assert net.groups == [] and len(net.copies) == 0
    rounds_with_copies = from_copies = 0
    earlier_copies: set[int] = set()
    for _ in range(6):
        space.restrict([rng.sample(list(ops), len(ops) - 1) if len(ops) > 1 and rng.random() < 0.6 else list(ops)
                        for ops in space.alive])
        before = {id(p) for p in net.parameters()}
        sources = {key: net.serving_module(site) for key, site in net.copy_sites(space, net.plan_groups(space, T))}
        origins = net.expand(space, T)
        assert [id(new) for new, _ in origins] == [id(p) for p in net.copies.parameters()]
        assert [id(src) for _, src in origins] == [id(p) for m in sources.values() for p in m.parameters()]
        assert all(new is not src and id(src) in before and torch.equal(new, src) for new, src in origins)
        from_copies += any(id(src) in earlier_copies for _, src in origins)
        earlier_copies = {id(p) for p in net.copies.parameters()}
        slots = [s for g in net.groups for s in g]
        assert len(slots) == len(set(slots)) and net.groups == sorted(net.groups)
        sites = list(net.copy_sites(space, net.groups))
        assert [key for key, _ in sites] == list(net.copies) == list(sources)
        assert all(net.serving_module(site) is net.copies[key] for key, site in sites)
        rounds_with_copies += bool(origins)
        other = make()
        other.rebuild(space, net.groups)
        other.load_state_dict(net.state_dict())
        assert other.groups == net.groups and list(other.copies) == list(net.copies)
    assert rounds_with_copies >= 2 and from_copies  # some merge united earlier child spaces
