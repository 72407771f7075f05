"""The paper preset on a CPU warns, before anything starts, how long it would take and how that was estimated
(benchmark.cpu_estimate); nothing here trains a paper run."""

from __future__ import annotations

import re
import time

import pytest

from benchmark import cpu_estimate
from benchmark.cpu_estimate import Rates, measure_rates, oneshot_workload, paper_warning, standalone_workload
from benchmark.presets import PRESETS
from benchmark.resumable import ResumableRun
from benchmark.standalone import STANDALONE_PRESETS
from tests.conftest import nasbench


class WouldTrain(Exception):
    """The command got past its warning and would start training now."""


def _would_train(self):
    raise WouldTrain


def test_paper_workloads_count_the_papers_images():
    p = PRESETS["paper"]  # 2 x 20 epochs on 45,000 images, batch 256; 8 tau epochs; 20 x 256 + 5,000 per arch
    spos = oneshot_workload(p, "cifar10", "spos")
    assert spos.train_images == 40 * (45_000 // 256) * 256
    assert (spos.rankings, spos.archs) == (8, 15_625) and spos.eval_images == 8 * 15_625 * (20 * 256 + 5_000)
    senas = oneshot_workload(p, "cifar10", "senas")  # only the first stage's rankings surely cover it all
    assert senas.rankings == 4 and senas.eval_images == spos.eval_images // 2
    assert oneshot_workload(PRESETS["tiny"], "cifar10", "spos").train_images == 4 * (2_560 // 128) * 128
    solo = standalone_workload(STANDALONE_PRESETS["paper"], "cifar100")  # NB201: 200 epochs on 50,000 images
    assert solo.train_images == 200 * (50_000 // 256) * 256 and solo.eval_images == 10_000
    solo = standalone_workload(STANDALONE_PRESETS["paper"], "cifar10")  # cifar10-valid: 25,000 + 25,000
    assert solo.train_images == 200 * (25_000 // 256) * 256 and solo.eval_images == 25_000 + 10_000


def test_the_warning_gives_the_total_and_how_it_was_estimated():
    rates = Rates(train_s=0.01, eval_s=0.002, how="a planted measurement")
    work = oneshot_workload(PRESETS["paper"], "cifar10", "spos")
    head, how = paper_warning([work, work], rates, "--preset tiny")
    total = 2 * (work.train_images * 0.01 + work.eval_images * 0.002)
    assert head.startswith(f"warning: the paper preset on a CPU takes at least {total // 86400:.0f}d")
    assert "for these 2 runs -- run it on a GPU (--device cuda), or use --preset tiny" in head
    assert f"{2 * work.train_images:,} training images x 10.00 ms" in how
    assert "16 rankings of up to 15,625 architectures" in how and "from a planted measurement" in how


def test_the_measurement_takes_seconds(one_thread):
    t0 = time.perf_counter()
    rates = measure_rates(16, 5, 1)
    assert time.perf_counter() - t0 < 20  # a few seconds on 2 shared cores
    assert 0 < rates.eval_s < rates.train_s < 1 and "C=16, N=5" in rates.how and "1 thread" in rates.how


@pytest.mark.parametrize("command", [["run", "spos"], ["train-standalone", "0"]])
def test_paper_on_cpu_warns_before_it_starts(monkeypatch, capsys, tmp_path, root, command):
    monkeypatch.setattr(ResumableRun, "run", _would_train)
    monkeypatch.setattr(cpu_estimate, "measure_rates", lambda C, N, t: Rates(1e-3, 1e-4, f"C={C} N={N}"))
    out = ["--out", tmp_path / "r"]
    with pytest.raises(WouldTrain):
        nasbench(monkeypatch, capsys, *command, "--preset", "paper", "--device", "cpu", *out)
    err = capsys.readouterr().err
    assert re.search(r"^warning: the paper preset on a CPU takes at least \S+ for this run -- run it on a "
                     r"GPU", err, re.M), err
    assert "estimated: " in err and "C=16 N=5" in err
    for preset in ("tiny", "paper"):  # a CPU preset, or a GPU: no warning
        device = "cpu" if preset == "tiny" else "cuda"
        monkeypatch.setattr(cpu_estimate, "on_cpu", lambda d: d == "cpu")
        with pytest.raises(WouldTrain):
            nasbench(monkeypatch, capsys, *command, "--preset", preset, "--device", device, *out)
        assert "warning" not in capsys.readouterr().err


def test_a_paper_search_of_a_space_without_an_estimate_warns_on_cpu(monkeypatch, capsys, tmp_path, root):
    monkeypatch.setattr(ResumableRun, "run", _would_train)
    for device, warned in (("cpu", True), ("cuda", False)):
        monkeypatch.setattr(cpu_estimate, "on_cpu", lambda d: d == "cpu")
        with pytest.raises(WouldTrain):
            nasbench(monkeypatch, capsys, "run", "senas", "--space", "darts", "--preset", "paper", "--device", device,
                     "--out", tmp_path / device)
        err = capsys.readouterr().err
        assert ("warning: the paper preset of senas on darts is a GPU setting" in err) is warned, err
        assert "--preset tiny" in err or not warned


def test_compare_and_sweep_with_the_paper_preset_on_cpu_warn_for_all_their_runs(monkeypatch, capsys, tmp_path,
                                                                               root):
    import yaml

    from benchmark.errors import NasBenchError
    from benchmark.harness import sweep

    def not_run(config, results, **kw):
        raise NasBenchError("not run")

    monkeypatch.setattr(sweep, "sweep", not_run)
    monkeypatch.setattr(cpu_estimate, "measure_rates", lambda C, N, threads: Rates(1e-3, 1e-4, "planted"))
    code, _, err = nasbench(monkeypatch, capsys, "compare", "--preset", "paper", "--device", "cpu",
                            "--seeds", "2", "--out", tmp_path / "cmp")
    assert code == 2 and "for these 6 runs" in err and err.index("warning:") < err.index("error: not run")
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({"methods": ["spos", "senas"], "presets": ["tiny", "paper"], "seeds": 3,
                                      "device": "cpu"}))
    code, _, err = nasbench(monkeypatch, capsys, "sweep", config, "--out", tmp_path / "results")
    assert code == 2 and "for these 6 runs" in err and "error: not run" in err  # the 6 tiny runs: no time
