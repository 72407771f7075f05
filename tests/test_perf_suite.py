"""``nasbench perf-suite`` plumbing on CPU (``--smoke``): steps report what the summary needs, a failing or
slow step is recorded without losing the others, and the timing data has the official CIFAR-10 layout.
Speed itself is never asserted here: speed is measured by the command, not by tests."""

from __future__ import annotations

import json

import pytest
import torch

from benchmark import perf_suite
from benchmark.data.cifar import load_cifar10
from benchmark.errors import NasBenchError
from benchmark.perf_suite import FULL_SPACE, SuiteConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def test_eval_space_step_tries_group_sizes_and_projects_the_full_space(tmp_path):
    r = perf_suite.step_eval_space(SuiteConfig(out=tmp_path, device="cpu", smoke=True))
    assert set(r["archs_per_s_by_group"]) == {"1", "2"} and r["best_group"] in (1, 2)
    assert r["archs_evaluated"] == 8 and not r["full_space_measured"]
    assert r["full_space_s"] == pytest.approx(FULL_SPACE / r["archs_per_s"])
    assert r["archs_per_s"] == pytest.approx(r["archs_evaluated"] / r["seconds"])


def test_timing_data_has_the_official_layout(tmp_path):
    perf_suite.write_timing_cifar10(tmp_path / "cifar10", per_batch=20)
    raw = load_cifar10(tmp_path)
    assert raw.train_x.shape == (100, 3, 32, 32) and raw.test_x.shape == (20, 3, 32, 32)
    assert int(raw.train_y.max()) <= 9


def test_senas_step_over_its_budget_is_recorded_as_unfinished(tmp_path):
    cfg = SuiteConfig(out=tmp_path, device="cpu", smoke=True, senas_budget_s=0.5)
    r = perf_suite.step_senas_paper(cfg)
    assert r["finished"] is False and "did not finish within" in r["note"]
    assert r["timing_data"] is True  # the shared data holds one CIFAR-10 training batch, not five
    assert not (tmp_path / "timing-data").exists()  # written to a temporary folder, not into --out


def test_a_failing_step_is_recorded_and_the_rest_still_run(tmp_path, monkeypatch):
    def broken(cfg):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(perf_suite, "STEPS", {
        "perf": lambda cfg: {"ratios": {"train_vs_xautodl": 3.5, "train_vs_compiled": 1.1,
                                        "eval_vs_compiled": 0.9}, "train_memory_mib": 5000.0},
        "eval_space": broken,
        "senas_paper": lambda cfg: {"finished": True, "seconds": 420.0, "note": "timing data"}})
    suite = perf_suite.run_suite(SuiteConfig(out=tmp_path, device="cpu", smoke=True))
    assert json.loads((tmp_path / "suite.json").read_text())["steps"]["eval_space"]["ok"] is False
    summary = (tmp_path / "summary.md").read_text()
    assert "| 3.50x | 3.00x | yes |" in summary  # training ratio met
    assert "| 5000 | 4096 | no |" in summary  # memory over the target
    assert "not measured" in summary and "step `eval_space` failed: RuntimeError: out of memory" in summary
    assert "| 420 | 600 | yes |" in summary and "toolkit/compiled = 1.10x" in summary
    assert suite["steps"]["senas_paper"]["ok"]


def test_only_runs_the_named_steps_and_refuses_unknown_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(perf_suite, "STEPS", {"perf": lambda cfg: {"ratios": {}},
                                              "mobilenet": lambda cfg: {"supernet_vs_mobilenetv2": 0.5}})
    suite = perf_suite.run_suite(SuiteConfig(out=tmp_path, device="cpu", smoke=True, only=("mobilenet",)))
    assert set(suite["steps"]) == {"mobilenet"}
    with pytest.raises(NasBenchError, match="unknown perf-suite step"):
        perf_suite.run_suite(SuiteConfig(out=tmp_path, device="cpu", only=("train",)))


def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(NasBenchError, match="no CUDA device"):
        perf_suite.run_suite(SuiteConfig(out=tmp_path))
