"""Why offsets could be committed before the table writes they cover were on the broker, and the
barrier that prevents it (streams/app/durable.py)."""

import asyncio
from types import SimpleNamespace

import pytest
from faust.transport.producer import ProducerBuffer

from streams.app.durable import DeliveryFailed, make_durable

HANDOVER_S = 0.15  # one record handed to aiokafka takes longer than faust's 0.1 s patience


class SlowBuffer(ProducerBuffer):
    """faust's ProducerBuffer, with a hand-over to the client that takes HANDOVER_S per record
    (a full batch waiting for the broker) and a broker acknowledgement right after."""

    async def _send_pending(self, fut):
        await asyncio.sleep(HANDOVER_S)
        if fut.message == "poison":
            fut.set_exception(OSError("broker unreachable"))
        else:
            fut.set_result("acked")


def _future(message="changelog record"):
    fut = asyncio.get_running_loop().create_future()
    fut.message = message
    return fut


@pytest.fixture
async def buffer():
    buf = SlowBuffer()
    buf.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    await buf.start()
    yield buf
    while buf.size:  # let the slow hand-over finish, or stopping the buffer refuses
        await asyncio.sleep(0.05)
    await asyncio.sleep(2 * HANDOVER_S)
    await buf.stop()


async def test_fausts_flush_returns_with_records_still_buffered(buffer):
    futures = [_future() for _ in range(5)]
    for fut in futures:
        buffer.put(fut)
    await buffer.flush()  # what Consumer._commit_offsets awaits before committing
    assert buffer.size > 0
    assert not all(f.done() for f in futures)  # ...and the offsets would be committed now


async def test_the_durable_flush_waits_for_every_record(buffer):
    async def client_flush():  # aiokafka's flush: only what it already holds
        pass

    producer = SimpleNamespace(send_soon=buffer.put, flush=None, send=None)

    async def flush():
        await buffer.flush()
        await client_flush()

    producer.flush = flush
    sends = make_durable(producer)
    futures = [_future() for _ in range(5)]
    for fut in futures:
        producer.send_soon(fut)
    await producer.flush()
    assert all(f.done() for f in futures) and len(sends) == 0
    assert sends.early_flushes == 1


async def test_a_failed_record_stops_the_commit(buffer):
    async def flush():
        await buffer.flush()

    producer = SimpleNamespace(send_soon=buffer.put, flush=flush, send=None)
    make_durable(producer)
    producer.send_soon(_future())
    producer.send_soon(_future("poison"))
    with pytest.raises(DeliveryFailed, match="broker unreachable"):
        await producer.flush()


async def test_fausts_own_buffer_flush_drains_completely_once_installed(buffer):
    producer = SimpleNamespace(send_soon=buffer.put, buffer=buffer, send=None)

    async def flush():
        await producer.buffer.flush()

    producer.flush = flush
    make_durable(producer)
    for _ in range(4):
        producer.send_soon(_future())
    await buffer.flush()  # what faust calls on commit, on revoke and when the producer stops
    assert buffer.size == 0
