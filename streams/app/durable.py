"""Offsets are committed only once every record the committed events caused is on the broker.

faust commits offsets after ``producer.flush()`` (``Consumer._commit_offsets``) and flushes on a
partition revoke (``App._on_partitions_revoked``), but that flush is not a barrier:

* Table writes are synchronous (``table[key] = value``), so their changelog records go through
  ``ProducerBuffer``, an asyncio queue drained by a background task. ``ProducerBuffer.flush`` is
  ``flush_atmost(None)``, which *returns* as soon as one message takes longer than 0.1 s to be
  handed to aiokafka (``asyncio.wait_for(self.message_sent.wait(), timeout=0.1)``), with the
  rest still queued. aiokafka's own ``flush`` then waits only for what it already holds, and the
  offsets are committed. A message is handed over only when aiokafka has room in the partition's
  batch, which on a loaded 2-core machine or with large records (gallery rows) easily takes more
  than 0.1 s.
* A send that fails (broker unreachable past the retry time) only logs a warning
  (``Topic._on_published``); the commit goes ahead.

So a changelog record (a ``pending`` fan-out state, an ``index-rows`` row, a ``done`` marker) can
still sit in the worker's memory when the offsets of the events that wrote it are committed. If
the worker then dies, or its partition moves to a worker whose recovery reads the changelog
before the record lands, the write is lost while its input is never read again: a fan-out waits
forever for a reply that was already consumed, and its enrollment never gets a verdict.

``install(app)`` makes the flush a barrier: the buffer is drained completely (also when faust
flushes it on stop), then every future of a send or changelog write made so far
is awaited (the broker acknowledged it, ``acks=-1``) before ``flush`` returns, and a failed send
raises :class:`DeliveryFailed` instead of letting the commit pass (the worker crashes, restarts,
and re-reads from the last good commit). Only the producer instance of ``app`` is changed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("tunggal.durable")


class DeliveryFailed(RuntimeError):
    """A record the engine sent was not acknowledged: offsets must not be committed."""


class PendingSends:
    """Futures of records handed to the producer and not yet acknowledged by the broker."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Future] = set()
        self._failed: list[BaseException] = []
        #: how many flushes faust's own flush would have ended with records still unsent
        self.early_flushes = 0

    def __len__(self) -> int:
        return len(self._pending)

    def track(self, fut: Any) -> None:
        if not isinstance(fut, asyncio.Future):
            return
        if fut.done():
            self._settled(fut)
            return
        self._pending.add(fut)
        fut.add_done_callback(self._settled)

    def _settled(self, fut: asyncio.Future) -> None:
        self._pending.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            self._failed.append(fut.exception())

    async def wait(self) -> None:
        """Return once every record tracked so far is acknowledged; raise if one failed."""
        snapshot = list(self._pending)
        if snapshot:
            await asyncio.wait(snapshot)
        if self._failed:
            first, n = self._failed[0], len(self._failed)
            self._failed.clear()
            raise DeliveryFailed(f"{n} record(s) the engine sent were not acknowledged by the "
                                 f"broker (first: {first!r}); not committing offsets")


def make_durable(producer: Any) -> PendingSends:
    """Track every send of ``producer`` and make its ``flush`` wait for all of them."""
    sends = PendingSends()
    send_soon, send, flush = producer.send_soon, producer.send, producer.flush

    def tracked_send_soon(fut: Any) -> None:  # table changelog writes (ProducerBuffer)
        sends.track(fut)
        send_soon(fut)

    async def tracked_send(*args: Any, **kwargs: Any) -> Any:  # topic.send and the buffer's sends
        fut = await send(*args, **kwargs)
        sends.track(fut)
        return fut

    async def durable_flush() -> None:
        await flush()  # faust: hands the buffer to aiokafka (may give up), aiokafka flush
        if len(sends):
            sends.early_flushes += 1
            log.debug("producer flush returned with %d records unacknowledged; waiting",
                      len(sends))
        try:
            await sends.wait()
        except DeliveryFailed as exc:
            log.critical("%s", exc)
            raise

    buffer = getattr(producer, "buffer", None)
    if buffer is not None and hasattr(buffer, "size"):
        async def drain() -> None:  # faust's own flush (commit, revoke, stop) waits it out too
            while buffer.size:
                await asyncio.sleep(0.005)

        buffer.flush = drain
    producer.send_soon = tracked_send_soon
    producer.send = tracked_send
    producer.flush = durable_flush
    producer.tunggal_sends = sends
    return sends


def install(app: Any) -> None:
    """Make ``app``'s producer flush a durability barrier (before every offset commit and on every
    partition revoke), whenever faust creates the producer."""
    new_producer = app._new_producer  # noqa: SLF001 (faust has no hook for this)

    def durable_producer() -> Any:
        producer = new_producer()
        make_durable(producer)
        return producer

    app._new_producer = durable_producer  # noqa: SLF001
