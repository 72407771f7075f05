"""Uniform (SPOS) and strict-fair (FairNAS) sampling: seeding, fairness, resumable state."""

from collections import Counter

from benchmark.samplers import SAMPLERS, FairSampler, UniformSampler
from benchmark.spaces.nb201 import nb201_space


def test_same_seed_same_sequence():
    for name in SAMPLERS.names():
        a = SAMPLERS.get(name)(nb201_space(), seed=3)
        b = SAMPLERS.get(name)(nb201_space(), seed=3)
        assert [a() for _ in range(50)] == [b() for _ in range(50)]


def test_fair_groups_use_every_op_once_per_slot():
    space = nb201_space()
    space.restrict([list(space.alive[0]), ["none", "skip_connect"], *space.alive[2:]])
    sampler = FairSampler(space, seed=0)
    for _ in range(20):
        group = sampler.group()  # L = 5 paths: slots of 5 use each op once, the slot of 2 each at least once
        assert len(group) == 5
        for slot in (0, 2, 3, 4, 5):
            assert sorted(a[slot] for a in group) == sorted(space.alive[slot])
        assert {a[1] for a in group} == {"none", "skip_connect"}


def test_uniform_only_samples_alive_ops_and_covers_them():
    space = nb201_space()
    space.remove(3, "none")
    sampler = UniformSampler(space, seed=1)
    counts = Counter(sampler()[3] for _ in range(2000))
    assert set(counts) == set(space.alive[3]) and min(counts.values()) > 400


def test_state_dict_resumes_the_sequence():
    a = FairSampler(nb201_space(), seed=5)
    [a() for _ in range(7)]
    state = a.state_dict()
    expected = [a() for _ in range(9)]
    b = FairSampler(nb201_space(), seed=99)
    b.load_state_dict(state)
    assert [b() for _ in range(9)] == expected


def test_uniform_group_is_one_path_drawn_as_a_call_would():
    a, b = UniformSampler(nb201_space(), seed=4), UniformSampler(nb201_space(), seed=4)
    assert [a.group() for _ in range(10)] == [[b()] for _ in range(10)]


def test_fair_group_is_a_whole_group_and_finishes_a_started_one_first():
    space = nb201_space()
    a, b = FairSampler(space, seed=2), FairSampler(space, seed=2)
    first = a.next_group()
    assert b.group() == first and b.state_dict()["queue"] == []
    c = FairSampler(space, seed=2)
    head = [c(), c()]
    assert head + c.group() == first  # the rest of the group begun by calls, then fresh groups
    assert c.group() == a.next_group()
