"""A progress line for long work: count, rate, and ETA when the total is known."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Redraws one line on a terminal at most ``every`` seconds; prints a line per update
    interval when the stream is not a terminal (logs, CI)."""

    def __init__(self, label: str, total: int | None = None, *, stream: TextIO | None = None,
                 every: float = 0.5, unit: str = "rec") -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.every = every if self.stream.isatty() else max(every, 5.0)
        self.count = 0
        self.started = time.monotonic()
        self._last = 0.0
        self.extra = ""

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.count / elapsed if elapsed > 0 else 0.0

    def update(self, n: int = 1, *, extra: str = "") -> None:
        self.count += n
        if extra:
            self.extra = extra
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._draw()

    def line(self) -> str:
        rate = self.rate
        parts = [f"{self.label}: {self.count:,}"]
        if self.total:
            pct = 100.0 * self.count / self.total
            parts[0] += f"/{self.total:,} ({pct:5.1f}%)"
        parts.append(f"{rate:,.0f} {self.unit}/s")
        if self.total and rate > 0:
            parts.append(f"ETA {_fmt_duration((self.total - self.count) / rate)}")
        parts.append(f"elapsed {_fmt_duration(time.monotonic() - self.started)}")
        if self.extra:
            parts.append(self.extra)
        return "  ".join(parts)

    def _draw(self) -> None:
        if self.stream.isatty():
            self.stream.write("\r\033[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream.isatty():
            self.stream.write("\r\033[K")
        self.stream.write(self.line() + "\n")
        self.stream.flush()
