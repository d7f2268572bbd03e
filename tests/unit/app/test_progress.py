"""Recovery progress (issue 6): the meter behind the worker's log line and progress page
(streams/app/progress.py), and how ``tunggal status`` renders that page (streams/cli/ops.py)."""

from types import SimpleNamespace

import pytest
from faust.types import TP

from streams.app.progress import (
    RecoveryMeter,
    document,
    format_duration,
    log_line,
    read_positions,
    remaining_of,
    report_step,
    worker_state,
)
from streams.cli.ops import render_progress

A0 = ("active", "app-gallery-changelog", 0)
A1 = ("active", "app-gallery-changelog", 1)
S2 = ("standby", "app-done-changelog", 2)


def test_remaining_per_partition_and_total():
    meter = RecoveryMeter()
    meter.sample(0.0, {A0: 100, A1: -1}, {A0: 400, A1: 49})
    snap = meter.snapshot()
    assert snap.partitions[A0].remaining == 300
    assert snap.partitions[A1].remaining == 50  # -1: nothing applied, offsets 0..49 left
    assert snap.remaining == 350
    assert not snap.finished


def test_rate_and_eta_from_two_samples():
    meter = RecoveryMeter()
    meter.sample(10.0, {A0: 100, A1: 0}, {A0: 1100, A1: 500})
    meter.sample(15.0, {A0: 350, A1: 250}, {A0: 1100, A1: 500})
    snap = meter.snapshot()
    assert snap.rate == pytest.approx((250 + 250) / 5.0)
    assert snap.remaining == 750 + 250
    assert snap.eta_s == pytest.approx(1000 / 100.0)


def test_one_sample_has_no_rate_nor_eta():
    meter = RecoveryMeter()
    meter.sample(0.0, {A0: 0}, {A0: 10})
    snap = meter.snapshot()
    assert snap.rate is None
    assert snap.eta_s is None


@pytest.mark.parametrize("offsets, highwaters", [
    ({A0: 0, A1: 0}, {A0: 1000, A1: 5000}),  # a partition assigned
    ({A0: 0}, {A0: 1200}),  # the same partition, measured again at a rebalance
])
def test_a_new_recovery_round_starts_the_rate_over(offsets, highwaters):
    """The idle wait for a rebalance before a replay does not count in the replay's rate."""
    meter = RecoveryMeter()
    meter.sample(0.0, {A0: 0}, {A0: 1000})
    meter.sample(60.0, offsets, highwaters)  # a minute of rebalancing, nothing applied
    assert meter.snapshot().rate is None
    assert meter.snapshot().remaining == sum(highwaters.values())
    meter.sample(62.0, {**offsets, A0: 400}, highwaters)
    assert meter.snapshot().rate == pytest.approx(200.0)


def test_rate_over_the_recent_window_only():
    meter = RecoveryMeter(window=10.0)
    meter.sample(0.0, {A0: 0}, {A0: 10_000})
    meter.sample(5.0, {A0: 5000}, {A0: 10_000})  # fast at first
    for t in range(10, 35, 5):
        meter.sample(float(t), {A0: 5000 + (t - 5) * 10}, {A0: 10_000})  # then 10 rec/s
    assert meter.snapshot().rate == pytest.approx(10.0)


def test_finished_recovery():
    meter = RecoveryMeter()
    meter.sample(0.0, {A0: 90, S2: -1}, {A0: 100, S2: -1})  # S2: an empty changelog
    meter.sample(1.0, {A0: 100, S2: -1}, {A0: 100, S2: -1})
    snap = meter.snapshot()
    assert snap.finished
    assert snap.remaining == 0
    assert snap.eta_s == 0.0


def test_standby_past_its_highwater_counts_zero_left():
    assert remaining_of(120, 100) == 0
    assert remaining_of(-1, -1) == 0
    assert remaining_of(None, 100) is None
    assert remaining_of(5, None) is None


def test_partition_without_highwater_yet():
    """faust measures standby highwaters only once the actives are recovered: the ETA covers the
    partitions with a known end, and the recovery is not finished while one is unknown."""
    meter = RecoveryMeter()
    meter.sample(0.0, {A0: 0, S2: 7}, {A0: 100})
    meter.sample(1.0, {A0: 50, S2: 7}, {A0: 100})
    snap = meter.snapshot()
    assert snap.partitions[S2].highwater is None
    assert snap.partitions[S2].remaining is None
    assert snap.remaining == 50
    assert snap.eta_s == pytest.approx(1.0)
    assert not snap.finished


def test_partition_without_offset_yet():
    """None (faust has not read the offset yet) is not a position: no remaining, no progress."""
    meter = RecoveryMeter()
    meter.sample(0.0, {A0: None}, {A0: 100})
    meter.sample(1.0, {A0: 60}, {A0: 100})
    snap = meter.snapshot()
    assert snap.partitions[A0].remaining == 40
    assert snap.rate == 0.0
    assert snap.eta_s is None  # records left and nothing applied: no estimate
    meter.sample(2.0, {A0: None}, {A0: 100})
    assert meter.snapshot().partitions[A0].remaining is None
    assert not meter.snapshot().finished


def test_format_duration():
    assert format_duration(None) == "?"
    assert format_duration(65.4) == "01:05"
    assert format_duration(3 * 3600 + 7) == "3:00:07"
    assert format_duration(-3) == "00:00"


def test_log_line_names_the_partitions_with_most_left():
    meter = RecoveryMeter()
    offsets = {("active", "t", p): 0 for p in range(5)}
    meter.sample(0.0, offsets, {("active", "t", p): 100 * (p + 1) for p in range(5)})
    line = log_line(meter.snapshot(), top=2)
    assert "1,500 changelog records left" in line
    assert "t[4] 500, t[3] 400 and 3 more" in line
    assert "t[2]" not in line
    assert "? rec/s, ETA ?" in line


# -- the faust adapter, on stand-ins for faust's recovery service -------------------------------

class _Event:
    def __init__(self, is_set):
        self._set = is_set

    def is_set(self):
        return self._set


def _app(*, in_recovery=False, rebalancing=False, completed=True):
    a0, s2 = TP("app-gallery-changelog", 0), TP("app-done-changelog", 2)
    recovery = SimpleNamespace(
        in_recovery=in_recovery, completed=_Event(completed),
        active_tps={a0}, active_offsets={a0: 10}, active_highwaters={a0: 30},
        standby_tps={s2}, standby_offsets={s2: 4}, standby_highwaters={})
    return SimpleNamespace(rebalancing=rebalancing, tables=SimpleNamespace(recovery=recovery))


def test_read_positions_keys_by_kind_topic_partition():
    offsets, highwaters = read_positions(_app().tables.recovery)
    assert offsets == {A0: 10, S2: 4}
    assert highwaters == {A0: 30, S2: None}


@pytest.mark.parametrize("flags, state", [
    ({"in_recovery": True, "rebalancing": True}, "recovering"),
    ({"rebalancing": True}, "rebalancing"),
    ({"completed": False}, "starting"),
    ({}, "running"),
])
def test_worker_state(flags, state):
    assert worker_state(_app(**flags)) == state


def _doc(app, samples):
    meter = RecoveryMeter()
    for t, offsets, highwaters in samples:
        meter.sample(t, offsets, highwaters)
    return document(app, meter.snapshot())


def test_document_and_steps():
    app = _app(in_recovery=True)
    report_step(app, "postings", 120, 400)
    report_step(app, "postings", 150, 400)
    doc = _doc(app, [(0.0, {A0: 0}, {A0: 1000}), (2.0, {A0: 200}, {A0: 1000})])
    assert doc["state"] == "recovering"
    assert doc["recovery"]["remaining"] == 800
    assert doc["recovery"]["rate"] == 100.0
    assert doc["recovery"]["eta_s"] == 8.0
    assert doc["recovery"]["partitions"] == [
        {"kind": "active", "topic": A0[1], "partition": 0, "offset": 200, "highwater": 1000,
         "remaining": 800}]
    assert doc["steps"] == {"postings": {"done": 150, "total": 400}}


# -- tunggal status --------------------------------------------------------------------------------

def test_status_renders_a_recovering_worker():
    doc = _doc(_app(in_recovery=True),
               [(0.0, {A0: 0, A1: 500, S2: 3}, {A0: 9000, A1: 600}),
                (10.0, {A0: 3000, A1: 550, S2: 3}, {A0: 9000, A1: 600})])
    lines = render_progress("http://w1:6066", doc)
    assert lines[0].startswith("http://w1:6066  recovering: 6,050 changelog records left, "
                               "305 rec/s, ETA 00:20")
    assert "(1 changelog partitions not measured yet)" in lines[0]
    rows = [line.split() for line in lines[2:]]
    assert [(r[1], r[2], r[5]) for r in rows] == [(A0[1], "0", "6,000"), (A1[1], "1", "50")]


def test_status_lists_the_partitions_with_most_left_first_then_the_rest_summed():
    offsets = {("active", "t", p): 0 for p in range(4)}
    doc = _doc(_app(in_recovery=True),
               [(0.0, offsets, {("active", "t", p): 10 * (p + 1) for p in range(4)})])
    lines = render_progress("u", doc, top=2)
    assert [line.split()[2] for line in lines[2:4]] == ["3", "2"]
    assert lines[4] == "  ... 2 more partitions, 30 records"
    assert "? rec/s, ETA ?" in lines[0]


def test_status_renders_a_running_worker_and_its_steps():
    app = _app()
    report_step(app, "postings", 7, None)
    doc = _doc(app, [(0.0, {A0: 30}, {A0: 30})])
    assert render_progress("u", doc) == ["u  running, changelogs up to date", "  postings: 7"]
    doc = _doc(_app(completed=False), [(0.0, {}, {})])
    assert render_progress("u", doc) == ["u  starting, no changelog partitions assigned"]
