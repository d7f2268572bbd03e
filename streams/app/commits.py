"""No offset commit passes a record that was fetched for the streams and never acknowledged.

faust commits a partition up to its first unacknowledged offset (``Consumer._new_offset``), with
two ways past a record that nothing processed:

* When the lowest acknowledged offset is one past the committed one, it commits past the
  committed offset: it takes it for an offset without a record (compaction, a transaction
  marker), which it cannot tell apart right after a seek. A partition never committed (faust
  keeps offset 0 as None) is committed from its first acknowledged run, whatever lies below.
* Offsets it skipped while reading count as done (``Consumer._gap``). When a seek lands while its
  read loop is in the middle of a batch fetched before it, the loop sets the read offset back
  past the seek; the records read again are then dropped as already read, or a later record of
  the old batch makes a gap over them.

Either way a record that was read and lost on its way to a stream is never processed and never
read again, without a trace (streams/app/flow.py has one such race).

``install(app)`` records, per partition, the offsets the consumer fetched for the streams and
that are not committed yet. A commit never passes the lowest of them that is not acknowledged:
where faust would, the commit stops there, and the records from there on become a commit hole
that the watchdog reads again (streams/app/watchdog.py ``repair_holes``). An offset never
fetched (no record there) keeps faust's rules.

The re-read is a seek that the watchdog asks for and the consumer's read loop makes between two
batches (:func:`request_seek`), so no record of an older batch is in flight when it lands.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger("tunggal.commits")

_PATCHED = "_tunggal_commit_guard"
#: faust's own methods, for the tests.
FAUST_NEW_OFFSET = Consumer.__dict__["_new_offset"]
FAUST_GETMANY = Consumer.__dict__["getmany"]
#: Attribute of an installed app: TP -> {offset: monotonic time it was fetched} of the records
#: its consumer fetched for the streams and did not commit yet.
SEEN = "_tunggal_fetched"
#: Attribute of an installed app: TP -> (offset, consumer generation) of the seeks asked for.
SEEKS = "_tunggal_seeks"


def unacked_fetched(consumer: Any, tp: Any) -> list[int]:
    """The offsets of ``tp`` fetched for the streams and not acknowledged, at or above the
    committed offset (empty: none, or not installed). Forgets what was committed."""
    seen = getattr(consumer.app, SEEN, None)
    fetched = seen.get(tp) if seen else None
    if not fetched:
        return []
    committed = consumer._committed_offset.get(tp)  # noqa: SLF001 (faust keeps no public view)
    if committed is not None and min(fetched) < committed:
        for offset in [o for o in fetched if o < committed]:
            del fetched[offset]
    acked = consumer._acked_index.get(tp, ())  # noqa: SLF001
    return [o for o in fetched if o not in acked]


def lowest_unacked(consumer: Any, tp: Any) -> int | None:
    """The lowest of :func:`unacked_fetched` (None: none)."""
    return min(unacked_fetched(consumer, tp), default=None)


def _new_offset(self: Consumer, tp: Any) -> int | None:
    unacked = unacked_fetched(self, tp)
    acked = self._acked.get(tp)  # noqa: SLF001
    if not unacked or not acked:
        return FAUST_NEW_OFFSET(self, tp)
    cap = min(unacked)
    gaps = self._gap.get(tp)  # noqa: SLF001
    if gaps:  # an offset that was fetched holds a record: it is no gap, whatever faust read
        for offset in unacked:
            if gaps.overlaps(offset):
                gaps.chop(offset, offset + 1)
    # faust decides on the acknowledged offsets below the cap only; the others are put back
    index = self._acked_index[tp]  # noqa: SLF001
    rest = [o for o in acked if o >= cap]
    rest_acked = [o for o in rest if o in index]  # not the copies of gaps faust merged earlier
    if rest:
        acked[:] = [o for o in acked if o < cap]
    try:
        offset = FAUST_NEW_OFFSET(self, tp)
    finally:
        if rest:
            acked[:] = sorted(set(acked).union(rest))
            index.update(rest_acked)
    if offset is not None and offset > cap:
        committed = self._committed_offset.get(tp)  # noqa: SLF001
        offset = cap if cap > (0 if committed is None else committed) else None
    return offset


async def _getmany(self: Consumer, timeout: float) -> Any:
    app = self.app
    seeks = getattr(app, SEEKS, None)
    if seeks:
        await _seek(self, seeks)
    seen = getattr(app, SEEN, None)
    if seen is None:
        async for item in FAUST_GETMANY(self, timeout):
            yield item
        return
    changelogs = app.tables.changelog_topics
    acking = app.topics.acks_enabled_for
    clock = time.monotonic
    async for tp, message in FAUST_GETMANY(self, timeout):
        # changelog records are never acknowledged nor committed: not recorded
        if tp.topic not in changelogs and acking(tp.topic):
            fetched = seen.get(tp)
            if fetched is None:
                fetched = seen[tp] = {}
            fetched[message.offset] = clock()
        yield tp, message


async def _seek(consumer: Any, seeks: dict) -> None:
    """Make the seeks asked for that still make sense: same generation, still assigned, no
    rebalance (after one, faust seeks to the committed offsets itself)."""
    asked = dict(seeks)
    seeks.clear()
    app = consumer.app
    if app.rebalancing or not app.flow_control.is_active():
        return
    assigned = consumer.assignment()
    committed = consumer._committed_offset  # noqa: SLF001
    todo = {tp: offset for tp, (offset, generation) in asked.items()
            if tp in assigned and generation == app.consumer_generation_id
            # the commit moved past the hole meanwhile: nothing to read again
            and (committed.get(tp) or 0) <= offset}
    if not todo:
        return
    try:
        await consumer.seek_wait(todo)  # in the consumer's thread, as faust's own seeks
    except Exception as exc:  # noqa: BLE001 (a partition just revoked: the watchdog asks again)
        log.warning("could not seek %s: %r", sorted(todo.items()), exc)
        return
    log.info("sought %s", ", ".join(f"{tp.topic}[{tp.partition}] to {o}"
                                    for tp, o in sorted(todo.items())))


def request_seek(app: Any, tp: Any, offset: int) -> None:
    """Ask the consumer's read loop to seek ``tp`` to ``offset`` before its next fetch."""
    getattr(app, SEEKS)[tp] = (offset, app.consumer_generation_id)


def fetched_since(app: Any, tp: Any, offset: int) -> float | None:
    """When the record at ``offset`` of ``tp`` was last fetched (None: not since its commit)."""
    seen = getattr(app, SEEN, None)
    return seen.get(tp, {}).get(offset) if seen else None


def head_of(consumer: Any, tp: Any) -> int | None:
    """The lowest offset of ``tp`` that faust counts as done and has not committed: acknowledged,
    or in a gap of offsets without records (None: none)."""
    acked = consumer._acked.get(tp)  # noqa: SLF001
    gaps = consumer._gap.get(tp)  # noqa: SLF001
    heads = ([min(acked)] if acked else []) + ([gaps.begin()] if gaps else [])
    return min(heads) if heads else None


def install(app: Any) -> None:
    """Record what ``app``'s consumer fetches for its streams, hold commits that would pass an
    unacknowledged record, and make requested seeks between batches (the class is patched once;
    consumers of apps without ``install`` keep faust's behaviour)."""
    if not getattr(Consumer, _PATCHED, False):
        Consumer._new_offset = _new_offset  # noqa: SLF001
        Consumer.getmany = _getmany
        setattr(Consumer, _PATCHED, True)
    seen: dict = {}
    setattr(app, SEEN, seen)
    setattr(app, SEEKS, {})

    @app.on_partitions_revoked.connect
    async def _forget(sender: Any, revoked: Any, **kwargs: Any) -> None:
        for tp in revoked:
            seen.pop(tp, None)
