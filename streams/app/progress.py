"""Recovery you can watch: how far a worker is in rebuilding its tables, in its log and on a page.

A worker that starts after a crash (or takes over partitions) first replays the changelogs of its
tables, and processes nothing until that is done. faust keeps the positions of that replay in its
recovery service (``app.tables.recovery``) but logs a time estimate only after 1,000 records and
shows nothing to other processes. This module samples those positions every few seconds:

* :class:`RecoveryMeter` (pure, no faust) turns successive samples into remaining records per
  changelog partition, a rate over the last half minute and an ETA;
* a timer logs one line on ``tunggal.recovery`` every 5 s while a recovery runs;
* the page ``/tunggal/progress/`` of the worker's web server answers the same figures as JSON
  (``tunggal status`` reads it, streams/cli/ops.py);
* :func:`report_step` lets other rebuilds (not faust changelogs) show up on that page too.

faust's numbers are kept as they are, so the page matches faust's own log tables: ``offset`` is
the last changelog offset applied (-1: none yet), ``highwater`` the last offset in the changelog
when the recovery started, and ``remaining`` their difference.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mode import Service

from streams.settings import Settings

log = logging.getLogger("tunggal.recovery")

#: Path of the progress page on a worker's web server (settings.web_host:settings.web_port).
PAGE_PATH = "/tunggal/progress/"
#: Seconds between two samples (and two log lines while recovering).
SAMPLE_EVERY = 5.0
#: The rate is measured over the samples of the last RATE_WINDOW seconds.
RATE_WINDOW = 30.0
#: Partitions named in a log line (the ones with the most records left).
LOG_TOP = 3

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class PartitionProgress:
    offset: int | None  # last offset applied; -1 before the first record, None if not known yet
    highwater: int | None  # last offset to reach; -1 for an empty changelog
    remaining: int | None  # None while either end is unknown


@dataclass(frozen=True)
class RecoverySnapshot(Generic[K]):
    partitions: dict[K, PartitionProgress]
    rate: float | None  # records applied per second over the window; None before two samples

    @property
    def remaining(self) -> int:
        """Records left over the partitions whose ends are both known."""
        return sum(p.remaining or 0 for p in self.partitions.values())

    @property
    def finished(self) -> bool:
        """Every partition known and caught up."""
        return all(p.remaining == 0 for p in self.partitions.values())

    @property
    def eta_s(self) -> float | None:
        """Seconds until the known remaining records are applied at the current rate; None while
        the rate is unknown or zero. Partitions without a highwater yet are left out: faust
        measures the standbys' only once the actives are recovered, and reads them after."""
        if self.finished:
            return 0.0
        if self.remaining and self.rate:
            return self.remaining / self.rate
        return None


def remaining_of(offset: int | None, highwater: int | None) -> int | None:
    """Records left between ``offset`` and ``highwater``; a standby that follows new records past
    the highwater measured at its start counts 0, not a negative number."""
    if offset is None or highwater is None:
        return None
    return max(0, highwater - offset)


class RecoveryMeter(Generic[K]):
    """Remaining records, rate and ETA from successive samples of changelog positions.

    The rate counts the records applied (offset advances) over the last ``window`` seconds of the
    current recovery round: a new set of partitions or of highwaters (faust measures them at
    every rebalance, the standbys' once the actives are recovered) starts it over, so the idle
    wait for a rebalance does not drag the rate of the replay that follows.
    """

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._applied = 0  # records applied since the first sample
        self._points: deque[tuple[float, int]] = deque()  # (time, self._applied)
        self._offsets: dict[K, int | None] = {}
        self._highwaters: dict[K, int | None] = {}

    def sample(self, now: float, offsets: Mapping[K, int | None],
               highwaters: Mapping[K, int | None]) -> None:
        """Record the positions at ``now`` (monotonic seconds); keys are the partitions being
        recovered, offsets and highwaters as faust keeps them."""
        for key, offset in offsets.items():
            before = self._offsets.get(key)
            if offset is not None and before is not None and offset > before:
                self._applied += offset - before
        ends = {key: highwaters.get(key) for key in offsets}
        points = self._points
        if ends != self._highwaters:  # a new recovery round
            points.clear()
        self._offsets = dict(offsets)
        self._highwaters = ends
        points.append((now, self._applied))
        while len(points) > 2 and points[1][0] <= now - self.window:
            points.popleft()

    def snapshot(self) -> RecoverySnapshot[K]:
        partitions = {key: PartitionProgress(offset, self._highwaters.get(key),
                                             remaining_of(offset, self._highwaters.get(key)))
                      for key, offset in self._offsets.items()}
        rate = None
        if len(self._points) >= 2:
            (t0, n0), (t1, n1) = self._points[0], self._points[-1]
            if t1 > t0:
                rate = (n1 - n0) / (t1 - t0)
        return RecoverySnapshot(partitions, rate)


def format_duration(seconds: float | None) -> str:
    """``1:02:03``, ``02:03``, or ``?`` when unknown."""
    if seconds is None:
        return "?"
    s = round(max(0.0, seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def format_rate(rate: float | None) -> str:
    """``1,234 rec/s``, or ``? rec/s`` when unknown."""
    return "? rec/s" if rate is None else f"{rate:,.0f} rec/s"


def log_line(snap: RecoverySnapshot[tuple[str, str, int]], top: int = LOG_TOP) -> str:
    """One line for the worker log: total left, the partitions with the most left, rate, ETA."""
    left = sorted(((p.remaining, key) for key, p in snap.partitions.items() if p.remaining),
                  key=lambda item: (-item[0], item[1]))
    most = ", ".join(f"{topic}[{part}] {n:,}" for n, (_kind, topic, part) in left[:top])
    more = f" and {len(left) - top} more" if len(left) > top else ""
    return (f"recovering tables: {snap.remaining:,} changelog records left"
            + (f" ({most}{more})" if most else "")
            + f", {format_rate(snap.rate)}, ETA {format_duration(snap.eta_s)}")


# -- faust adapter --------------------------------------------------------------------------------

def read_positions(recovery: Any) -> tuple[dict[tuple[str, str, int], int | None],
                                           dict[tuple[str, str, int], int | None]]:
    """(offsets, highwaters) keyed by (kind, topic, partition) of faust's recovery service, for
    the changelog partitions it recovers as active and as standby."""
    offsets: dict[tuple[str, str, int], int | None] = {}
    highwaters: dict[tuple[str, str, int], int | None] = {}
    for kind, tps, offs, highs in (
            ("active", recovery.active_tps, recovery.active_offsets, recovery.active_highwaters),
            ("standby", recovery.standby_tps, recovery.standby_offsets,
             recovery.standby_highwaters)):
        for tp in list(tps):
            key = (kind, tp.topic, tp.partition)
            offsets[key] = offs.get(tp)  # .get: a Counter's [] says 0 for a missing partition
            highwaters[key] = highs.get(tp)
    return offsets, highwaters


def worker_state(app: Any) -> str:
    """starting (no recovery finished yet), recovering, rebalancing or running."""
    recovery = app.tables.recovery
    if recovery.in_recovery:
        return "recovering"
    if app.rebalancing:
        return "rebalancing"
    if not recovery.completed.is_set():
        return "starting"
    return "running"


def report_step(app: Any, name: str, done: int, total: int | None = None) -> None:
    """Show a recovery step that is not a faust changelog (e.g. a rebuilt index) on the progress
    page: ``done`` of ``total`` units (``total`` None when unknown)."""
    vars(app).setdefault("tunggal_steps", {})[name] = {"done": done, "total": total}


def document(app: Any, snap: RecoverySnapshot[tuple[str, str, int]]) -> dict[str, Any]:
    """The progress page's JSON."""
    rows = [{"kind": kind, "topic": topic, "partition": part, "offset": p.offset,
             "highwater": p.highwater, "remaining": p.remaining}
            for (kind, topic, part), p in sorted(snap.partitions.items())]
    return {"state": worker_state(app),
            "recovery": {"remaining": snap.remaining,
                         "rate": None if snap.rate is None else round(snap.rate, 1),
                         "eta_s": None if snap.eta_s is None else round(snap.eta_s, 1),
                         "partitions": rows},
            "steps": dict(vars(app).get("tunggal_steps", {}))}


class _Sampler(Service):
    """Samples the recovery positions every SAMPLE_EVERY seconds, from the moment the app starts
    (faust's own ``app.timer`` tasks start only once the first recovery is over)."""

    def __init__(self, app: Any, meter: RecoveryMeter, **kwargs: Any) -> None:
        self.app = app
        self.meter = meter
        super().__init__(**kwargs)

    def sample(self) -> RecoverySnapshot[tuple[str, str, int]]:
        self.meter.sample(time.monotonic(), *read_positions(self.app.tables.recovery))
        return self.meter.snapshot()

    @Service.timer(SAMPLE_EVERY)
    async def _tick(self) -> None:
        snap = self.sample()
        if self.app.tables.recovery.in_recovery:
            log.info("%s", log_line(snap))


def install(app: Any, settings: Settings) -> None:
    """Sample recovery progress on ``app``, log it while recovering, and serve it as JSON at
    http://{web_host}:{web_port}/tunggal/progress/."""
    sampler = _Sampler(app, RecoveryMeter())
    app.add_dependency(sampler)  # started with the app, before its consumer and tables

    @app.page(PAGE_PATH, name="tunggal_progress")
    async def progress_page(view: Any, request: Any) -> Any:
        return view.json(document(app, sampler.sample()))

    log.info("recovery progress: http://%s:%d%s (and on this log while recovering)",
             settings.web_host, settings.web_port, PAGE_PATH)
