"""The contract's verdict rules over the evidence graph, and their order independence."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.decide import graph as g
from streams.decide.verdicts import decide_many
from streams.domain.types import VerdictKind as V


def node(eid: str, ts: float, nik: str, usable: bool = True, reasons=()) -> g.Node:
    return g.Node(eid, f"2017-01-01T00:00:{int(ts):02d}+07:00", ts, nik, usable, tuple(reasons))


MATCH = g.Edge(g.MATCH, 0.99, 0.2, 0.9, 0.8)
GREY = g.Edge(g.REVIEW, 0.6, 0.36, None, 0.9, ("IRIS_GREY_ZONE",))
NOPE = g.Edge(g.NO_MATCH, 0.01, 0.48, 0.02, 0.9)


def build(nodes, edges):
    store = g.MemoryGraph()
    for n in nodes:
        g.add_node(store, n)
    for a, b, e in edges:
        g.add_edge(store, a, b, e)
    return store


def verdicts(store, ids=None):
    ids = ids if ids is not None else [n for n in store._nodes]
    return {v.enrollment_id: v for v in decide_many(store, ids)}


def test_a_lone_enrollment_is_unique_and_its_own_person():
    v = verdicts(build([node("a", 1, "1111")], []))["a"]
    assert v.verdict == V.UNIQUE and v.person_id == "a" and v.matches == ()


def test_recapture_same_nik_and_duplicate_other_nik():
    s = build([node("a", 1, "N1"), node("b", 2, "N1"), node("c", 3, "N2")],
              [("a", "b", MATCH), ("b", "c", MATCH)])
    out = verdicts(s)
    assert out["a"].verdict == V.UNIQUE
    assert out["b"].verdict == V.RECAPTURE and out["b"].person_id == "a"
    assert out["c"].verdict == V.DUPLICATE and out["c"].person_id == "a"
    assert "DIFFERENT_NIK" in out["c"].reasons
    # evidence: direct matches only, best first
    assert [m["enrollment_id"] for m in out["c"].matches] == ["b"]


def test_nik_conflict_goes_to_the_later_person_and_names_the_owner():
    s = build([node("a", 1, "N1"), node("x", 5, "N1")], [("a", "x", NOPE)])
    out = verdicts(s)
    assert out["a"].verdict == V.UNIQUE
    assert out["x"].verdict == V.NIK_CONFLICT and out["x"].person_id == "x"
    assert out["x"].matches[0]["enrollment_id"] == "a"
    assert out["x"].matches[0]["decision"] == g.NO_MATCH


def test_duplicate_wins_over_nik_conflict_and_both_reasons_are_listed():
    # b is a's person under a NIK owned by person q
    s = build([node("q", 0, "N2"), node("a", 1, "N1"), node("b", 2, "N2")], [("a", "b", MATCH)])
    v = verdicts(s)["b"]
    assert v.verdict == V.DUPLICATE
    assert {"DIFFERENT_NIK", "NIK_HELD_BY_OTHER_PERSON"} <= set(v.reasons)


def test_grey_zone_flags_the_later_capture_only():
    s = build([node("a", 1, "N1"), node("b", 2, "N2")], [("b", "a", GREY)])
    out = verdicts(s)
    assert out["a"].verdict == V.UNIQUE
    assert out["b"].verdict == V.REVIEW and "GREY_ZONE_MATCH" in out["b"].reasons


def test_unusable_enrollment_is_rejected_and_joins_no_person():
    s = build([node("a", 1, "N1"), node("b", 0, "N1", usable=False)], [("a", "b", MATCH)])
    out = verdicts(s)
    assert out["b"].verdict == V.REJECTED and "INSUFFICIENT_BIOMETRICS" in out["b"].reasons
    assert out["a"].verdict == V.UNIQUE and out["a"].person_id == "a"


def test_late_original_takes_over_and_the_earlier_verdict_changes():
    s = build([node("b", 5, "N1")], [])
    assert verdicts(s)["b"].verdict == V.UNIQUE
    g.add_node(s, node("a", 1, "N1"))
    g.add_edge(s, "a", "b", MATCH)
    out = verdicts(s, g.affected(s, ["a"]))
    assert out["a"].verdict == V.UNIQUE and out["b"].verdict == V.RECAPTURE
    assert out["b"].person_id == "a"


def test_record_joining_two_persons_merges_them():
    s = build([node("a", 1, "N1"), node("c", 3, "N3")], [])
    g.add_node(s, node("b", 2, "N2"))
    g.add_edge(s, "a", "b", MATCH)
    g.add_edge(s, "b", "c", MATCH)
    assert g.affected(s, ["b"]) == {"a", "b", "c"}
    out = verdicts(s)
    assert {v.person_id for v in out.values()} == {"a"}
    assert out["c"].verdict == V.DUPLICATE


def test_replaying_the_same_node_and_edge_changes_nothing():
    s = build([node("a", 1, "N1"), node("b", 2, "N1")], [("a", "b", MATCH)])
    assert not g.add_node(s, node("a", 1, "N1"))
    assert not g.add_edge(s, "b", "a", MATCH)


def test_adjudicated_edge_is_not_overwritten_by_scores():
    s = build([node("a", 1, "N1"), node("b", 2, "N2")], [])
    judged = g.Edge(g.NO_MATCH, 0.0, adjudicated=True)
    g.add_edge(s, "a", "b", judged)
    assert not g.add_edge(s, "a", "b", MATCH)
    assert verdicts(s)["b"].verdict == V.UNIQUE


@st.composite
def worlds(draw):
    n = draw(st.integers(2, 9))
    niks = draw(st.lists(st.sampled_from(["N1", "N2", "N3", "N4"]), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))  # ties on purpose
    usable = draw(st.lists(st.sampled_from([True] * 5 + [False]), min_size=n, max_size=n))
    nodes = [node(f"e{i}", float(times[i]), niks[i], usable[i]) for i in range(n)]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    kinds = draw(st.lists(st.sampled_from([MATCH, GREY, NOPE]), min_size=len(chosen),
                          max_size=len(chosen)))
    edges = [(f"e{i}", f"e{j}", k) for (i, j), k in zip(chosen, kinds)]
    seed = draw(st.integers(0, 2**32 - 1))
    return nodes, edges, seed


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_final_verdicts_depend_only_on_the_set_of_events(world):
    """Feed nodes and edges in a random order, recomputing only the affected verdicts as the
    resolver does; the last verdict per enrollment equals a from-scratch computation."""
    nodes, edges, seed = world
    rng = random.Random(seed)
    events = [("n", n) for n in nodes] + [("e", e) for e in edges]
    rng.shuffle(events)
    store = g.MemoryGraph()
    latest: dict = {}
    for kind, item in events:
        if kind == "n":
            g.add_node(store, item)
            seeds = {item.enrollment_id}
        else:
            a, b, e = item
            g.add_edge(store, a, b, e)
            seeds = {a, b}
        for v in decide_many(store, g.affected(store, seeds)):
            latest[v.enrollment_id] = v
    reference = verdicts(build(nodes, edges))
    assert latest == reference


def test_a_retracted_edge_leaves_both_ends_and_splits_the_person():
    s = build([node("a", 1, "N1"), node("b", 2, "N2"), node("c", 3, "N3")],
              [("a", "b", MATCH), ("a", "c", GREY)])
    assert verdicts(s)["b"].verdict == V.DUPLICATE
    assert g.retract_edges(s, "b", ["a", "c"]) == ["a"]  # b-c had no edge to drop
    assert "a" not in s.edges("b") and "b" not in s.edges("a")
    assert s.edges("a") == {"c": GREY}  # the other edge of a is untouched
    out = verdicts(s)
    assert out["b"].verdict == V.UNIQUE and out["b"].person_id == "b"


def test_an_adjudicated_edge_is_not_retracted():
    s = build([node("a", 1, "N1"), node("b", 2, "N2")], [])
    judged = g.Edge(g.MATCH, 1.0, adjudicated=True)
    g.add_edge(s, "a", "b", judged)
    assert g.retract_edges(s, "a", ["b"]) == []
    assert s.edges("b") == {"a": judged}
