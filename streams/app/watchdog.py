"""The stall watchdog of a worker: repair commit holes; exit non-zero when it has lag and makes
no progress.

Every few seconds :func:`repair_holes` looks for partitions whose offset commit is held by
records that nothing will process (:class:`streams.stall.CommitHoles`) and reads them again.

A timer on the worker's event loop samples, every few seconds, the lag of the partitions it
processes (end offset minus committed offset, changelogs excluded) and a progress marker (the
committed offsets and the positions of changelog recovery); :class:`streams.stall.StallDetector`
decides. A thread checks that the timer itself keeps running, so a blocked event loop is caught
too. On a stall the worker logs why and exits with :data:`EXIT_STALLED` at once: it cannot be
trusted to stop cleanly, and an unclean exit makes the next start recover its state from the
changelogs (streams/app/worker.py).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

from streams.app import commits
from streams.stall import CommitHoles, StallDetector

log = logging.getLogger("tunggal.watchdog")

#: Exit status of a worker that stopped itself because it stalled (EX_SOFTWARE).
EXIT_STALLED = 70


def _die(reason: str, app: Any = None) -> None:
    log.critical("%s; exiting with status %d so the group can take over its partitions",
                 reason, EXIT_STALLED)
    if app is not None:
        try:
            for line in diagnose(app):
                log.critical("stalled partition %s", line)
        except Exception:  # noqa: BLE001 (a diagnosis must never keep a stalled worker up)
            log.exception("stall diagnosis failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_STALLED)


def _stream_partitions(app: Any) -> list[Any]:
    """The worker's assigned partitions that streams consume (changelogs excluded)."""
    changelogs = app.tables.changelog_topics
    return [tp for tp in app.consumer.assignment() if tp.topic not in changelogs]


def _in_flight(consumer: Any) -> dict[Any, list[int]]:
    """Offsets per partition of the records streams took and did not acknowledge yet (an acked
    copy of a record read twice stays in faust's set until it is collected: left out)."""
    flying: dict = {}
    for message in list(consumer._unacked_messages):  # noqa: SLF001 (faust keeps no public view)
        if not message.acked:
            flying.setdefault(message.tp, []).append(message.offset)
    return flying


def sample(app: Any) -> tuple[int | None, tuple]:
    """(lag, progress marker) of a running faust worker. Progress: committed offsets, changelog
    recovery positions, and the rebuild steps reported for the progress page (a posting-list
    rebuild of a large partition can take minutes: it must not count as a stall)."""
    consumer = app.consumer
    committed = consumer._committed_offset  # noqa: SLF001 (faust keeps no public view)
    recovery = app.tables.recovery
    steps = vars(app).get("tunggal_steps", {})  # streams.app.progress.report_step
    progress = (sum(v or 0 for v in committed.values()),
                sum(recovery.active_offsets.values()),
                sum(int(step.get("done") or 0) for step in steps.values()))
    if app.rebalancing:
        return None, progress
    lag = 0
    for tp in _stream_partitions(app):
        end = consumer.highwater(tp)
        if end is None:
            continue
        lag += max(0, end - (committed.get(tp) or 0))
    return lag, progress


def diagnose(app: Any) -> list[str]:
    """What faust's consumer knows of each lagging partition: where it reads, what it committed,
    which processed offsets wait for a commit, and what is in flight. A stall with records acked
    after an offset that never was shows a record lost between fetch and stream."""
    consumer = app.consumer
    committed = consumer._committed_offset  # noqa: SLF001
    unacked = _in_flight(consumer)
    out = []
    for tp in sorted(_stream_partitions(app)):
        end = consumer.highwater(tp)
        done = committed.get(tp)
        if end is None or (done or 0) >= end:
            continue
        acked = sorted(consumer._acked.get(tp, ()))  # noqa: SLF001
        gaps = sorted((iv.begin, iv.end) for iv in consumer._gap.get(tp, ()))  # noqa: SLF001
        flying = sorted(unacked.get(tp, ()))
        out.append(f"{tp.topic}[{tp.partition}]: end {end}, committed {done}, "
                   f"read {consumer._read_offset.get(tp)}, "  # noqa: SLF001
                   f"acked {len(acked)} {acked[:5]}..{acked[-3:]}, gaps {gaps[:5]}, "
                   f"unacked {len(flying)} {flying[:5]}")
    return out


#: Seconds between two looks for commit holes (TUNGGAL_HOLE_PATIENCE: how long one may stay).
HOLE_EVERY = 5.0


async def repair_holes(app: Any, holes: CommitHoles, now: float) -> list[tuple[Any, int, int]]:
    """Ask for a re-read of every partition whose commit is held by records nothing will
    process, from its committed offset (:class:`streams.stall.CommitHoles`); the consumer's read
    loop seeks before its next fetch (:func:`streams.app.commits.request_seek`). Answers
    ``(tp, from, head)`` of each partition to read again."""
    if app.rebalancing:
        return []
    consumer = app.consumer
    committed = consumer._committed_offset  # noqa: SLF001 (faust keeps no public view)
    flying = _in_flight(consumer)
    asked = []
    for tp in _stream_partitions(app):
        base = committed.get(tp)
        if base is None:  # never committed (faust keeps offset 0 as None)
            base = commits.lowest_unacked(consumer, tp)
        head = commits.head_of(consumer, tp)
        busy = False
        if base is not None and head is not None and head > base:
            fetched = commits.fetched_since(app, tp, base)
            busy = (any(base <= off < head for off in flying.get(tp, ()))
                    # read again lately: waiting in a stream's queue behind others
                    or (fetched is not None and now - fetched < holes.patience))
        if holes.observe(now, tp, base, head, busy):
            log.warning("%s[%d]: offsets %d..%d were read but never processed (processed from "
                        "%d on, none in flight for %.0f s or more); reading the partition "
                        "again from %d", tp.topic, tp.partition, base, head - 1, head,
                        holes.patience, base)
            commits.request_seek(app, tp, base)
            asked.append((tp, base, head))
    return asked


def install(app: Any, timeout: float, hole_patience: float = 30.0) -> StallDetector:
    """Watch ``app`` once it runs: commit holes are repaired (:func:`repair_holes`), and a stall
    ends the worker (nothing of this when ``timeout`` <= 0)."""
    holes = CommitHoles(hole_patience)

    @app.timer(min(HOLE_EVERY, hole_patience / 2), name="tunggal.commit_holes")
    async def look_for_holes() -> None:
        try:
            await repair_holes(app, holes, time.monotonic())
        except Exception:  # noqa: BLE001 (a partially started consumer: look next time)
            log.debug("commit holes: no look", exc_info=True)

    @app.on_partitions_revoked.connect
    async def _forget_holes(sender: Any, revoked: Any, **kwargs: Any) -> None:
        for tp in revoked:
            holes.forget(tp)

    detector = StallDetector(timeout)
    if timeout <= 0:
        return detector
    every = max(1.0, min(10.0, timeout / 10))
    last = {"sample": 0.0}

    def guard() -> None:
        while True:
            time.sleep(every)
            reason = detector.silent_for(time.monotonic(), last["sample"])
            if reason:
                _die(reason)

    @app.timer(every, name="tunggal.stall_watchdog")
    async def watch() -> None:
        now = time.monotonic()
        if not last["sample"]:  # first run: from now on the loop must keep sampling
            threading.Thread(target=guard, name="tunggal-stall-guard", daemon=True).start()
        elif reason := detector.silent_for(now, last["sample"]):
            _die(reason)  # the loop (or the whole process) was frozen; the thread may be late
        last["sample"] = now
        try:
            lag, progress = sample(app)
        except Exception:  # noqa: BLE001 (a partially started consumer: judge next time)
            log.debug("stall watchdog: no sample", exc_info=True)
            return
        reason = detector.observe(now, lag, progress)
        if reason:
            _die(reason, app)

    return detector
