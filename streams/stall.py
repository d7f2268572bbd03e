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
