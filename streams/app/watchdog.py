"""The stall watchdog of a worker: exit non-zero when it has lag and makes no progress.

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

from streams.stall import StallDetector

log = logging.getLogger("tunggal.watchdog")

#: Exit status of a worker that stopped itself because it stalled (EX_SOFTWARE).
EXIT_STALLED = 70


def _die(reason: str) -> None:
    log.critical("%s; exiting with status %d so the group can take over its partitions",
                 reason, EXIT_STALLED)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_STALLED)


def sample(app: Any) -> tuple[int | None, tuple]:
    """(lag, progress marker) of a running faust worker."""
    consumer = app.consumer
    changelogs = app.tables.changelog_topics
    committed = consumer._committed_offset  # noqa: SLF001 (faust keeps no public view)
    recovery = app.tables.recovery
    progress = (sum(v or 0 for v in committed.values()),
                sum(recovery.active_offsets.values()))
    if app.rebalancing:
        return None, progress
    lag = 0
    for tp in consumer.assignment():
        if tp.topic in changelogs:
            continue
        end = consumer.highwater(tp)
        if end is None:
            continue
        lag += max(0, end - (committed.get(tp) or 0))
    return lag, progress


def install(app: Any, timeout: float) -> StallDetector:
    """Watch ``app`` once it runs; does nothing when ``timeout`` <= 0."""
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
            _die(reason)

    return detector
