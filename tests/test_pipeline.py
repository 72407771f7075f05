"""End to end on real CIFAR-10 and the real NB201 ground truth: SPOS and SE-NAS runs, resume, outputs."""

import json

import pandas as pd
import pytest

from benchmark.errors import NasBenchError
from benchmark.methods.base import RunConfig
from benchmark.methods.registry import METHODS
from benchmark.presets import get_preset
from tests.conftest import FAST, kill_at_epoch, same


def _cfg(method: str, **kw) -> RunConfig:
    overrides = {**FAST, **kw.pop("overrides", {})}
    return RunConfig(method=method, dataset="cifar10", preset=get_preset("tiny", overrides), seed=0,
                     device="cpu", **kw)


def _run(method, out, **kw):
    return METHODS.get(method).oneshot(_cfg(method, **kw), out, progress=False, log=lambda s: None).run()


@pytest.mark.slow
@pytest.mark.parametrize("method,criterion", [("spos", "senas"), ("senas", "senas"), ("senas", "magnitude")])
def test_run_writes_every_output(tmp_path, root, method, criterion):
    result = _run(method, tmp_path, criterion=criterion)
    for name in ("result.json", "ranking.parquet", "tau_curve.parquet", "operators.parquet"):
        assert (tmp_path / name).exists(), name
    assert -1.0 <= result["tau"] <= 1.0
    assert result["groundtruth"]["metric"] == "cifar10-valid/x-valid"
    assert set(result["best_gt"]) >= {"cifar10/ori-test", "cifar100/x-test", "imagenet16-120/x-test"}
    assert "not comparable with the paper" in result["scale"] and "max_train" in result["scale"]
    ranking = pd.read_parquet(tmp_path / "ranking.parquet")
    assert list(ranking.columns) == ["arch", "supernet_acc", "gt_acc", "params"]
    assert ranking.gt_acc.between(0, 100).all() and len(ranking) == result["n_ranked"]
    assert (ranking.params > 0).all()
    assert result["precision"]["val_images"] == 64 and set(result["diagnostics"]) >= {"tau_within_conv"}
    curve = pd.read_parquet(tmp_path / "tau_curve.parquet")
    assert list(curve.epoch) == [1, 2]
    ops = pd.read_parquet(tmp_path / "operators.parquet")
    if method == "senas":
        assert len(ops[ops.removed]) == 20  # k = 10 per stage x 2 stages
        assert sorted(ops.gt_rank.unique())[0] == 1 and ops.gt_rank.max() <= 30
        assert result["final_space_size"] < 15625
        assert all(len(v) >= 1 for v in result["alive"].values())
    else:
        assert ops.empty and result["final_space_size"] == 15625
    assert set(result["timings_s"]) == {"train_s", "score_s", "rank_s", "total_s"}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["spos", "senas"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, root, method, monkeypatch):
    whole = _run(method, tmp_path / "whole")
    kill_at_epoch(monkeypatch, METHODS.get(method).oneshot, 2)
    with pytest.raises(KeyboardInterrupt):
        _run(method, tmp_path / "resumed")
    assert (tmp_path / "resumed/checkpoint.pt").exists() and not (tmp_path / "resumed/result.json").exists()
    monkeypatch.undo()
    resumed = _run(method, tmp_path / "resumed")
    for key in ("tau", "spearman", "best_arch", "alive", "tau_curve", "final_space_size"):
        assert same(resumed[key], whole[key]), key
    a = pd.read_parquet(tmp_path / "whole/ranking.parquet")
    b = pd.read_parquet(tmp_path / "resumed/ranking.parquet")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_same_seed_same_result_and_no_expand_ablation(tmp_path, root):
    a = _run("senas", tmp_path / "a")
    b = _run("senas", tmp_path / "b")
    assert same(a["tau"], b["tau"]) and a["best_arch"] == b["best_arch"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a/ranking.parquet"),
                                  pd.read_parquet(tmp_path / "b/ranking.parquet"))
    c = _run("senas", tmp_path / "c", expand=False)
    assert c["child_spaces"] == [] and a["child_spaces"]
    # stage 1 is identical with or without expanding: expanding only acts after the first shrink
    ops_a = pd.read_parquet(tmp_path / "a/operators.parquet")
    ops_c = pd.read_parquet(tmp_path / "c/operators.parquet")
    pd.testing.assert_frame_equal(ops_a[ops_a.stage == 1], ops_c[ops_c.stage == 1])


def test_finished_run_is_not_redone(tmp_path, root):
    written = {"tau": 0.5, "config": _cfg("spos").identity()}
    (tmp_path / "result.json").write_text(json.dumps(written))
    assert _run("spos", tmp_path) == written


def test_checkpoint_of_another_config_is_refused(tmp_path, root, monkeypatch):
    cls = METHODS.get("spos").oneshot
    monkeypatch.setattr(cls, "run_epoch", lambda self, e, t: (_ for _ in ()).throw(KeyboardInterrupt())
                        if e == 2 else None)  # the run itself writes the checkpoint of epoch 1
    with pytest.raises(KeyboardInterrupt):
        _run("spos", tmp_path)
    monkeypatch.undo()
    with pytest.raises(NasBenchError, match="different configuration"):
        _run("spos", tmp_path, overrides={"lr": "0.2"})


def test_corrupt_checkpoint_is_reported(tmp_path, root):
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(NasBenchError, match="no recorded SHA-256"):
        _run("spos", tmp_path)


@pytest.mark.parametrize("method,kw,match", [
    ("senas", {"overrides": {"remove_per_stage": "13"}}, "exceeds"),
    ("senas", {"criterion": "oracle"}, "unknown criterion"),
    ("senas", {"normalization": "zscore"}, "unknown normalization"),
    ("senas", {"criterion": "accuracy", "normalization": "range"}, "criterion 'accuracy' takes no normalization"),
])
def test_impossible_settings_fail_before_training(tmp_path, root, method, kw, match):
    with pytest.raises(NasBenchError, match=match):
        _run(method, tmp_path, **kw)
    assert not (tmp_path / "checkpoint.pt").exists()
