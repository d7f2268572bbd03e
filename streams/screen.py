"""Which input records a topic replay need not re-drive: the proof that a record was processed.

A topic replay (``tunggal replay --from-beginning`` / ``--since``) moves the worker group back on
the enrollments topic. Every record the workers re-read that they already processed costs a full
trip through the stream machinery only to be skipped (about 2,000 records/s per worker). This
module decides, from the workers' own durable state, which records of the replayed range are
*proven* processed, so that the group is rewound only to the first record that is not:

* the record at ``partition:offset`` is the request that finished its enrollment's matching
  (the ``done`` table maps the enrollment id to exactly that position: its evidence reached the
  resolver, whose verdicts follow from Kafka alone);
* it was dead-lettered (a dead letter names its source position; a record before the group's
  committed offset was acknowledged only after its dead letter and any REJECTED verdict were
  sent);
* it is a byte-identical copy of the finished record of the same enrollment in the replayed
  range (a station's re-send: the engine's own fast path skips those once the enrollment is
  finished; a copy taken while the other was in flight ran the same matching, idempotently).

Anything else (work still in flight, a re-send whose original lies before the replayed range, a
record re-serialised with other bytes, state that was lost) is *unproven*: the group re-reads
from the first such record, and the engine's own per-record checks decide from there, as before.
Skipping is therefore an optimisation only: the records skipped are ones the engine would have
skipped itself.

Pure: the caller reads the topics (streams/cli/replay.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def record_digest(value: bytes | None) -> bytes:
    """A fingerprint of a record's bytes (for the byte-identical re-send check)."""
    return hashlib.blake2b(value or b"", digest_size=16).digest()


@dataclass(slots=True)
class PartitionScreen:
    """The screen of one input partition over the replayed range ``[start, committed)``.

    Feed every record of the range with :meth:`see`, then call :meth:`close`; :attr:`resume` is
    the offset the group must re-read from (``committed`` when every record is proven)."""

    partition: int
    start: int
    committed: int
    finished: int = 0  #: records that are their enrollment's finished request
    dead_lettered: int = 0
    resent: int = 0  #: byte-identical copies of a finished record (re-sends, either way round)
    first_unproven: int | None = None
    _finished_digest: dict[bytes, bytes] = field(default_factory=dict)
    #: records not proven by themselves, in offset order: (offset, key, digest)
    _undecided: list[tuple[int, bytes | None, bytes]] = field(default_factory=list)

    def see(self, offset: int, key: bytes | None, value: bytes | None,
            done: dict[bytes, bytes], dead: set[tuple[int, int]]) -> None:
        """One record of the partition. ``done``: enrollment id -> the request id that finished
        it (``partition:offset`` for one that came from the enrollments topic); ``dead``: the
        (partition, offset) of every dead-lettered input record."""
        if not self.start <= offset < self.committed:
            return  # at or after the committed offset: never acknowledged, nothing is proven
        if key is not None and done.get(key) == f"{self.partition}:{offset}".encode():
            self.finished += 1
            self._finished_digest[key] = record_digest(value)
        elif (self.partition, offset) in dead:
            self.dead_lettered += 1
        else:
            # Perhaps a copy of the record that finished, which may come later in the range (a
            # re-send taken while the original was still in flight can finish the enrollment).
            self._undecided.append((offset, key, record_digest(value)))

    def close(self) -> None:
        """Decide the copies once the whole range was seen."""
        for offset, key, digest in self._undecided:
            if key is not None and self._finished_digest.get(key) == digest:
                self.resent += 1
            else:
                self.first_unproven = offset
                break
        self._undecided.clear()

    @property
    def proven(self) -> int:
        return self.finished + self.dead_lettered + self.resent

    @property
    def resume(self) -> int:
        return self.committed if self.first_unproven is None else self.first_unproven

    @property
    def scanned(self) -> int:
        """Records of the range (all read by the screen)."""
        return max(0, self.committed - self.start)

    @property
    def skipped(self) -> int:
        return max(0, self.resume - self.start)


def parse_rid_positions(done_changelog: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes]:
    """The ``done`` table from its changelog records in order (a ``None`` value deletes)."""
    out: dict[bytes, bytes] = {}
    for key, value in done_changelog:
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
