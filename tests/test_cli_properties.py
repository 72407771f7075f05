"""Property-based tests of the command line (hypothesis): whatever architecture string, index, ``--set`` value
or sweep config a user types, ``nasbench`` either succeeds or exits with code 2 and one ``error:`` line,
and a refused command writes nothing. Commands run in-process (``benchmark.cli.main``) and never train:
``nasbench run`` stops where training would start (``ResumableRun.run`` is replaced by a probe that records
the configuration it was given), and sweeps run with ``--dry-run``."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import tempfile
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from benchmark.cli import main
from benchmark.presets import Preset
from benchmark.resumable import ResumableRun
from benchmark.settings import RANGES
from benchmark.spaces.nb201 import NUM_ARCHS, OPS

set_hypothesis_home_dir(tempfile.mkdtemp(prefix="nasbench-hypothesis-"))  # not .hypothesis/ in the checkout
SETTINGS = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FIELDS = [f.name for f in dataclasses.fields(Preset) if f.name != "name"]


class WouldTrain(Exception):
    """``nasbench run`` accepted its input and would start training now."""

    def __init__(self, cfg):
        self.cfg = cfg


def _probe(self):
    raise WouldTrain(self.cfg)


def nasbench(*args: str) -> tuple[int | str, str, str, list[str]]:
    """Run ``nasbench ARGS`` in a fresh empty working directory: exit code ('train' where a run would start
    training), stdout, stderr, and the files left in the working directory."""
    out, err = StringIO(), StringIO()
    with tempfile.TemporaryDirectory() as work, contextlib.chdir(work), \
            mock.patch.object(sys, "argv", ["nasbench", *args]), mock.patch.object(ResumableRun, "run", _probe), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code: int | str = 0
        except SystemExit as e:
            code = e.code or 0
        except WouldTrain as e:
            code = "train"
            _check_accepted(e.cfg)
        left = sorted(str(p.relative_to(work)) for p in Path(work).rglob("*"))
    return code, out.getvalue(), err.getvalue(), left


def _check_accepted(cfg) -> None:
    """A configuration that reaches training holds finite numbers only, each within its allowed range."""
    for f in dataclasses.fields(cfg.preset):
        value = getattr(cfg.preset, f.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, float):
                assert math.isfinite(item), (f.name, item)
                if f.name in RANGES:
                    assert item in RANGES[f.name], (f.name, item)


def assert_refused_or_ok(code, err: str, left: list[str], written: tuple[str, ...] = ()) -> None:
    """Exit 0 (or would train), or exit 2 with exactly one ``error: problem -- fix`` line and nothing written."""
    if code in (0, "train"):
        assert all(name.split(os.sep)[0] in written for name in left), left
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and " -- " in lines[0], err
    assert all(name.split(os.sep)[0] in written for name in left), left


# ---------------------------------------------------------------------------------------- strategies
ops = st.one_of(st.sampled_from(OPS), st.text(min_size=0, max_size=12))
cell = st.builds(lambda a, b, c, d, e, f, sep: f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|".replace("~", sep),
                 ops, ops, ops, ops, ops, ops, st.sampled_from(["~", "~", "-", ""]))
arch_strings = st.one_of(cell, st.text(max_size=60), st.from_regex(r"-?[0-9²³٣]{1,8}", fullmatch=True))
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20))
text_values = st.one_of(numbers.map(str), st.floats(-2, 2).map(str),
                        st.sampled_from(["nan", "inf", "-inf", "NaN", "1e999", "-0", "0", "1", "true", "none", "",
                                         "1,2", "0x10", "1_000"]),
                        st.text(max_size=10))
FLOATS = [f.name for f in dataclasses.fields(Preset) if f.type in ("float", float)]
keys = st.one_of(st.sampled_from(FLOATS), st.sampled_from(FLOATS), st.sampled_from(FIELDS), st.text(max_size=10))


@pytest.fixture(scope="module", autouse=True)
def _data(root):
    """Every property here needs the shared data (index and ground-truth table)."""


@SETTINGS
@given(arch=arch_strings)
def test_any_architecture_string(arch):
    code, out, err, left = nasbench("arch", "info", arch, "--json")
    assert_refused_or_ok(code, err, left)
    if code == 0 and not arch.startswith("-"):
        assert '"index"' in out


@SETTINGS
@given(index=st.one_of(st.integers(-10**6, 10**30), st.integers(-5, NUM_ARCHS + 5)))
def test_any_index(index):
    code, _, err, left = nasbench("arch", "info", str(index), "--json")
    assert_refused_or_ok(code, err, left)
    assert (code == 0) == (0 <= index < NUM_ARCHS), (index, err)


@SETTINGS
@given(pairs=st.lists(st.tuples(keys, text_values), min_size=1, max_size=2))
def test_any_set_value_is_refused_or_reaches_training_finite(pairs):
    sets = [a for k, v in pairs for a in ("--set", f"{k}={v}")]
    code, _, err, left = nasbench("run", "spos", *sets, "--out", "run", "--quiet")
    assert_refused_or_ok(code, err, left)


@SETTINGS
@given(seed=st.one_of(st.integers(-10**25, 10**25), st.sampled_from([-1, 2**63 - 1, 2**63, 2**64])),
       device=st.one_of(st.sampled_from(["cpu", "auto", "tpu", "cuda:x", "CPU", ""]), st.text(max_size=6)))
def test_any_seed_and_device(seed, device):
    code, _, err, left = nasbench("run", "spos", "--seed", str(seed), "--device", device, "--out", "run")
    assert_refused_or_ok(code, err, left)
    if not 0 <= seed < 2**63:
        assert code == 2 and "--seed" in err


yaml_values = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=8),
                        st.lists(st.integers(-3, 5), max_size=3))
sweep_configs = st.fixed_dictionaries(
    {"methods": st.one_of(st.lists(st.sampled_from(["spos", "senas"]), min_size=1, max_size=2),
                          st.lists(st.sampled_from(["spos", "senas", "bsnas", "darts", "standalone"]), max_size=2),
                          st.text(max_size=5))},
    optional={
        "name": st.one_of(st.text(max_size=12), st.sampled_from(["../../x", "/abs", "..", "ok_name", "a/b"])),
        "seeds": st.one_of(st.integers(-2, 4), st.sampled_from([10**9, 2**63, -1]),
                           st.lists(st.one_of(st.integers(-2, 9), st.sampled_from([2**63, 2**64])), max_size=3)),
        "set": st.dictionaries(keys, yaml_values, max_size=2),
        "presets": st.lists(st.sampled_from(["tiny", "paper", "huge"]), min_size=1, max_size=2),
        "device": st.sampled_from(["cpu", "auto", "tpu", "cuda:0", 3]),
        "datasets": st.lists(st.sampled_from(["cifar10", "cifar100", "mnist"]), min_size=1, max_size=2),
    })


@SETTINGS
@given(config=sweep_configs)
def test_any_sweep_config_dry_run(config):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(config, f)
    try:
        code, _, err, left = nasbench("sweep", f.name, "--dry-run")
    finally:
        os.unlink(f.name)
    assert_refused_or_ok(code, err, left)


seeds_texts = st.one_of(st.integers(-3, 10**5).map(str), st.text(max_size=12),
                        st.lists(st.one_of(st.integers(-2, 2**64).map(str), st.text(max_size=3)), max_size=4)
                        .map(",".join))


@SETTINGS
@given(text=seeds_texts)
def test_any_seeds_value_is_seeds_or_one_line_naming_both_forms(text):
    from benchmark.cli_options import parse_seeds
    from benchmark.errors import NasBenchError
    from benchmark.inputs import MAX_SEED

    try:
        seeds = parse_seeds(text)
    except NasBenchError as e:
        assert "\n" not in str(e) and " -- " in str(e) and "--seeds" in str(e)
        return
    assert seeds and len(set(seeds)) == len(seeds) and all(0 <= s <= MAX_SEED for s in seeds)
    if text.strip().isascii() and text.strip().isdigit():
        assert seeds == tuple(range(int(text)))
