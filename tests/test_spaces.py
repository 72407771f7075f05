"""NB201 space: parsing, printing, the official index order, and the generic alive-slot space."""

import random

import pytest

from benchmark.errors import NasBenchError
from benchmark.spaces import SPACES
from benchmark.spaces.nb201 import (
    EXAMPLE,
    NUM_ARCHS,
    NB201Index,
    all_arch_strings,
    format_arch,
    load_index,
    nb201_space,
    parse_arch,
)


def test_round_trip_every_string_and_index(root):
    index = load_index(root)
    strings = all_arch_strings()
    assert len(set(strings)) == NUM_ARCHS == 15625
    for s in strings:
        assert format_arch(parse_arch(s)) == s
        assert index.to_string(index.to_index(s)) == s
    assert sorted(index.to_index(s) for s in strings) == list(range(NUM_ARCHS))


def test_official_order_is_not_naive_enumeration(root):
    index = load_index(root)
    assert index.to_string(0) == ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
                                  "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    assert index.to_index(EXAMPLE) == 11472  # the ResNet-like cell
    assert index.strings != all_arch_strings()


def test_table_and_nats_metadata_agree(root):
    meta = root / "nats-fixture/NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2"
    if not meta.exists():
        pytest.skip("NATS fixture not present")
    assert NB201Index.from_nats_meta(meta).strings == load_index(root).strings


@pytest.mark.parametrize("bad", [
    "", "nor_conv_3x3~0", "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|",
    "|conv_7x7~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    "|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|",
])
def test_malformed_strings_give_one_line_errors(bad):
    with pytest.raises(NasBenchError) as e:
        parse_arch(bad)
    assert "\n" not in str(e.value) and "official form" in str(e.value) or "choose from" in str(e.value)


def test_out_of_range_index(root):
    with pytest.raises(NasBenchError, match="out of range"):
        load_index(root).to_string(15625)


def test_corrupt_metadata_is_refused(tmp_path):
    bad = tmp_path / "meta.pickle.pbz2"
    bad.write_bytes(b"not a bz2 pickle")
    with pytest.raises(NasBenchError, match="cannot read NATS metadata"):
        NB201Index.from_nats_meta(bad)


def test_alive_slots_shrink_and_sample():
    space = nb201_space()
    assert space.size() == 15625 and space.removable() == 24
    space.remove(0, "none")
    space.restrict([["nor_conv_3x3"], *space.alive[1:]])
    assert space.size() == 5 ** 5
    rng = random.Random(0)
    assert all(space.contains(space.sample(rng)) for _ in range(100))
    assert all(space.sample_containing(2, "none", rng)[2] == "none" for _ in range(10))
    with pytest.raises(NasBenchError, match="last alive operation"):
        space.remove(0, "nor_conv_3x3")
    assert len(list(space.enumerate())) == space.size()


def test_registry_knows_nb201():
    entry = SPACES.get("nb201")
    assert entry.build().size() == 15625
    lo, hi = entry.flops_range_m()
    assert lo == pytest.approx(7.78305) and hi == pytest.approx(220.11969)
    with pytest.raises(NasBenchError, match="unknown search space"):
        SPACES.get("nb301")
