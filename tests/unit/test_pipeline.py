"""Pure stage transitions: routing, posting lists, fan-out gathering, candidate selection."""

from hypothesis import given
from hypothesis import strategies as st

from streams.pipeline import (
    POSTING_CAP,
    Gather,
    index_lookup,
    route_keys,
    route_refs,
    select_candidates,
    tally_hits,
)
from streams.routing import partition_for


def test_keys_go_to_the_partition_that_owns_them():
    keys = [f"nik:{i:016d}" for i in range(50)]
    routed = route_keys(keys + keys[:5], 4)
    assert sorted(k for ks in routed.values() for k in ks) == sorted(keys)
    for part, ks in routed.items():
        assert all(partition_for(k.encode(), 4) == part for k in ks)


def test_refs_grouped_by_gallery_partition():
    assert route_refs([("b", 1), ("a", 0), ("c", 1), ("b", 1)]) == {0: ["a"], 1: ["b", "c"]}


def test_index_lookup_returns_earlier_members_and_adds_the_probe_once():
    first = index_lookup(None, "a", 0)
    assert first.candidates == [] and first.posting == [["a", 0]]
    second = index_lookup(first.posting, "b", 2)
    assert second.candidates == [("a", 0)] and second.posting == [["a", 0], ["b", 2]]
    again = index_lookup(second.posting, "b", 2)  # redelivery
    assert again.candidates == [("a", 0)] and again.posting is None


def test_full_posting_list_admits_no_more_but_still_answers():
    full = [[f"e{i}", 0] for i in range(POSTING_CAP)]
    look = index_lookup(full, "late", 1)
    assert look.oversized and look.posting is None and len(look.candidates) == POSTING_CAP


@given(st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=8)), max_size=30),
       st.integers(1, 6))
def test_gather_completes_once_every_part_arrived_whatever_the_order(parts, n):
    g = Gather("r", n)
    done = False
    seen = set()
    for part, payload in parts:
        if part >= n:
            continue
        seen.add(part)
        done = g.add(part, [payload])
        assert done == (len(seen) == n)
    assert Gather.from_dict(g.to_dict()).parts == g.parts


def test_a_lone_biometric_collision_is_not_a_candidate_but_two_keys_or_a_demographic_key_are():
    p0 = tally_hits([("ir:R:0:ab", "x", 0), ("fp:2:cd", "y", 1), ("nik:1", "z", 2)])
    p1 = tally_hits([("ir:L:3:ef", "y", 1)])
    chosen = select_candidates(p0 + p1)
    assert chosen == [("y", 1), ("z", 2)]
