"""The DARTS relaxation of the alive NB201 space and the ``magnitude`` criterion (DARTS Eq. 2, first order).

Planted tasks on tiny synthetic images, same pair of operations {skip_connect, avg_pool_3x3} on every
edge, with the better operation flipped between tasks:

* ``phase``: the label is the phase of a pixel checkerboard under a strong smooth nuisance. A 3x3
  average divides the checkerboard by 9 and keeps the nuisance, so ``skip_connect`` is better.
* ``halves``: the label is which half of the image is brighter under a checkerboard of random
  amplitude. The average removes the checkerboard and keeps the halves, so ``avg_pool_3x3`` is better.
"""

from __future__ import annotations

import dataclasses
import io
import random

import pandas as pd
import pytest
import torch

from benchmark.criteria import CriterionContext, create_criterion
from benchmark.errors import NasBenchError
from benchmark.models import NB201Supernet
from benchmark.models.nb201_ops import Zero
from benchmark.models.nb201_relaxed import NB201MixedNetwork
from benchmark.presets import PRESETS
from benchmark.relaxation import DartsRelaxation, alive_softmax, require_relaxation
from benchmark.shrinking import shrink
from benchmark.spaces.base import SearchSpace
from benchmark.spaces.nb201 import EDGE_NAMES, OPS, nb201_space
from benchmark.training import cosine_lr

SIDE, C = 8, 4
PAIR = ("skip_connect", "avg_pool_3x3")


pytestmark = pytest.mark.usefixtures("one_thread")


def preset(epochs: int = 2):
    return dataclasses.replace(PRESETS["tiny"], stages=1, epochs_per_stage=epochs)


def checkerboard() -> torch.Tensor:
    i = torch.arange(SIDE)
    return ((i[:, None] + i[None, :]) % 2 * 2 - 1).float()


def planted(task: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    sign = (2 * y - 1).float()[:, None, None, None]
    if task == "phase":
        ramp = torch.linspace(-1, 1, SIDE)[None, None, :, None]
        nuisance = 2 * torch.randn(n, 3, 1, 1, generator=g) + 2 * torch.randn(n, 3, 1, 1, generator=g) * ramp
        return sign * 0.5 * checkerboard() + nuisance, y
    halves = torch.ones(SIDE, SIDE)
    halves[:, SIDE // 2:] = -1
    nuisance = 8 * torch.randn(n, 3, 1, 1, generator=g) * checkerboard()
    return sign * halves + nuisance + 0.5 * torch.randn(n, 3, SIDE, SIDE, generator=g), y


def batches(x: torch.Tensor, y: torch.Tensor, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def relaxation(space: SearchSpace, seed: int = 0, epochs: int = 2, num_classes: int = 2) -> DartsRelaxation:
    return DartsRelaxation(space, num_classes, C, 1, preset(epochs), "cpu", seed)


TRAIN = batches(*planted("phase", 64, 1), 16)
VAL = batches(*planted("phase", 32, 2), 16)


def train(r: DartsRelaxation, epochs: int = 1) -> list[dict]:
    return r.train_epochs(epochs, lambda epoch: TRAIN, lambda epoch: VAL)


def test_one_hot_mixture_is_the_single_path():
    torch.manual_seed(0)
    mixed = NB201MixedNetwork(num_classes=3, C=C, N=1)
    supernet = NB201Supernet(num_classes=3, C=C, N=1, bn_track=False)
    supernet.load_state_dict(mixed.state_dict())  # same layout: cells hold every op of every edge
    x = torch.randn(4, 3, SIDE, SIDE)
    rng = random.Random(0)
    for _ in range(3):
        arch = tuple(rng.choice(OPS) for _ in EDGE_NAMES)
        one_hot = [{op: float(op == chosen) for op in OPS} for chosen in arch]
        torch.testing.assert_close(mixed(x, one_hot), supernet(x, arch), rtol=0, atol=0)
        space = nb201_space()
        space.restrict([[op] for op in arch])  # softmax over one alive op is exactly 1
        torch.testing.assert_close(mixed(x, alive_softmax(torch.randn(6, 5), space)), supernet(x, arch),
                                   rtol=0, atol=0)


def test_softmax_is_over_alive_ops_and_removed_ops_never_run():
    space = nb201_space()
    space.restrict([OPS, ("none", "nor_conv_3x3"), ("skip_connect",), OPS, OPS,
                    ("nor_conv_1x1", "avg_pool_3x3")])
    alpha = torch.log(torch.arange(1.0, 31.0)).reshape(6, 5)  # exp(alpha[e, i]) = 5e + i + 1
    w = alive_softmax(alpha, space)
    assert [tuple(d) for d in w] == [tuple(a) for a in space.alive]
    assert float(w[1]["none"]) == pytest.approx(6 / (6 + 9))
    assert float(w[2]["skip_connect"]) == 1.0
    assert float(w[5]["avg_pool_3x3"]) == pytest.approx(30 / (28 + 30))

    r = relaxation(space)
    calls: list[str] = []
    for pos in r.network.cell_positions:
        for e, name in enumerate(EDGE_NAMES):
            for op, module in r.network.cells[pos].edges[name].items():
                if op not in space.alive[e] or isinstance(module, Zero):
                    module.register_forward_hook(lambda *_, key=f"{name}:{op}": calls.append(key))
    removed = [p for pos in r.network.cell_positions
               for p in r.network.cells[pos].edges[EDGE_NAMES[1]]["nor_conv_1x1"].parameters()]
    before = [p.detach().clone() for p in removed]
    train(r)
    assert calls == []  # neither removed operations nor `none` ever ran
    assert all(torch.equal(a, b) for a, b in zip(before, removed))  # removed weights untouched
    table = r.weights()
    assert list(zip(table.slot, table.op)) == space.alive_pairs()
    assert table.groupby("slot").weight.sum().to_numpy() == pytest.approx([1.0] * 6)


def test_steps_alternate_training_and_validation_batches_on_the_run_schedule():
    r = relaxation(nb201_space(), epochs=2)
    seen: list[torch.Tensor] = []
    r.network.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    epochs: list[tuple[str, int]] = []
    r.train_epochs(1, lambda epoch: epochs.append(("train", epoch)) or TRAIN,
                   lambda epoch: epochs.append(("val", epoch)) or VAL)
    assert epochs == [("train", 1), ("val", 1)]
    expected = [t for i, (x, _) in enumerate(TRAIN) for t in (x, VAL[i % len(VAL)][0])]  # val batches cycle
    assert len(seen) == len(expected) and all(a is b for a, b in zip(seen, expected))
    p = r.preset  # cosine over the whole run: 2 epochs x 4 steps, last step of epoch 1 is step 3
    assert r.w_optimizer.param_groups[0]["lr"] == pytest.approx(cosine_lr(3, 8, p.lr, p.lr_min))
    r.train_epochs(1, lambda epoch: epochs.append(("train", epoch)) or TRAIN,
                   lambda epoch: epochs.append(("val", epoch)) or VAL)
    assert epochs[2:] == [("train", 2), ("val", 2)] and r.epoch == 2


@pytest.mark.parametrize(("task", "better"), [("phase", "skip_connect"), ("halves", "avg_pool_3x3")])
def test_alpha_of_the_planted_better_op_grows(task, better):
    space = nb201_space()
    space.restrict([PAIR] * 6)
    r = relaxation(space, epochs=15)
    x, y = planted(task, 128, 1)
    xv, yv = planted(task, 64, 2)
    start = r.weights()
    r.train_epochs(15, lambda epoch: batches(x, y, 32), lambda epoch: batches(xv, yv, 32))
    end = r.weights()
    gain = (end.weight - start.weight)[end.op == better]
    assert (gain > 5e-4).all(), f"{better} did not gain weight on every edge: {gain.tolist()}"


def test_state_dict_round_trip_resumes_exactly():
    a = relaxation(nb201_space(), seed=0)
    train(a)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)  # as a checkpoint stores it
    buffer.seek(0)
    b = relaxation(nb201_space(), seed=1)
    b.load_state_dict(torch.load(buffer, weights_only=False))
    assert b.epoch == 1
    assert b.weights().equals(a.weights())
    train(a)
    train(b)
    assert b.weights().equals(a.weights())
    for (name, p), q in zip(a.network.state_dict().items(), b.network.state_dict().values()):
        assert torch.equal(p, q), name


def test_same_seed_same_result_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    runs = [relaxation(nb201_space(), seed=s) for s in (3, 3, 4)]
    assert torch.equal(torch.random.get_rng_state(), state)
    logs = [train(r) for r in runs]
    assert logs[0] == logs[1]
    assert runs[0].weights().equals(runs[1].weights())
    assert not runs[0].weights().equals(runs[2].weights())


def test_magnitude_scores_weights_and_keeps_training_after_shrink():
    space = nb201_space()
    r = relaxation(space, epochs=2)
    train(r)
    crit = create_criterion("magnitude")
    scores = crit.score(space, CriterionContext(relaxation=r))
    assert list(scores.columns) == ["slot", "op", "score", "alpha"]
    assert list(zip(scores.slot, scores.op)) == space.alive_pairs()
    assert scores.score.tolist() == r.weights().weight.tolist()
    assert scores.attrs["n_evaluations"] == 0
    pd.testing.assert_frame_equal(scores, crit.score(space, CriterionContext(relaxation=r)))
    record = shrink(space, scores, k=10)  # in place: the relaxation shares the space
    lowest = scores.sort_values(["score", "slot"], kind="stable").head(10)
    removed = record[record.removed]
    assert set(zip(removed.slot, removed.op)) == set(zip(lowest.slot, lowest.op))
    train(r)
    after = crit.score(space, CriterionContext(relaxation=r))
    assert list(zip(after.slot, after.op)) == space.alive_pairs()
    assert after.groupby("slot").score.sum().to_numpy() == pytest.approx([1.0] * 6)


def test_bad_input_is_one_line_error():
    other = SearchSpace("planted", ("e0", "e1"), (("a", "b"), ("a", "b")))
    crit = create_criterion("magnitude")
    with pytest.raises(NasBenchError, match="needs a DARTS relaxation of the space, and space 'planted' has"):
        crit.score(other, CriterionContext())
    with pytest.raises(NasBenchError, match="needs a DARTS relaxation of the space 'nb201' in its context"):
        crit.score(nb201_space(), CriterionContext())
    with pytest.raises(NasBenchError, match="'planted' has none"):
        require_relaxation("planted")
    require_relaxation("nb201")
    with pytest.raises(NasBenchError, match="not the NB201 edges"):
        relaxation(other)
    r = relaxation(nb201_space())
    with pytest.raises(NasBenchError, match="untrained DARTS relaxation"):
        crit.score(r.space, CriterionContext(relaxation=r))
    with pytest.raises(NasBenchError, match="needs validation batches"):
        r.train_epochs(1, lambda epoch: TRAIN, lambda epoch: [])
    with pytest.raises(NasBenchError, match="not the space this DARTS relaxation"):
        r.weights(other)
