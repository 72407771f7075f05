"""Ground truth: the shared NB201 table, the NATS-tss fixture, a planted official .pth, planted tables."""

from __future__ import annotations

import bz2
import itertools
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from nas_201_api import ArchResults, NASBench201API, ResultsCount

from benchmark.errors import NasBenchError
from benchmark.groundtruth import (
    REPORTED,
    TableGroundTruth,
    build_table,
    default_groundtruth,
    default_metric,
    load_groundtruth,
)
from benchmark.groundtruth.official import trust_pickle
from benchmark.metrics.ranking import non_isomorphic
from benchmark.paths import data_root
from benchmark.spaces.nb201 import (
    EXAMPLE,
    GT_TABLE,
    NUM_ARCHS,
    OPS,
    all_arch_strings,
    nb201_space,
    parse_arch,
)

NATS = Path("nats-fixture/NATS-tss-v1_0-3ffb9-simple")
FIXTURE_INDICES = (0, 11, 284)


def _shared(sub: Path) -> Path:
    try:
        root = data_root()
    except NasBenchError:
        pytest.skip("no shared data root")
    if not (root / sub).exists():
        pytest.skip(f"shared data has no {sub}")
    return root / sub


@pytest.fixture(scope="module")
def table_gt():
    return load_groundtruth(_shared(GT_TABLE))


@pytest.fixture(scope="module")
def nats_gt():
    return load_groundtruth(_shared(NATS))


# ------------------------------------------------------------------------------------ the shared table
def test_table_known_architectures(table_gt):
    t = table_gt.table()
    assert len(t) == NUM_ARCHS and list(t.columns[:8]) == ["index", "arch", *REPORTED]
    assert {"cifar10/params", "cifar10/flops", "unique_str"} <= set(t.columns)
    best = t.loc[t["cifar10-valid/x-valid"].idxmax()]
    assert best["index"] == 6111 and t.loc[t["cifar10/ori-test"].idxmax(), "index"] == 6111
    assert table_gt.accuracy(best["arch"], "cifar10-valid", "x-valid") == pytest.approx(91.6067, abs=1e-4)
    assert table_gt.accuracy(best["arch"], "cifar10", "ori-test") == pytest.approx(94.3733, abs=1e-4)
    assert table_gt.index_of(EXAMPLE) == 11472  # the ResNet-like cell
    resnet = table_gt.accuracy(EXAMPLE, "cifar10", "ori-test")
    assert resnet == pytest.approx(93.91, abs=0.01)
    assert table_gt.accuracy(parse_arch(EXAMPLE), "cifar10", "ori-test") == resnet


def test_table_metric_names_and_defaults(table_gt):
    arch = table_gt.table()["arch"][6111]
    assert default_metric("cifar10") == "cifar10-valid/x-valid"
    assert table_gt.accuracy(arch, "cifar10") == table_gt.accuracy(arch, "cifar10-valid", "x-valid")
    assert table_gt.accuracy(arch, "ImageNet16-120", "x-test") == table_gt.accuracy(arch, "imagenet16-120",
                                                                                     "x-test")
    assert list(table_gt.reported_accuracies(arch, "cifar100")) == ["cifar100/x-valid", "cifar100/x-test"]
    assert list(table_gt.table3_row(arch)) == list(REPORTED)
    with pytest.raises(NasBenchError, match="no NB201 reporting metric"):
        table_gt.accuracy(arch, "cifar10", "x-valid")  # the cifar10 (50k) setting has no validation split
    with pytest.raises(NasBenchError, match="unknown training dataset"):
        default_metric("mnist")
    with pytest.raises(NasBenchError, match="seed means only"):
        table_gt.accuracy(arch, "cifar10", "ori-test", seed=777)


def test_table_accuracies_follow_input_order(table_gt):
    t = table_gt.table()
    archs = list(t["arch"][::-1][:50])
    values = table_gt.accuracies(archs, "cifar100", "x-test")
    assert values.tolist() == t["cifar100/x-test"][::-1][:50].tolist()


def test_isomorphism_classes(table_gt):
    t = table_gt.table()
    kept = non_isomorphic(list(t["arch"]), dict(zip(t["arch"], t["unique_str"])))
    assert len(kept) == 6466 and kept[0] == t["arch"][0]


def test_operation_score_matches_direct_mean(table_gt):
    t = table_gt.table()
    # edge 3 is node 3 <- node 0: the first entry of the third node in the string
    on_edge3 = t["arch"].map(lambda s: s.split("+")[2].split("|")[1] == "nor_conv_3x3~0")
    expected = t.loc[on_edge3, "cifar10-valid/x-valid"].mean()
    score = table_gt.operation_score(3, "nor_conv_3x3", "cifar10-valid", "x-valid")
    assert score == pytest.approx(expected, rel=1e-12)
    scores = table_gt.operation_scores("cifar10")
    assert len(scores) == 30 and sorted(scores["rank"]) == list(range(1, 31))
    assert scores.loc[scores["rank"] == 1, ["edge", "op"]].values.tolist() == [[3, "nor_conv_3x3"]]


def test_cached_load_and_default(tmp_path):
    root = _shared(GT_TABLE).parents[1]
    first = load_groundtruth(root / GT_TABLE)
    assert load_groundtruth(root / GT_TABLE) is first
    assert default_groundtruth(root) is first and load_groundtruth(root) is first
    with pytest.raises(NasBenchError, match="nasbench gt build"):
        default_groundtruth(tmp_path)


# ------------------------------------------------------------------------------- planted tables
def _planted_table() -> tuple[pd.DataFrame, np.ndarray]:
    """All 15,625 cells with accuracy = sum over edges of w[edge, op] (additive, so scores are exact)."""
    w = np.random.default_rng(0).uniform(0, 10, size=(6, 5))
    archs = all_arch_strings()
    ops = np.array([[OPS.index(o) for o in parse_arch(a)] for a in archs])
    acc = w[np.arange(6), ops].sum(axis=1)
    df = pd.DataFrame({"index": np.arange(NUM_ARCHS), "arch": archs})
    for col in REPORTED.values():
        df[col] = acc
    return df, w


def test_operation_scores_planted():
    df, w = _planted_table()
    gt = TableGroundTruth(df)
    # mean over archs with op o on edge e = w[e, o] + sum over the other edges of their mean weight
    expected = w + (w.mean(axis=1).sum() - w.mean(axis=1))[:, None]
    for e, k in itertools.product(range(6), range(5)):
        assert gt.operation_score(e, OPS[k], "cifar100", "x-test") == pytest.approx(expected[e, k])
    order = np.argsort(-expected.ravel(), kind="stable")
    full = gt.operation_scores("cifar100")
    assert full.loc[order[0], "rank"] == 1 and full.loc[order[-1], "rank"] == 30
    space = nb201_space()
    space.remove(0, "none")
    space.remove(2, "avg_pool_3x3")
    shrunk = gt.operation_scores("cifar100", space=space)
    assert len(shrunk) == 28 and (0, "none") not in set(zip(shrunk["edge"], shrunk["op"]))
    full_ranks = full.set_index(["edge", "op"])["rank"].to_dict()
    alive = set(space.alive_pairs())
    expected_ranks = {k: v for k, v in full_ranks.items() if k in alive}
    assert shrunk.set_index(["edge", "op"])["rank"].to_dict() == expected_ranks


def test_operation_scores_need_all_architectures():
    df, _ = _planted_table()
    df.loc[5, "cifar10_valid"] = np.nan
    gt = TableGroundTruth(df)
    with pytest.raises(NasBenchError, match="all 15625"):
        gt.operation_scores("cifar10")
    with pytest.raises(NasBenchError, match="no ground truth for index 5"):
        gt.accuracy(df["arch"][5], "cifar10")


def test_table_refuses_bad_files(tmp_path):
    df, _ = _planted_table()
    df.drop(columns=["cifar10_test"]).head(10).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(NasBenchError, match="no column cifar10_test"):
        load_groundtruth(tmp_path / "missing.csv")
    (tmp_path / "garbage.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(NasBenchError, match="cannot read ground-truth table"):
        load_groundtruth(tmp_path / "garbage.csv.gz")
    bad = df.head(3).copy()
    bad.loc[1, "arch"] = "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    bad.to_csv(tmp_path / "bad_arch.csv", index=False)
    with pytest.raises(NasBenchError, match="unknown NB201 operation"):
        load_groundtruth(tmp_path / "bad_arch.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(NasBenchError, match="cannot tell what kind"):
        load_groundtruth(tmp_path / "x.json")
    with pytest.raises(NasBenchError, match="does not exist"):
        load_groundtruth(tmp_path / "absent.csv.gz")
    with pytest.raises(NasBenchError, match="neither a NATS-tss folder"):
        load_groundtruth(tmp_path)


def test_reload_after_file_changes(tmp_path):
    df, _ = _planted_table()
    path = tmp_path / "t.csv"
    df.head(4).to_csv(path, index=False)
    first = load_groundtruth(path)
    assert load_groundtruth(path) is first
    df.loc[0, "cifar10_valid"] = 1.25
    df.head(4).to_csv(path, index=False)
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    second = load_groundtruth(path)
    assert second is not first and second.accuracy(df["arch"][0], "cifar10") == 1.25


# ---------------------------------------------------------------------------------- NATS-tss fixture
def test_nats_fixture_records(nats_gt, table_gt):
    assert nats_gt.kind == "nats-tss" and nats_gt.recorded == frozenset(FIXTURE_INDICES)
    t = table_gt.table()
    for i in FIXTURE_INDICES:
        arch = t["arch"][i]
        for metric in REPORTED:
            # the shared table (NB201 v1_1 + NATS dumps) agrees with the NATS records to float noise here
            assert nats_gt.accuracy(arch, *metric.split("/")) == pytest.approx(t[metric][i], abs=1e-6)
    arch0 = t["arch"][0]
    seeds = nats_gt.seed_accuracies(arch0, "cifar10", "ori-test")
    assert seeds == pytest.approx({777: 85.62, 888: 86.18, 999: 85.79})
    assert nats_gt.accuracy(arch0, "cifar10", "ori-test") == pytest.approx(np.mean(list(seeds.values())))
    assert nats_gt.accuracy(arch0, "cifar10", "ori-test", seed=888) == seeds[888]
    with pytest.raises(NasBenchError, match="no seed 123"):
        nats_gt.accuracy(arch0, "cifar10", "ori-test", seed=123)
    with pytest.raises(NasBenchError, match="no ground truth for index 1 "):
        nats_gt.accuracy(t["arch"][1], "cifar10")
    with pytest.raises(NasBenchError, match="has 3"):
        nats_gt.operation_scores("cifar10")


def test_nats_matches_official_api_call(nats_gt):
    import nats_bench

    api = nats_bench.create(str(_shared(NATS)), "tss", fast_mode=True, verbose=False)
    info = api.get_more_info(11, "cifar100", hp="200", is_random=False)
    arch = api.arch(11)
    assert nats_gt.accuracy(arch, "cifar100", "x-test") == info["test-accuracy"]
    assert nats_gt.accuracy(arch, "cifar100", "x-valid") == info["valid-accuracy"]
    assert nats_gt.table()["unique_str"][11] == api.get_unique_str(11)


def test_nats_table_and_round_trip(nats_gt, tmp_path):
    t = nats_gt.table()
    assert len(t) == NUM_ARCHS and t["unique_str"].notna().all()
    assert t["cifar10-valid/x-valid"].notna().sum() == 3
    assert t["cifar10/flops"][11] == pytest.approx(113.95137)
    out = build_table(_shared(NATS), tmp_path / "nats.csv.gz")
    shared_columns = list(pd.read_csv(_shared(GT_TABLE), nrows=1).columns)
    assert list(pd.read_csv(out, nrows=1).columns) == shared_columns
    built = load_groundtruth(out)
    assert built.kind == "table"
    for i in FIXTURE_INDICES:
        arch = t["arch"][i]
        for metric in REPORTED:
            assert built.accuracy(arch, *metric.split("/")) == nats_gt.accuracy(arch, *metric.split("/"))
    recorded = t.loc[sorted(FIXTURE_INDICES)].reset_index(drop=True)  # a partial source: its records only
    pd.testing.assert_frame_equal(built.table(), recorded)
    again = build_table(_shared(NATS), tmp_path / "again.csv.gz")
    assert again.read_bytes() == out.read_bytes()
    with pytest.raises(NasBenchError, match="already a compact table"):
        build_table(out, tmp_path / "x.csv.gz")
    with pytest.raises(NasBenchError, match="FILE.csv.gz"):
        build_table(_shared(NATS), tmp_path / "x.parquet")


def test_nats_refuses_size_space_and_single_file(tmp_path):
    sss = tmp_path / "NATS-sss-v1_0-50262-simple"
    sss.mkdir()
    with bz2.open(sss / "meta.pickle.pbz2", "wb") as f:
        pickle.dump({"meta_archs": ["8:8:8:8:8", "16:8:8:8:8"], "evaluated_indexes": []}, f)
    with pytest.raises(NasBenchError, match=r"size-space \(sss\)"):
        load_groundtruth(sss)
    (tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2").write_bytes(b"")
    with pytest.raises(NasBenchError, match="single-file NATS-Bench"):
        load_groundtruth(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")


# --------------------------------------------------------------------- a planted official NB201 .pth
SEEDS = {7: (777, 888, 999), 42: (777, 888)}
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}


def _planted_acc(index: int, dataset: str, split: str, seed: int) -> float:
    return 40 + index / 10 + 5 * list(EVAL_SETS).index(dataset) + len(split) / 10 + (seed - 777) / 37


def _arch_results(index: int, arch: str, flops: float) -> dict:
    """The state dict of an official ArchResults with one-epoch runs of planted accuracies."""
    results = ArchResults(index, arch)
    for dataset, sets in EVAL_SETS.items():
        for seed in SEEDS[index]:
            # numpy scalars as in the official files (a weights-only torch.load would reject them)
            run = ResultsCount(dataset, None, {0: _planted_acc(index, dataset, "train", seed)}, {0: 1.0},
                               np.float64(0.5 + index), flops, {"arch_str": arch}, seed, 1,
                               [np.float64(0.01)])
            accs = {f"{s}@0": _planted_acc(index, dataset, s, seed) for s in sets}
            run.update_eval(accs, {k: 1.0 for k in accs}, {k: 2.0 for k in accs})
            results.update(dataset, seed, run)
    return results.state_dict()


@pytest.fixture(scope="module")
def planted_pth(tmp_path_factory) -> tuple[Path, dict]:
    archs = all_arch_strings()
    # the 200-epoch ('full') records carry wrong FLOPs, as some official ones do (NATS-Bench#36)
    data = {"meta_archs": archs, "evaluated_indexes": sorted(SEEDS),
            "arch2infos": {i: {"less": _arch_results(i, archs[i], 1.5),
                               "full": _arch_results(i, archs[i], 0.64)} for i in SEEDS}}
    path = tmp_path_factory.mktemp("pth") / "NAS-Bench-201-v1_1-planted.pth"
    torch.save(data, path)
    trust_pickle(path)  # as `--gt PATH.pth` does: only an explicitly named .pth is unpickled
    return path, data


def test_official_pth(planted_pth, tmp_path):
    path, data = planted_pth
    with pytest.warns(UserWarning, match="many GB of memory"):
        gt = load_groundtruth(path)
    assert gt.kind == "nb201-pth" and gt.recorded == frozenset(SEEDS)
    arch7, arch42 = data["meta_archs"][7], data["meta_archs"][42]
    expected = np.mean([_planted_acc(7, "cifar10-valid", "x-valid", s) for s in SEEDS[7]])
    assert gt.accuracy(arch7, "cifar10-valid", "x-valid") == pytest.approx(expected)
    seed999 = _planted_acc(7, "ImageNet16-120", "x-test", 999)
    assert gt.accuracy(arch7, "imagenet16-120", "x-test", seed=999) == seed999
    assert set(gt.seed_accuracies(arch42, "cifar100", "x-test")) == {777, 888}
    api = NASBench201API(data, verbose=False)  # the official API on the same dict
    for index, arch in ((7, arch7), (42, arch42)):
        info = api.get_more_info(index, "cifar100", hp="200", is_random=False)
        assert gt.accuracy(arch, "cifar100", "x-test") == pytest.approx(info["test-accuracy"], rel=1e-12)
        assert gt.accuracy(arch, "cifar100", "x-valid") == pytest.approx(info["valid-accuracy"], rel=1e-12)
    t = gt.table()
    assert t["cifar10/flops"][7] == 1.5 and t["cifar100/params"][42] == 42.5
    assert t["cifar10-valid/x-valid"].notna().sum() == 2
    with pytest.raises(NasBenchError, match="no ground truth for index 0 "):
        gt.accuracy(data["meta_archs"][0], "cifar10")
    built = load_groundtruth(build_table(path, tmp_path / "pth.csv"))
    assert built.accuracy(arch42, "cifar10", "ori-test") == gt.accuracy(arch42, "cifar10", "ori-test")
    assert "cifar100_test_nats" not in built.compact()  # NATS-release columns only come from NATS sources


def test_official_pth_refusals(tmp_path):
    for name in ("text.pth", "keys.pth", "few.pth"):
        trust_pickle(tmp_path / name)
    (tmp_path / "text.pth").write_text("not a pickle")
    with pytest.warns(UserWarning), pytest.raises(NasBenchError, match="is not a NAS-Bench-201 .pth"):
        load_groundtruth(tmp_path / "text.pth")
    torch.save({"meta_archs": []}, tmp_path / "keys.pth")
    with pytest.warns(UserWarning), pytest.raises(NasBenchError, match=re.escape("found ['meta_archs']")):
        load_groundtruth(tmp_path / "keys.pth")
    torch.save({"meta_archs": ["|none~0|"], "arch2infos": {}, "evaluated_indexes": []}, tmp_path / "few.pth")
    with pytest.warns(UserWarning), pytest.raises(NasBenchError, match="expected 15625"):
        load_groundtruth(tmp_path / "few.pth")
