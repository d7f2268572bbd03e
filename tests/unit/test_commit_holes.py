"""Commit holes (streams/stall.py ``CommitHoles``), their repair in a worker
(streams/app/watchdog.py ``repair_holes``) and the commit guard (streams/app/commits.py),
against a stand-in for faust's consumer that holds faust's own bookkeeping."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

from faust.types import TP
from intervaltree import IntervalTree

from streams.app import commits
from streams.app.watchdog import repair_holes
from streams.stall import CommitHoles

A = TP("enrollments", 1)
B = TP("enrollments", 2)


def test_a_hole_that_stays_for_the_patience_is_repaired_once_then_with_backoff():
    h = CommitHoles(30, max_patience=100)
    assert not h.observe(0, A, 828, 830, False)
    assert not h.observe(29, A, 828, 830, False)
    assert h.observe(30, A, 828, 830, False)
    # the re-read did not fill it: the next repair waits twice as long
    assert not h.observe(89, A, 828, 830, False)
    assert h.observe(90, A, 828, 830, False)
    assert not h.observe(189, A, 828, 830, False)
    assert h.observe(190, A, 828, 830, False)  # capped at max_patience
    assert not h.observe(289, A, 828, 830, False)
    assert h.observe(290, A, 828, 830, False)


def test_no_hole_no_repair():
    h = CommitHoles(30)
    for t in range(0, 300, 10):
        assert not h.observe(t, B, 828, None, False)  # nothing acked beyond the commit
        assert not h.observe(t, TP("x", 0), None, 900, False)  # never committed
    assert not h.observe(0, A, 828, 829, False)
    assert h.observe(30, A, 828, 829, False)  # one record is a hole too, when reported


def test_a_record_in_flight_in_the_hole_is_no_hole():
    h = CommitHoles(30)
    for t in range(0, 300, 10):
        assert not h.observe(t, A, 828, 900, True)
    assert not h.observe(300, A, 828, 900, False)  # the clock starts when it is no longer busy
    assert h.observe(330, A, 828, 900, False)


def test_a_moving_commit_restarts_the_clock_and_the_backoff():
    h = CommitHoles(30)
    h.observe(0, A, 828, 900, False)
    assert h.observe(30, A, 828, 900, False)
    h.observe(35, A, 950, None, False)  # the hole closed and everything was committed
    h.observe(40, A, 950, 960, False)
    assert not h.observe(69, A, 950, 960, False)
    assert h.observe(70, A, 950, 960, False)  # the first patience again, not twice it


def test_forget_drops_a_revoked_partition():
    h = CommitHoles(30)
    h.observe(0, A, 828, 900, False)
    h.forget(A)
    assert not h.observe(30, A, 828, 900, False)


class _Consumer:
    """faust's commit bookkeeping (the fields ``Consumer._new_offset`` reads), and a seek log."""

    def __init__(self, committed, acked, unacked=(), handed=None):
        self._committed_offset = defaultdict(lambda: None, committed)
        self._acked = defaultdict(list, {tp: list(v) for tp, v in acked.items()})
        self._acked_index = defaultdict(set, {tp: set(v) for tp, v in acked.items()})
        self._gap = defaultdict(IntervalTree)
        self._unacked_messages = [SimpleNamespace(tp=tp, offset=o) for tp, o in unacked]
        self._assignment = set(committed)
        self.sought = []
        self.app = SimpleNamespace()
        if handed is not None:
            setattr(self.app, commits.SEEN, {tp: set(v) for tp, v in handed.items()})

    def assignment(self):
        return self._assignment

    async def seek_wait(self, partitions):
        self.sought.append(dict(partitions))


def _app(consumer, rebalancing=False):
    app = consumer.app
    app.consumer, app.rebalancing = consumer, rebalancing
    app.tables = SimpleNamespace(changelog_topics={"app-gallery-changelog"})
    return app


def _looks(app, holes, times):
    return [asyncio.run(repair_holes(app, holes, t)) for t in times]


def test_repair_seeks_the_held_partition_back_to_its_committed_offset():
    log_tp = TP("app-gallery-changelog", 1)
    c = _Consumer({A: 828, B: 500, log_tp: 10}, {A: [830, 831, 835], B: [500, 501], log_tp: [40]})
    out = _looks(_app(c), CommitHoles(30), [0, 10, 30])
    assert out[:2] == [[], []]
    assert out[2] == [(A, 828, 830)]
    assert c.sought == [{A: 828}]  # not B (no hole), not the changelog


def test_no_repair_while_a_record_of_the_hole_is_in_flight_or_during_a_rebalance():
    c = _Consumer({A: 828}, {A: [830]}, unacked=[(A, 829)])
    holes = CommitHoles(30)
    assert _looks(_app(c), holes, [0, 30, 60]) == [[], [], []]
    c = _Consumer({A: 828}, {A: [830]}, unacked=[(A, 830), (B, 828)])  # not in the hole
    assert _looks(_app(c), CommitHoles(30), [0, 30])[1] == [(A, 828, 830)]
    c = _Consumer({A: 828}, {A: [830]})
    assert _looks(_app(c, rebalancing=True), CommitHoles(30), [0, 30, 60]) == [[], [], []]
    assert c.sought == []


def test_a_single_record_handed_over_and_never_acked_holds_the_commit_and_is_read_again():
    # faust alone commits past it (its tolerance for offsets without a record)
    c = _Consumer({A: 828}, {A: [829, 830]})
    assert commits.FAUST_NEW_OFFSET(c, A) == 831
    # handed to a stream and never acknowledged: held, and a hole the watchdog reads again
    c = _Consumer({A: 828}, {A: [829, 830]}, handed={A: [827, 828, 829, 830]})
    assert commits._new_offset(c, A) is None
    assert c._acked[A] == [829, 830]  # nothing dropped from faust's bookkeeping
    assert _looks(_app(c), CommitHoles(30), [0, 30])[1] == [(A, 828, 829)]
    assert 827 not in getattr(c.app, commits.SEEN)[A]  # committed offsets are forgotten
    # never handed over (no record there): faust's tolerance stands, and no repair
    c = _Consumer({A: 828}, {A: [829, 830]}, handed={A: [829, 830]})
    assert commits._new_offset(c, A) == 831
    c = _Consumer({A: 828}, {A: [829, 830]}, handed={A: [829, 830]})
    assert _looks(_app(c), CommitHoles(30), [0, 30, 60]) == [[], [], []]


def test_the_guard_changes_nothing_when_the_head_was_acknowledged():
    c = _Consumer({A: 828}, {A: [828, 829, 831]}, handed={A: [828, 829, 830, 831]})
    assert commits._new_offset(c, A) == 830  # up to the first unacknowledged record, as faust
    c = _Consumer({A: 828}, {A: [830]}, handed={A: [828, 829, 830]})
    assert commits._new_offset(c, A) is None  # faust holds a wider hole itself
    c = _Consumer({A: 828}, {}, handed={A: [828]})
    assert commits._new_offset(c, A) is None


class _Conductor:
    def __init__(self, acking):
        self.acking, self.delivered = acking, []

    def acks_enabled_for(self, topic):
        return topic in self.acking

    async def on_message(self, message):
        self.delivered.append((message.topic, message.offset))


def _message(topic, partition, offset):
    return SimpleNamespace(topic=topic, partition=partition, offset=offset,
                           tp=TP(topic, partition))


def test_the_guard_records_what_reaches_the_streams_of_acked_topics_only():
    conductor = _Conductor({"enrollments", "app-gallery-changelog"})
    revoked = []
    app = SimpleNamespace(
        topics=conductor, tables=SimpleNamespace(changelog_topics={"app-gallery-changelog"}),
        on_partitions_revoked=SimpleNamespace(connect=lambda f: revoked.append(f) or f))
    commits.install(app)
    for m in (_message("enrollments", 1, 5), _message("app-gallery-changelog", 1, 9),
              _message("not-acked", 0, 3)):
        asyncio.run(conductor.on_message(m))
    assert len(conductor.delivered) == 3  # every record is still delivered
    assert getattr(app, commits.SEEN) == {TP("enrollments", 1): {5}}
    asyncio.run(revoked[0](app, revoked={TP("enrollments", 1)}))
    assert getattr(app, commits.SEEN) == {}


def test_failpoints_drop_each_named_record_once_and_nothing_when_unset():
    from streams.app import failpoints

    assert failpoints.parse("a-b:1:10, a-b:2:7,") == {("a-b", 1, 10), ("a-b", 2, 7)}
    conductor = _Conductor(set())
    app = SimpleNamespace(topics=conductor)
    assert failpoints.install(app, {}) == set() and conductor.on_message.__self__ is conductor
    failpoints.install(app, {failpoints.ENV: "t:1:10"})
    for offset in (9, 10, 11, 10):
        asyncio.run(conductor.on_message(_message("t", 1, offset)))
    assert conductor.delivered == [("t", 9), ("t", 11), ("t", 10)]
