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
        assert not h.observe(t, B, 828, 828, False)  # acked from the committed offset on
        assert not h.observe(t, TP("x", 0), None, 900, False)  # no known start
    assert not h.observe(0, A, 828, 829, False)
    assert h.observe(30, A, 828, 829, False)  # one record is a hole too


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
    h.observe(35, A, 950, 951, False)  # the hole closed: the commit passed it (a busy partition)
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

    def __init__(self, committed, acked, unacked=(), fetched=None, gaps=None, generation=1):
        self._committed_offset = defaultdict(lambda: None, committed)
        self._acked = defaultdict(list, {tp: list(v) for tp, v in acked.items()})
        self._acked_index = defaultdict(set, {tp: set(v) for tp, v in acked.items()})
        self._gap = defaultdict(IntervalTree)
        for tp, (begin, end) in (gaps or {}).items():
            self._gap[tp].addi(begin, end)
        self._unacked_messages = [SimpleNamespace(tp=tp, offset=o, acked=False)
                                  for tp, o in unacked]
        self._assignment = set(committed)
        self.sought = []
        self.app = SimpleNamespace(consumer_generation_id=generation, rebalancing=False,
                                   flow_control=SimpleNamespace(is_active=lambda: True))
        setattr(self.app, commits.SEEKS, {})
        if fetched is not None:  # fetched long before the looks at 0, 30, ... s
            setattr(self.app, commits.SEEN,
                    {tp: dict.fromkeys(v, -100.0) for tp, v in fetched.items()})

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


def _asked(app):
    return {tp: offset for tp, (offset, _gen) in getattr(app, commits.SEEKS).items()}


def test_repair_asks_to_read_the_held_partition_again_from_its_committed_offset():
    log_tp = TP("app-gallery-changelog", 1)
    c = _Consumer({A: 828, B: 500, log_tp: 10}, {A: [830, 831, 835], B: [500, 501], log_tp: [40]})
    app = _app(c)
    out = _looks(app, CommitHoles(30), [0, 10, 30])
    assert out[:2] == [[], []]
    assert out[2] == [(A, 828, 830)]
    assert _asked(app) == {A: 828}  # not B (no hole), not the changelog
    # the read loop seeks before its next fetch, once
    asyncio.run(commits._seek(c, getattr(app, commits.SEEKS)))
    assert c.sought == [{A: 828}] and _asked(app) == {}


def test_a_seek_asked_for_is_dropped_after_a_rebalance_or_a_new_generation():
    c = _Consumer({A: 828}, {A: [830]})
    app = _app(c)
    commits.request_seek(app, A, 828)
    app.consumer_generation_id = 2
    asyncio.run(commits._seek(c, getattr(app, commits.SEEKS)))
    commits.request_seek(app, A, 828)
    app.rebalancing = True
    asyncio.run(commits._seek(c, getattr(app, commits.SEEKS)))
    assert c.sought == [] and _asked(app) == {}


def test_no_repair_while_a_record_of_the_hole_is_in_flight_or_during_a_rebalance():
    c = _Consumer({A: 828}, {A: [830]}, unacked=[(A, 829)])
    assert _looks(_app(c), CommitHoles(30), [0, 30, 60]) == [[], [], []]
    c = _Consumer({A: 828}, {A: [830]}, unacked=[(A, 830), (B, 828)])  # not in the hole
    assert _looks(_app(c), CommitHoles(30), [0, 30])[1] == [(A, 828, 830)]
    c = _Consumer({A: 828}, {A: [830]}, unacked=[(A, 829)])
    c._unacked_messages[0].acked = True  # an acked copy read twice is not in flight
    assert _looks(_app(c), CommitHoles(30), [0, 30])[1] == [(A, 828, 830)]
    c = _Consumer({A: 828}, {A: [830]})
    assert _looks(_app(c, rebalancing=True), CommitHoles(30), [0, 30, 60]) == [[], [], []]


def test_no_repair_while_the_hole_was_fetched_again_lately():
    c = _Consumer({A: 828}, {A: [830]}, fetched={A: [828, 829, 830]})
    app = _app(c)
    getattr(app, commits.SEEN)[A][828] = 25.0  # read again at 25 s: queued behind others
    assert _looks(app, CommitHoles(30), [30, 50, 60]) == [[], [], []]
    assert _looks(app, CommitHoles(30), [55, 85])[1] == [(A, 828, 830)]


def test_a_single_record_fetched_and_never_acked_holds_the_commit_and_is_read_again():
    # faust alone commits past it (its tolerance for offsets without a record)
    c = _Consumer({A: 828}, {A: [829, 830]})
    assert commits.FAUST_NEW_OFFSET(c, A) == 831
    # fetched for a stream and never acknowledged: held, and a hole the watchdog reads again
    c = _Consumer({A: 828}, {A: [829, 830]}, fetched={A: [827, 828, 829, 830]})
    assert commits._new_offset(c, A) is None
    assert c._acked[A] == [829, 830] and c._acked_index[A] == {829, 830}  # bookkeeping kept
    assert _looks(_app(c), CommitHoles(30), [0, 30])[1] == [(A, 828, 829)]
    assert 827 not in getattr(c.app, commits.SEEN)[A]  # committed offsets are forgotten
    # never fetched (no record there): faust's tolerance stands
    c = _Consumer({A: 828}, {A: [829, 830]}, fetched={A: [829, 830]})
    assert commits._new_offset(c, A) == 831


def test_a_gap_over_fetched_records_does_not_commit_past_them():
    # a seek raced the read loop: a later record of an older batch made a gap over 829..840
    gaps = {A: (829, 841)}
    c = _Consumer({A: 828}, {A: [828, 845]}, gaps=gaps)
    assert commits.FAUST_NEW_OFFSET(c, A) == 841  # faust: 829..840 count as done
    c = _Consumer({A: 828}, {A: [828, 835, 845]}, gaps=gaps, fetched={A: range(828, 846)})
    assert commits._new_offset(c, A) == 829  # up to the first fetched record not acked
    assert [835, 845] == [o for o in c._acked[A] if o in (835, 845)]  # acked above: kept
    assert {835, 845} <= c._acked_index[A]


def test_a_partition_never_committed_is_not_committed_past_its_first_records():
    c = _Consumer({A: None}, {A: [2, 3]})
    assert commits.FAUST_NEW_OFFSET(c, A) == 4  # faust: nothing below counts
    c = _Consumer({A: None}, {A: [2, 3]}, fetched={A: [0, 1, 2, 3]})
    assert commits._new_offset(c, A) is None
    c = _Consumer({A: None}, {A: [2, 3]}, fetched={A: [0, 1, 2, 3]})
    assert _looks(_app(c), CommitHoles(30), [0, 30])[1] == [(A, 0, 2)]
    c = _Consumer({A: None}, {A: [5, 6]}, fetched={A: [5, 6, 7]})
    assert commits._new_offset(c, A) == 7


def test_the_guard_changes_nothing_when_the_head_was_acknowledged():
    c = _Consumer({A: 828}, {A: [828, 829, 831]}, fetched={A: [828, 829, 830, 831]})
    assert commits._new_offset(c, A) == 830  # up to the first unacknowledged record, as faust
    c = _Consumer({A: 828}, {A: [830]}, fetched={A: [828, 829, 830]})
    assert commits._new_offset(c, A) is None  # faust holds a wider hole itself
    c = _Consumer({A: 828}, {}, fetched={A: [828]})
    assert commits._new_offset(c, A) is None
    c = _Consumer({A: 828}, {A: [828, 829]}, fetched={A: [828, 829]})
    assert commits._new_offset(c, A) == 830


def _message(topic, partition, offset):
    return SimpleNamespace(topic=topic, partition=partition, offset=offset,
                           tp=TP(topic, partition))


def test_the_guard_records_what_is_fetched_for_streams_of_acked_topics_only(monkeypatch):
    batch = [_message("enrollments", 1, 5), _message("app-gallery-changelog", 1, 9),
             _message("not-acked", 0, 3)]

    async def faust_getmany(self, timeout):
        for m in batch:
            yield m.tp, m

    monkeypatch.setattr(commits, "FAUST_GETMANY", faust_getmany)
    revoked = []
    app = SimpleNamespace(
        topics=SimpleNamespace(acks_enabled_for=lambda t: t != "not-acked"),
        tables=SimpleNamespace(changelog_topics={"app-gallery-changelog"}),
        on_partitions_revoked=SimpleNamespace(connect=lambda f: revoked.append(f) or f))
    commits.install(app)
    consumer = SimpleNamespace(app=app)

    async def drain():
        return [m async for _tp, m in commits._getmany(consumer, 1.0)]

    assert asyncio.run(drain()) == batch  # every record still goes on
    assert list(getattr(app, commits.SEEN)) == [TP("enrollments", 1)]
    assert list(getattr(app, commits.SEEN)[TP("enrollments", 1)]) == [5]
    asyncio.run(revoked[0](app, revoked={TP("enrollments", 1)}))
    assert getattr(app, commits.SEEN) == {}


class _Conductor:
    def __init__(self):
        self.delivered = []

    async def on_message(self, message):
        self.delivered.append((message.topic, message.offset))


def test_failpoints_drop_each_named_record_once_and_nothing_when_unset():
    from streams.app import failpoints

    assert failpoints.parse("a-b:1:10, a-b:2:7,") == {("a-b", 1, 10), ("a-b", 2, 7)}
    conductor = _Conductor()
    app = SimpleNamespace(topics=conductor)
    assert failpoints.install(app, {}) == set() and conductor.on_message.__self__ is conductor
    failpoints.install(app, {failpoints.ENV: "t:1:10"})
    for offset in (9, 10, 11, 10):
        asyncio.run(conductor.on_message(_message("t", 1, offset)))
    assert conductor.delivered == [("t", 9), ("t", 11), ("t", 10)]


def test_a_gap_over_records_in_flight_is_not_committed_before_they_are_acked():
    # faust's seek after recovery raced its read loop: a gap over 829..840, records fetched
    # again; 828..832 acked, 833..840 in flight, 835 lost
    fetched = {A: range(828, 846)}
    c = _Consumer({A: 828}, {A: [828, 829, 830, 831, 832]}, gaps={A: (829, 841)},
                  fetched=fetched)
    commits_made = []
    for _ in range(25):  # every commit round: nothing passes 833 while it is not acked
        offset = commits._new_offset(c, A)
        if offset is not None:
            commits_made.append(offset)
            c._committed_offset[A] = offset
    assert commits_made and max(commits_made) == 833
    for o in (833, 834, 836, 837, 838, 839, 840):  # all acked but the lost 835
        c._acked[A].append(o)
        c._acked_index[A].add(o)
    for _ in range(25):
        offset = commits._new_offset(c, A)
        if offset is not None:
            c._committed_offset[A] = offset
    assert c._committed_offset[A] == 835  # held at the lost record
    # ... and the watchdog sees the hole (processed from 836 on) and asks to read it again
    assert _looks(_app(c), CommitHoles(30), [0, 30])[1] == [(A, 835, 836)]


def test_a_hole_at_the_start_of_a_gap_is_seen():
    c = _Consumer({A: 829}, {A: [845]}, gaps={A: (829, 841)}, fetched={A: range(829, 846)})
    assert commits._new_offset(c, A) is None
    assert _looks(_app(c), CommitHoles(30), [0, 30])[1] == [(A, 829, 845)]


def test_a_seek_is_not_made_once_the_commit_passed_the_hole():
    c = _Consumer({A: 828}, {A: [830]})
    app = _app(c)
    commits.request_seek(app, A, 828)
    c._committed_offset[A] = 900
    asyncio.run(commits._seek(c, getattr(app, commits.SEEKS)))
    assert c.sought == []
