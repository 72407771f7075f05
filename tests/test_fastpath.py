"""The fast path: on CPU it is today's code path exactly; its GPU settings, run on CPU, give the eager
results (exactly, or within bf16 tolerance under autocast); evaluation takes one numeric path whatever the
group size; ``nasbench perf`` reports a summary."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from benchmark import perf
from benchmark.cli import app
from benchmark.data import load_dataset
from benchmark.data.loader import TensorBatches
from benchmark.errors import NasBenchError
from benchmark.estimation import bn_policy, evaluate_arch, evaluate_archs, group_logits
from benchmark.fastpath import FastPath
from benchmark.models.nb201_expanded import ExpandableNB201Supernet
from benchmark.models.nb201_supernet import NB201Supernet
from benchmark.paths import data_root
from benchmark.presets import get_preset
from benchmark.samplers import UniformSampler
from benchmark.spaces.nb201 import EDGES, OPS, nb201_space
from benchmark.training import make_optimizer, train_one_epoch

# seven seeded random architectures, then all-none, all-3x3-convolution and a lone skip connection
ARCHS = [tuple(rng.choice(OPS) for _ in EDGES) for rng in map(random.Random, range(7))] + [
    ("none",) * 6, ("nor_conv_3x3",) * 6, ("skip_connect", "none", "none", "none", "none", "none")]
# CUDA's default fast path minus what needs a GPU (autocast is tested separately, bf16 on CPU)
GPU_SETTINGS_ON_CPU = FastPath(channels_last=True, optimizer="fused", eval_group=4)
SUMMARY = re.compile(r"^summary: train_vs_xautodl=(\S+) train_vs_eager=(\S+) eval_vs_xautodl=(\S+) "
                     r"eval_vs_eager=(\S+) device=cpu batch=(\d+)$")


pytestmark = pytest.mark.usefixtures("one_thread")


def _batches(n: int, seed: int, size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, 32, 32, generator=g), torch.randint(0, 10, (size,), generator=g))
            for _ in range(n)]


def _train(fast: FastPath | None, steps: int = 3, seed: int = 0) -> tuple[dict, list[torch.Tensor]]:
    torch.manual_seed(seed)
    net = NB201Supernet(num_classes=10, C=4, N=1, bn_track=False)
    if fast is not None:
        fast.prepare_model(net)
    preset = get_preset("tiny")
    optimizer = make_optimizer(net, preset, fast)
    stats = train_one_epoch(net, UniformSampler(nb201_space(), seed), _batches(steps, 7), optimizer, preset,
                            first_step=0, total_steps=steps, fast=fast)
    return stats, [p.detach().clone() for p in net.parameters()]


@pytest.fixture(scope="module")
def cifar():
    """A seeded C=4 supernet, 500 real CIFAR-10 validation images and 2 recalibration batches of 64.

    Labels are planted: the fp32 predictions of ``ARCHS[8]`` (all 3x3 convolutions), so an architecture's
    accuracy is its agreement with that one, and a changed prediction shows in the accuracy."""
    try:
        root = data_root()
    except NasBenchError as e:
        pytest.skip(f"shared data not found: {e}")
    d = load_dataset("cifar10", root, scheme="senas", seed=0, n_val=1000, max_train=128, max_val=500)
    recal = list(TensorBatches(d.train_x, d.train_y, d.mean, d.std, 64, shuffle=False, drop_last=True))
    x = torch.cat([b[0] for b in TensorBatches(d.val_x, d.val_y, d.mean, d.std, 500, shuffle=False)])
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=10, C=4, N=1, bn_track=False)
    with bn_policy(net, "recalibrate", lambda v: net(v, ARCHS[8]), recal), torch.no_grad():
        y = net(x, ARCHS[8]).argmax(1)
    return net, [(x[:250], y[:250]), (x[250:], y[250:])], recal


# -- settings ---------------------------------------------------------------------------------------------
def test_cpu_defaults_are_todays_code_path_and_eager_switches_everything_off():
    assert FastPath.for_device("cpu") == FastPath()
    off = FastPath.eager()
    assert (off.autocast_dtype, off.channels_last, off.optimizer, off.cudnn_benchmark, off.eval_group) == \
        (None, False, "loop", False, 1)
    gpu = FastPath.for_device("cuda")
    assert gpu.channels_last and gpu.optimizer == "fused" and gpu.eval_group > 1
    assert gpu.describe()["autocast_dtype"] in (None, "bfloat16")
    # evaluation in fp32 on the GPU unless the preset's eval_autocast opts back in; recorded either way
    assert not gpu.eval_autocast and gpu.describe()["eval_dtype"] == "float32"
    assert FastPath.for_device("cuda", eval_autocast=True).eval_autocast
    bf16 = FastPath(autocast_dtype=torch.bfloat16)
    assert bf16.describe()["eval_dtype"] == "bfloat16"
    assert bf16.replace(eval_autocast=False).describe()["eval_dtype"] == "float32"
    assert FastPath().describe()["eval_dtype"] == "float32"


@pytest.mark.parametrize("kw,match", [({"optimizer": "adam"}, "unknown optimizer step"),
                                      ({"eval_group": 0}, "eval_group must be at least 1"),
                                      ({"autocast_dtype": torch.float16}, "not supported")])
def test_bad_settings_are_one_line_errors(kw, match):
    with pytest.raises(NasBenchError, match=match):
        FastPath(**kw)


def test_compile_ops_compiles_each_operation_once_and_again_after_a_copy():
    import copy

    net = NB201Supernet(num_classes=10, C=4, N=1)
    regions = net.compile_regions()
    assert len(regions) == 2 + 6 * 3 * 2  # two reduction blocks; 1x1 and 3x3 convolutions of 6 edges, 3 cells
    FastPath(compile_ops=True).prepare_model(net)
    compiled = [m._compiled_call_impl for m in regions]
    assert all(c is not None for c in compiled)
    FastPath(compile_ops=True).prepare_model(net)  # idempotent: nothing compiled twice
    assert [m._compiled_call_impl for m in regions] == compiled
    clone = copy.deepcopy(net)  # as the Eq. 4 average and SE-NAS weight copies are made
    assert all(m._compiled_call_impl is None for m in clone.compile_regions())
    FastPath(compile_ops=True).prepare_model(clone)
    assert all(m._compiled_call_impl is not None for m in clone.compile_regions())
    with pytest.raises(NasBenchError, match="compile regions"):
        FastPath(compile_ops=True).prepare_model(torch.nn.Linear(2, 2))


# -- training ---------------------------------------------------------------------------------------------
def test_cpu_fast_path_trains_exactly_like_no_fast_path():
    stats, params = _train(None)
    stats_cpu, params_cpu = _train(FastPath.for_device("cpu"))
    assert stats == stats_cpu
    assert all(torch.equal(a, b) for a, b in zip(params, params_cpu))


@pytest.mark.parametrize("fast", [FastPath.eager(), FastPath(optimizer="fused")], ids=["loop", "fused"])
def test_loop_and_fused_optimizer_steps_train_exactly_like_foreach(fast):
    """Including the fused step's zero momentum for parameters a new path reaches (a path changes every
    step, so buffers appear one by one: the bare fused kernel refuses such a mix)."""
    stats, params = _train(None)
    stats_fast, params_fast = _train(fast)
    assert stats == stats_fast
    assert all(torch.equal(a, b) for a, b in zip(params, params_fast))


def test_compiled_operations_train_the_same_weights_within_float_rounding():
    """Regional torch.compile (inductor, on CPU here) fuses ReLU-Conv-BN: the same training up to float
    rounding, judged as for channels-last below."""
    stats, params = _train(None)
    stats_c, params_c = _train(FastPath(compile_ops=True))
    initial = _train(None, steps=0)[1]
    assert stats_c["loss"] == pytest.approx(stats["loss"], rel=1e-4)
    moved = [(a - p0).abs().max() for a, p0 in zip(params, initial)]
    assert all((a - b).abs().max() <= 0.2 * m + 1e-6 for a, b, m in zip(params, params_c, moved))


def test_channels_last_trains_the_same_weights_within_float_rounding():
    """Channels-last is exact in float64 (checked once by hand); in float32 the CPU channels-last BatchNorm
    backward sums in another order, and BatchNorm's backward cancels large terms, so updates differ by a
    few percent (measured: at most 9% of a tensor's movement after 3 steps). A lost or wrong update
    differs by its whole movement."""
    stats, params = _train(None)
    stats_cl, params_cl = _train(GPU_SETTINGS_ON_CPU)
    initial = _train(None, steps=0)[1]
    assert stats_cl["loss"] == pytest.approx(stats["loss"], rel=1e-4)
    moved = [(a - p0).abs().max() for a, p0 in zip(params, initial)]
    assert sum(m > 1e-3 for m in moved) > 30
    assert all((a - b).abs().max() <= 0.2 * m + 1e-6 for a, b, m in zip(params, params_cl, moved))


def test_bf16_autocast_training_step_matches_fp32_within_bf16_tolerance():
    """One step from the same weights: the loss agrees to bf16's ~3 significant digits."""
    stats, _ = _train(None, steps=1)
    stats_bf16, params_bf16 = _train(FastPath(autocast_dtype=torch.bfloat16), steps=1)
    assert stats_bf16["loss"] == pytest.approx(stats["loss"], rel=1e-2)
    assert all(torch.isfinite(p).all() for p in params_bf16)


# -- evaluation -------------------------------------------------------------------------------------------
def test_cpu_fast_path_evaluates_exactly_like_no_fast_path(cifar):
    net, val, recal = cifar
    a = evaluate_archs(net, ARCHS[7:], val[:1], "recalibrate", recal)
    b = evaluate_archs(net, ARCHS[7:], val[:1], "recalibrate", recal, fast=FastPath.for_device("cpu"))
    assert np.array_equal(a, b) and a[1] == 100.0


@pytest.mark.parametrize("policy", ["recalibrate", "batch"])
def test_grouped_evaluation_equals_one_by_one(cifar, policy):
    """Several architectures per launch, with per-architecture BatchNorm statistics, give each architecture
    the accuracy it gets alone (fp32, CPU: exactly)."""
    net, val, recal = cifar
    before = {k: v.clone() for k, v in net.state_dict().items()}
    seen = []
    one_by_one = evaluate_archs(net, ARCHS, val[:1], policy, recal)
    grouped = evaluate_archs(net, ARCHS, val[:1], policy, recal, progress=seen.append,
                             fast=GPU_SETTINGS_ON_CPU)
    assert np.array_equal(one_by_one, grouped)
    assert len(set(one_by_one.tolist())) >= 3  # the architectures really differ
    assert sum(seen) == len(ARCHS) and max(seen) == GPU_SETTINGS_ON_CPU.eval_group
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # supernet left unchanged
    assert net.training


# one numeric path: every architecture gets the same logits whatever group it is evaluated in
ONE_PATH_ARCHS = [
    ("none",) * 6, ("avg_pool_3x3",) * 6, ("skip_connect",) * 6,
    ("skip_connect", "none", "none", "none", "none", "none"),
    ("nor_conv_3x3", "none", "nor_conv_1x1", "none", "none", "none"),  # cut off from the output: zeros
    ("nor_conv_1x1", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "none", "avg_pool_3x3"),
    ("nor_conv_3x3",) * 6, ("nor_conv_1x1",) * 6,
] + [tuple(rng.choice(OPS) for _ in EDGES) for rng in map(random.Random, range(10, 15))]


@pytest.fixture(scope="module")
def one_path():
    """A seeded C=4 supernet with large random weights and tracked statistics everywhere (so ``tracked`` and
    ``nb201`` differ from the other policies), two validation and two recalibration batches of 24 random
    images; validation labels planted as the all-3x3 architecture's recalibrated predictions, so the
    accuracies spread."""
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=10, C=4, N=1, bn_track=True)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    recal = _batches(2, 8, size=24)
    xs = [x for x, _ in _batches(2, 9, size=24)]
    with bn_policy(net, "recalibrate", lambda v: net(v, ONE_PATH_ARCHS[6]), recal), torch.no_grad():
        val = [(x, net(x, ONE_PATH_ARCHS[6]).argmax(1)) for x in xs]
    return net, val, recal


@pytest.mark.parametrize("policy", ["recalibrate", "batch", "tracked", "nb201"])
def test_every_group_size_gives_every_architecture_the_same_logits_and_accuracy(one_path, policy):
    """Groups of 1, 2, 3 and 7 (the last group of each split smaller): per architecture, bit-identical
    logits to one-architecture evaluation through the model's own BatchNorm modules (:func:`bn_policy`),
    and so identical accuracies from :func:`evaluate_archs` and :func:`evaluate_arch`."""
    net, val, recal = one_path
    archs = ONE_PATH_ARCHS
    alone = []
    for arch in archs:
        with bn_policy(net, policy, lambda v, a=arch: net(v, a), recal), torch.no_grad():
            alone.append(torch.stack([net(x, arch) for x, _ in val]))
    single = np.array([evaluate_arch(net, a, val, policy, recal) for a in archs])
    # the architectures really differ (three of them output zeros: all-none, skip only into node 1, cut off)
    assert len({tuple(v.flatten().tolist()) for v in alone}) == len(archs) - 2
    assert policy != "recalibrate" or len(set(single.tolist())) >= 4
    for g in (1, 2, 3, 7):
        for lo in range(0, len(archs), g):
            chunk = archs[lo:lo + g]
            logits = torch.stack(list(group_logits(net, chunk, val, policy, recal)), dim=1)
            assert net.training and not any("forward" in vars(m) for m in net.modules())  # restored
            for a, arch in enumerate(chunk):
                assert torch.equal(logits[a], alone[lo + a]), (g, arch)
        assert np.array_equal(evaluate_archs(net, archs, val, policy, recal, fast=FastPath(eval_group=g)),
                              single), g


def test_grouped_evaluation_refuses_an_unknown_policy_at_once(one_path):
    net, _, _ = one_path
    with pytest.raises(ValueError, match="unknown BatchNorm policy"):
        evaluate_archs(net, ONE_PATH_ARCHS[:2], [], "running")


def test_fp32_evaluation_under_a_bf16_training_fast_path():
    """``eval_autocast=False`` (the pipeline's default): training autocasts, recalibration and evaluation
    do not, so their accuracies are those of the plain fp32 path, exactly; ``eval_autocast=True`` really
    evaluates in bf16."""
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=10, C=4, N=1, bn_track=False)
    val, recal = _batches(1, 3, size=24), _batches(1, 4, size=24)
    archs = ONE_PATH_ARCHS[5:9]
    dtypes: list[torch.dtype] = []
    hook = net.stem[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    try:
        fp32 = evaluate_archs(net, archs, val, "recalibrate", recal)
        training_only = FastPath(autocast_dtype=torch.bfloat16, eval_autocast=False, eval_group=2)
        dtypes.clear()
        assert np.array_equal(evaluate_archs(net, archs, val, "recalibrate", recal, fast=training_only), fp32)
        assert set(dtypes) == {torch.float32}
        evaluate_archs(net, archs, val, "recalibrate", recal, fast=training_only.replace(eval_autocast=True))
        assert torch.bfloat16 in dtypes
        dtypes.clear()
        preset = get_preset("tiny")
        train_one_epoch(net, lambda: archs[0], _batches(1, 5), make_optimizer(net, preset), preset, 0, 1,
                        fast=training_only)
        assert set(dtypes) == {torch.bfloat16}
    finally:
        hook.remove()


def test_grouped_evaluation_uses_tracked_statistics_and_expanded_copies():
    """``tracked`` policy and SE-NAS expanded weight copies: each architecture runs its own modules."""
    torch.manual_seed(0)
    net = ExpandableNB201Supernet(num_classes=10, C=4, N=1, bn_track=True)
    space = nb201_space()
    space.restrict([["nor_conv_3x3", "nor_conv_1x1"], ["nor_conv_3x3", "skip_connect"], ["skip_connect"],
                    ["nor_conv_3x3"], ["skip_connect"], ["avg_pool_3x3", "none"]])
    net.expand(space, T=50)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # distinct weights and statistics in every copy
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    archs = list(space.enumerate())
    val, recal = _batches(1, 3, size=48), _batches(1, 4, size=48)
    for policy in ("tracked", "recalibrate", "nb201"):
        a = evaluate_archs(net, archs, val, policy, recal)
        b = evaluate_archs(net, archs, val, policy, recal, fast=FastPath(eval_group=3))
        assert np.array_equal(a, b), policy


def test_bf16_autocast_evaluation_matches_fp32_within_bf16_tolerance(cifar):
    """bf16 keeps 8 significant bits: an image whose top two logits are within ~1% may change its
    prediction, nothing else. On 500 real images we allow 2 percentage points (10 images) per architecture
    and 0.5 on average (measured: at most 0.8 and 0.3 over three seeds), one by one and grouped; autocast
    must really run the convolutions in bf16."""
    net, val, recal = cifar
    dtypes = set()
    hook = net.stem[0].register_forward_hook(lambda m, i, o: dtypes.add(o.dtype))
    archs = ARCHS[3:9]
    fp32 = evaluate_archs(net, archs, val, "recalibrate", recal)
    try:
        bf16 = evaluate_archs(net, archs, val, "recalibrate", recal,
                              fast=FastPath(autocast_dtype=torch.bfloat16))
        bf16_grouped = evaluate_archs(net, archs, val, "recalibrate", recal,
                                      fast=GPU_SETTINGS_ON_CPU.replace(autocast_dtype=torch.bfloat16))
    finally:
        hook.remove()
    assert dtypes == {torch.float32, torch.bfloat16}
    assert fp32[-1] == 100.0 and fp32.min() < 90.0  # planted labels (ARCHS[8]): accuracies spread
    for acc in (bf16, bf16_grouped):
        assert np.abs(acc - fp32).max() <= 2.0 and np.abs(acc - fp32).mean() <= 0.5


# -- nasbench perf ----------------------------------------------------------------------------------------
TINY = ["perf", "--device", "cpu", "--channels", "4", "--cells", "1", "--batch-size", "8", "--repeats", "2",
        "--warmup", "0", "--steps", "1", "--eval-archs", "2", "--val-images", "16", "--recal-batches", "1",
        "--eval-group", "2"]


def test_perf_prints_a_table_and_the_summary_line_last():
    result = CliRunner().invoke(app, TINY)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    m = SUMMARY.match(lines[-1])
    assert m, lines[-1]
    ratios = m.groups()[:4]
    have_xautodl = perf.xautodl_version() is not None
    for name, value in zip(("train_vs_xautodl", "train_vs_eager", "eval_vs_xautodl", "eval_vs_eager"), ratios):
        if "xautodl" in name and not have_xautodl:
            assert value == "n/a"
        else:
            assert value.endswith("x") and float(value[:-1]) > 0, name
    assert int(m.group(5)) == 8
    assert any(line.startswith("training:") for line in lines)
    assert any(line.startswith("evaluation:") for line in lines)
    assert "batch 8 instead of the paper's 256" in result.stdout
    assert any(line.startswith("per CPU second") for line in lines)


def test_perf_json_without_xautodl_notes_it_and_ratios_follow_the_medians(tmp_path, monkeypatch):
    monkeypatch.setattr(perf, "xautodl_version", lambda: None)
    out = tmp_path / "perf.json"
    result = CliRunner().invoke(app, [*TINY, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads(out.read_text())
    assert set(report["results"]["train"]) == {"toolkit", "eager"}
    assert any("xautodl is not installed" in n for n in report["notes"])
    assert report["ratios"]["train_vs_xautodl"] is None and "train_vs_xautodl=n/a" in report["summary"]
    for phase in ("train", "eval"):
        res = report["results"][phase]
        assert len(res["toolkit"]["images_per_s"]["runs"]) == 2
        for ratios, key in ((report["ratios"], "images_per_s"), (report["ratios_cpu_time"], "images_per_cpu_s")):
            assert ratios[f"{phase}_vs_eager"] == pytest.approx(
                res["toolkit"][key]["median"] / res["eager"][key]["median"])
    assert report["fast_path"]["toolkit"]["eval_group"] == 2
    assert report["hardware"]["device"] == "cpu" and report["versions"]["torch"] == torch.__version__


def test_perf_refuses_cuda_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(NasBenchError, match="no CUDA device"):
        perf.run_perf(perf.PerfConfig(device="cuda"))
