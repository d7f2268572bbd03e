"""No offset commit passes a record that was handed to the streams and never acknowledged.

faust commits a partition up to its first unacknowledged offset, with one exception
(``Consumer._new_offset``): when the lowest acknowledged offset is one past the committed one, it
commits past the committed offset even though that record was never acknowledged. That
tolerance exists for offsets that hold no record (a compacted one, a transaction marker), which
faust cannot tell apart right after a seek. But it also commits past a real record that was
read and lost on its way to a stream (streams/app/flow.py has one such race, and
streams/stall.py ``CommitHoles`` describes the others): the record is never processed and never
read again, without a trace.

``install(app)`` records, per partition, the offsets the consumer handed to the streams and
that are not yet committed. When faust would commit past the committed offset while the record
at it was handed over and not acknowledged, the commit is held instead, so the record becomes a
commit hole that the watchdog reads again (streams/app/watchdog.py ``repair_holes``). An offset
faust never handed over (no record there) keeps faust's tolerance.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer

_PATCHED = "_tunggal_holds_unacked_head"
#: faust's own method, for the tests.
FAUST_NEW_OFFSET = Consumer.__dict__["_new_offset"]
#: Attribute of an installed app: TP -> offsets its consumer handed to the streams and that are
#: not yet committed.
SEEN = "_tunggal_handed_over"


def _new_offset(self: Consumer, tp: Any) -> int | None:
    seen = getattr(self.app, SEEN, None)
    if seen is not None:
        handed = seen.get(tp)
        committed = self._committed_offset.get(tp)  # noqa: SLF001 (faust keeps no public view)
        if handed and committed is not None:
            if min(handed) < committed:
                handed.difference_update([o for o in handed if o < committed])
            if committed in handed and head_of(self, tp) == committed + 1 \
                    and committed not in self._acked_index.get(tp, ()):  # noqa: SLF001
                return None  # faust would commit past a record it handed over: hold
    return FAUST_NEW_OFFSET(self, tp)


def head_of(consumer: Any, tp: Any) -> int | None:
    """The lowest offset of ``tp`` that faust counts as done and has not committed: acknowledged,
    or in a gap of offsets without records (None: none)."""
    acked = consumer._acked.get(tp)  # noqa: SLF001
    gaps = consumer._gap.get(tp)  # noqa: SLF001
    heads = ([min(acked)] if acked else []) + ([gaps.begin()] if gaps else [])
    return min(heads) if heads else None


def handed_over(app: Any, tp: Any, offset: int) -> bool:
    """Whether ``app``'s consumer handed the record at ``offset`` of ``tp`` to the streams (and
    it is not committed); False when not installed."""
    seen = getattr(app, SEEN, None)
    return bool(seen) and offset in seen.get(tp, ())


def install(app: Any) -> None:
    """Record what ``app``'s consumer hands to its streams, and hold commits that would pass an
    unacknowledged record (the class is patched once; consumers of other apps are unchanged)."""
    if not getattr(Consumer, _PATCHED, False):
        Consumer._new_offset = _new_offset  # noqa: SLF001
        setattr(Consumer, _PATCHED, True)
    conductor = app.topics
    deliver = conductor.on_message
    handed: dict = {}
    changelogs: set[str] = set()

    async def on_message(message: Any) -> Any:
        if not changelogs:  # every table is declared before the first record arrives
            changelogs.update(app.tables.changelog_topics or {""})
        topic = message.topic
        # changelog records are never acknowledged nor committed: not recorded
        if topic not in changelogs and conductor.acks_enabled_for(topic):
            tp = message.tp
            offsets = handed.get(tp)
            if offsets is None:
                offsets = handed[tp] = set()
            offsets.add(message.offset)
        return await deliver(message)

    conductor.on_message = on_message  # the consumer takes its callback from here when created
    setattr(app, SEEN, handed)

    @app.on_partitions_revoked.connect
    async def _forget(sender: Any, revoked: Any, **kwargs: Any) -> None:
        for tp in revoked:
            handed.pop(tp, None)
