"""The stall watchdog's decision (streams/stall.py) and its setting."""

import pytest

from streams.errors import ConfigError
from streams.settings import Settings
from streams.stall import StallDetector


def test_lag_without_progress_for_the_timeout_is_a_stall():
    d = StallDetector(60)
    assert d.observe(0, 10, (5, 0)) is None
    assert d.observe(59, 10, (5, 0)) is None
    reason = d.observe(60, 10, (5, 0))
    assert reason and "10 records waiting" in reason and "60 s" in reason


def test_progress_restarts_the_clock():
    d = StallDetector(60)
    d.observe(0, 10, (5, 0))
    assert d.observe(50, 10, (6, 0)) is None  # committed offsets moved
    assert d.observe(100, 10, (6, 0)) is None
    assert d.observe(110, 10, (6, 0)) is not None


def test_recovery_progress_counts_as_progress():
    d = StallDetector(60)
    d.observe(0, 10, (5, 100))
    for t in range(30, 300, 30):
        assert d.observe(t, 10, (5, 100 + t)) is None


def test_an_idle_worker_is_never_stalled():
    d = StallDetector(60)
    for t in range(0, 1000, 30):
        assert d.observe(t, 0, (5, 0)) is None
    assert d.observe(1000, 3, (5, 0)) is None  # lag just appeared: the clock starts now
    assert d.observe(1061, 3, (5, 0)) is not None


def test_unknown_lag_is_no_judgement():
    d = StallDetector(60)
    d.observe(0, 10, (5, 0))
    assert d.observe(100, None, (5, 0)) is None  # mid-rebalance
    assert d.observe(101, 10, (5, 0)) is not None  # the stall did not stop during it


def test_zero_timeout_disables():
    d = StallDetector(0)
    assert all(d.observe(t, 10, 1) is None for t in (0, 1e6))
    assert d.silent_for(1e6, 0) is None


def test_a_watchdog_that_stopped_sampling_is_a_stall():
    d = StallDetector(60)
    assert d.silent_for(100, 50) is None
    assert "event loop" in d.silent_for(111, 50)


def test_setting():
    assert Settings.from_env({}).stall_timeout == 300
    assert Settings.from_env({"TUNGGAL_STALL_TIMEOUT": "45"}).stall_timeout == 45
    assert Settings.from_env({"TUNGGAL_STALL_TIMEOUT": "0"}).stall_timeout == 0
    with pytest.raises(ConfigError):
        Settings.from_env({"TUNGGAL_STALL_TIMEOUT": "-1"})


def test_hole_patience_setting():
    assert Settings.from_env({}).hole_patience == 30
    assert Settings.from_env({"TUNGGAL_HOLE_PATIENCE": "5"}).hole_patience == 5
    for bad in ("0", "-3"):
        with pytest.raises(ConfigError):
            Settings.from_env({"TUNGGAL_HOLE_PATIENCE": bad})


def test_a_rebuild_step_that_advances_is_progress():
    """The watchdog's sample (streams/app/watchdog.py) counts a rebuild reported for the
    progress page (a posting-list rebuild of a large partition) as progress."""
    from collections import defaultdict
    from types import SimpleNamespace

    from faust.types import TP

    from streams.app.progress import report_step
    from streams.app.watchdog import sample

    tp = TP("enrollments", 0)
    consumer = SimpleNamespace(_committed_offset=defaultdict(lambda: None, {tp: 10}),
                               assignment=lambda: {tp}, highwater=lambda _tp: 500)
    app = SimpleNamespace(consumer=consumer, rebalancing=False, tables=SimpleNamespace(
        changelog_topics=set(), recovery=SimpleNamespace(active_offsets={})))
    d = StallDetector(60)
    for t in range(0, 600, 30):  # the commit stands still for 10 min while the rebuild runs
        report_step(app, "posting lists of index partition 0", t * 1000, 600_000)
        lag, progress = sample(app)
        assert lag == 490
        assert d.observe(t, lag, progress) is None
    lag, progress = sample(app)  # the rebuild stopped advancing: a stall after the timeout
    assert d.observe(620, lag, progress) is None  # 50 s after its last advance at 570 s
    assert d.observe(630, lag, progress) is not None
