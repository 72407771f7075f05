"""BatchNorm policies, Eq. 4 weight averaging and the training loop's determinism."""

import random

import pytest
import torch
from torch import nn

from benchmark.errors import NasBenchError
from benchmark.estimation import WeightAverager, bn_policy, evaluate_arch
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.presets import get_preset
from benchmark.samplers import UniformSampler
from benchmark.spaces.nb201 import nb201_space
from benchmark.training import cosine_lr, make_optimizer, train_one_epoch

ARCH = ("nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "nor_conv_3x3", "skip_connect")


def _net(track: bool) -> NB201Supernet:
    torch.manual_seed(0)
    return NB201Supernet(num_classes=10, C=4, N=1, bn_track=track)


def _batches(n: int, seed: int, size: int = 32):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, 32, 32, generator=g), torch.randint(0, 10, (size,), generator=g))
            for _ in range(n)]


@pytest.mark.parametrize("policy,track", [("recalibrate", False), ("recalibrate", True), ("batch", False),
                                          ("batch", True), ("tracked", True), ("nb201", False),
                                          ("nb201", True)])
def test_policies_leave_the_supernet_unchanged(policy, track):
    net = _net(track)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    evaluate_arch(net, ARCH, _batches(2, 1), policy, _batches(2, 2))
    after = net.state_dict()
    assert net.training
    for k, v in before.items():
        assert torch.equal(v, after[k]), k


def test_recalibration_equals_exact_statistics_of_the_recal_batches():
    net = _net(False)
    recal = _batches(3, 4)
    captured = []
    with bn_policy(net, "recalibrate", lambda x: net(x, ARCH), recal):
        bn = net.stem[1]
        captured = (bn.running_mean.clone(), bn.running_var.clone())
        assert not net.training
    x = torch.cat([b[0] for b in recal])
    with torch.no_grad():
        feats = net.stem[0](x)
    assert torch.allclose(captured[0], feats.mean(dim=(0, 2, 3)), atol=1e-5)
    # cumulative average of per-batch unbiased variances, as BatchNorm with momentum=None computes
    per_batch = torch.stack([net.stem[0](b[0]).detach().var(dim=(0, 2, 3), unbiased=True) for b in recal])
    assert torch.allclose(captured[1], per_batch.mean(0), atol=1e-4)


def test_recalibrated_outputs_ignore_batch_composition_but_batch_policy_does_not():
    net = _net(True)
    x = _batches(1, 5, size=16)[0][0]
    recal = _batches(2, 6)
    def forward(inp):
        return net(inp, ARCH)

    out = {}
    for policy in ("recalibrate", "batch", "tracked"):
        with bn_policy(net, policy, forward, recal), torch.no_grad():
            whole = forward(x)
            halves = torch.cat([forward(x[:8]), forward(x[8:])])
        out[policy] = (whole, halves)
    assert torch.allclose(*out["recalibrate"], atol=1e-5)
    assert torch.allclose(*out["tracked"], atol=1e-5)
    assert not torch.allclose(*out["batch"], atol=1e-3)
    assert not torch.allclose(out["recalibrate"][0], out["tracked"][0], atol=1e-3)


def _with_statistics(net: NB201Supernet, seed: int) -> NB201Supernet:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None:
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    return net


def test_nb201_policy_normalises_cells_with_batch_and_the_rest_with_tracked_statistics():
    """NB201's ``network.eval()``: with tracking cells, ``nb201`` equals ``tracked`` on the same supernet
    whose cells track nothing (stem, reductions and lastact keep their statistics), and differs from both
    ``tracked`` (cells on running statistics) and ``batch`` (every layer on batch statistics)."""
    tracking = _with_statistics(_net(True), 3)
    untracked = _net(False)
    missing, unexpected = untracked.load_state_dict(tracking.state_dict(), strict=False)
    assert not missing and unexpected and all("cells" in k and "edges" in k for k in unexpected)
    x = _batches(1, 5, size=16)[0][0]

    def out(net: NB201Supernet, policy: str) -> torch.Tensor:
        with bn_policy(net, policy, lambda v: net(v, ARCH)), torch.no_grad():
            return net(x, ARCH)

    nb201 = out(tracking, "nb201")
    assert torch.equal(nb201, out(untracked, "tracked"))
    assert torch.equal(nb201, out(untracked, "nb201"))
    assert not torch.allclose(nb201, out(tracking, "tracked"), atol=1e-3)
    assert not torch.allclose(nb201, out(tracking, "batch"), atol=1e-3)
    assert get_preset("tiny", {"bn_eval": "nb201"}).bn_eval == "nb201"  # allowed with untracked cells


def test_nb201_policy_needs_a_model_that_names_its_shared_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    with pytest.raises(NasBenchError, match="bn_eval=nb201"), bn_policy(model, "nb201", model):
        pass


def test_weight_averager_is_mean_of_snapshots():
    net = _net(False)
    avg = WeightAverager(net, k=3, steps_per_epoch=9)
    assert avg.steps == {8, 5, 2}
    snaps = []
    for step in range(9):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.1 * (step + 1))
        avg.maybe_update(net, step)
        if step in avg.steps:
            snaps.append([p.clone() for p in net.parameters()])
    for i, p in enumerate(avg.module.parameters()):
        assert torch.allclose(p, torch.stack([s[i] for s in snaps]).mean(0), atol=1e-6)


def test_cosine_schedule_endpoints():
    assert cosine_lr(0, 100, 0.1, 0.001) == pytest.approx(0.1)
    assert cosine_lr(100, 100, 0.1, 0.001) == pytest.approx(0.001)
    assert cosine_lr(50, 100, 0.1, 0.001) == pytest.approx(0.0505)


def test_training_is_deterministic_and_only_moves_path_weights():
    preset = get_preset("tiny")
    results = []
    for _ in range(2):
        net = _net(False)
        opt = make_optimizer(net, preset)
        sampler = UniformSampler(nb201_space(), seed=0)
        stats = train_one_epoch(net, sampler, _batches(3, 7), opt, preset, first_step=0, total_steps=3)
        results.append((stats, [p.detach().clone() for p in net.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))
    net = _net(False)
    initial = {n: p.detach().clone() for n, p in net.named_parameters()}
    sampler = UniformSampler(nb201_space(), seed=0)
    sampler.rng = random.Random(0)
    arch = ARCH
    sampler.__class__ = type("Fixed", (UniformSampler,), {"__call__": lambda self: arch})
    train_one_epoch(net, sampler, _batches(1, 8), make_optimizer(net, preset), preset, 0, 1)
    path = {id(p) for p in net.path_parameters(arch)}
    for n, p in net.named_parameters():
        moved = not torch.equal(p, initial[n])
        assert moved == (id(p) in path), n
