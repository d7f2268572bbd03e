"""When a worker is stalled: it has work waiting and has made no progress for too long.

Pure (no faust): :mod:`streams.app.watchdog` feeds it samples from the running worker and exits
the process when it answers with a reason. A stalled worker that stays up is the worst failure
(REFERENCE section 8: consumers that silently stop fetching): it holds its partitions, so no
other worker takes them over, and nothing in the logs says so. Exiting non-zero hands the
partitions to the rest of the group and lets a supervisor restart it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable


@dataclass(slots=True)
class StallDetector:
    """Feed it ``observe(now, lag, progress)``; it answers a reason once the worker is stalled.

    ``lag``: records waiting on the worker's partitions (``None`` when unknown, e.g. during a
    rebalance). ``progress``: anything that changes whenever the worker advances (committed
    offsets, changelog recovery positions). Idle (no lag) is never a stall.
    """

    timeout: float
    _marker: Hashable = field(default=None, init=False)
    _since: float | None = field(default=None, init=False)

    def observe(self, now: float, lag: int | None, progress: Hashable) -> str | None:
        if self.timeout <= 0:
            return None  # disabled
        if self._since is None or progress != self._marker or lag == 0:
            self._marker, self._since = progress, now
            return None
        if lag is None:
            return None  # unknown (a rebalance): no judgement either way
        idle = now - self._since
        if idle >= self.timeout:
            return (f"stalled: {lag:,} records waiting and no progress for {idle:.0f} s "
                    f"(TUNGGAL_STALL_TIMEOUT={self.timeout:g})")
        return None

    def silent_for(self, now: float, last_sample: float) -> str | None:
        """A reason when the samples themselves stopped (the event loop is blocked)."""
        if self.timeout > 0 and now - last_sample >= self.timeout:
            return (f"stalled: the event loop has not run the watchdog for {now - last_sample:.0f} s "
                    f"(TUNGGAL_STALL_TIMEOUT={self.timeout:g})")
        return None


@dataclass(slots=True)
class CommitHoles:
    """Finds partitions whose offset commit is held by records that nothing will process.

    faust commits a partition up to its first unacknowledged offset. A record that left the
    consumer but never reached a stream (faust sets its read offset past a fetched record whether
    or not the record was queued; races of its seek after table recovery) is never acknowledged,
    so the commit stops there for good while later records are processed: the worker looks
    busy, its lag only grows, and the stall watchdog ends it minutes later. ``observe`` answers
    True when such a hole, records ``[committed, head)`` with none of them in flight, has stayed
    for ``patience`` seconds; the adapter then has the partition read again from its committed
    offset, so the held records are processed (the engine's stages are idempotent; later records
    already acked are acknowledged once). Each repeated repair of a partition waits twice as
    long, up to ``max_patience``, so a hole that a re-read does not fill is not re-read in a loop.
    """

    patience: float = 30.0
    max_patience: float = 600.0
    _seen: dict = field(default_factory=dict, init=False)  # tp -> (committed, head, since)
    _wait: dict = field(default_factory=dict, init=False)  # tp -> patience of its next repair
    _repaired: dict = field(default_factory=dict, init=False)  # tp -> committed when repaired

    def observe(self, now: float, tp: Hashable, committed: int | None, head: int | None,
                in_flight: bool) -> bool:
        """``head``: the lowest offset done and not yet committed (None: none); ``in_flight``:
        a record of ``[committed, head)`` is being processed."""
        if committed is not None and committed > self._repaired.get(tp, committed):
            del self._repaired[tp]  # the commit passed the last repair's hole: patience again
            self._wait.pop(tp, None)
        if committed is None or head is None or head <= committed or in_flight:
            self._seen.pop(tp, None)
            return False
        seen = self._seen.get(tp)
        if seen is None or seen[:2] != (committed, head):
            self._seen[tp] = (committed, head, now)
            return False
        wait = self._wait.get(tp, self.patience)
        if now - seen[2] < wait:
            return False
        self._seen[tp] = (committed, head, now)
        self._wait[tp] = min(wait * 2, self.max_patience)
        self._repaired[tp] = committed
        return True

    def forget(self, tp: Hashable) -> None:
        """``tp`` was revoked: its next owner starts from its committed offset anyway."""
        self._seen.pop(tp, None)
        self._wait.pop(tp, None)
        self._repaired.pop(tp, None)
