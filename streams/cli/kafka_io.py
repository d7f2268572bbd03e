"""Publishing and reading topics for people and scripts (produce, dump, tail)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import AsyncIterator, Callable, TextIO

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import TopicPartition

from streams.cli.progress import Progress
from streams.codecs.contract import read_enrollment_id
from streams.errors import BrokerError

log = logging.getLogger("tunggal.io")


def key_of_line(line: bytes) -> bytes | None:
    """The record key for one input line: its ``enrollment_id`` when it can be read."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    eid = read_enrollment_id(obj)
    return eid.encode("utf-8") if eid is not None else None


async def _start(client, bootstrap: str) -> None:
    try:
        await client.start()
    except KafkaConnectionError as exc:
        raise BrokerError(f"cannot reach Kafka at {bootstrap}: {exc}. Start one with "
                          "`tunggal broker start` or set TUNGGAL_BROKER.") from None


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                            max_batch_size=1 << 20, max_request_size=8 << 20,
                            compression_type=None, enable_idempotence=True)


async def produce_lines(bootstrap: str, topic: str, lines: AsyncIterator[bytes] | list[bytes],
                        *, total: int | None = None, rate: float | None = None,
                        progress: Progress | None = None) -> int:
    """Publish each line as-is (malformed ones too: the engine dead-letters them), keyed by its
    ``enrollment_id`` when readable. ``rate`` limits records per second. Returns the count."""
    producer = make_producer(bootstrap)
    await _start(producer, bootstrap)
    sent = 0
    pending: list[asyncio.Future] = []
    started = time.monotonic()
    progress = progress or Progress(f"produce {topic}", total)
    try:
        async def each(line: bytes) -> None:
            nonlocal sent
            pending.append(await producer.send(topic, value=line, key=key_of_line(line)))
            sent += 1
            progress.update()
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)

        if isinstance(lines, list):
            for line in lines:
                await each(line)
        else:
            async for line in lines:
                await each(line)
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
        progress.close()
    return sent


def read_jsonl_lines(path: Path) -> list[bytes]:
    with path.open("rb") as fh:
        return [line.rstrip(b"\r\n") for line in fh if line.strip()]


async def read_topic(bootstrap: str, topic: str, *, idle: float = 5.0,
                     on_record: Callable[[object], None], follow: bool = False,
                     from_beginning: bool = True) -> int:
    """Read every partition of ``topic`` (no consumer group, no commits). Stops once every
    partition reached its end and nothing arrived for ``idle`` seconds, unless ``follow``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    await _start(consumer, bootstrap)
    count = 0
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()  # noqa: SLF001 (aiokafka has no public API)
            partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise BrokerError(f"topic {topic!r} does not exist on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        last = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            got = 0
            for _tp, records in batch.items():
                for rec in records:
                    on_record(rec)
                    got += 1
            count += got
            if got:
                last = time.monotonic()
                continue
            if follow:
                continue
            if time.monotonic() - last >= idle:
                ends = await consumer.end_offsets(tps)
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= ends[tp] for tp in tps):
                    break
    finally:
        await consumer.stop()
    return count


def record_as_json_line(rec) -> bytes:
    """A record's value when it is JSON, else a wrapper that keeps the bytes."""
    try:
        orjson.loads(rec.value)
        return rec.value
    except (orjson.JSONDecodeError, TypeError):
        import base64
        return orjson.dumps({"topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
                             "key": rec.key.decode("utf-8", "replace") if rec.key else None,
                             "value_base64": base64.b64encode(rec.value or b"").decode()})


def format_verdict(v: dict) -> str:
    """One human-readable line for ``tunggal verdicts tail``."""
    person = v.get("person_id") or "-"
    reasons = ",".join(v.get("reasons", [])) or "-"
    best = v.get("matches") or []
    evidence = f" best={best[0]['enrollment_id']}@{best[0]['score']:.3f}" if best else ""
    return (f"{v.get('decided_at', ''):29s} {v.get('verdict', '?'):12s} r{v.get('revision', '?'):<3}"
            f" {v.get('enrollment_id')}  nik={v.get('nik')}  person={person}{evidence}"
            f"  [{reasons}]")


def dump_topic(bootstrap: str, topic: str, path: Path, idle: float) -> int:
    """Write every record of ``topic`` to ``path``, one JSON line each, in topic order."""
    with path.open("wb") as fh:
        return asyncio.run(read_topic(bootstrap, topic, idle=idle,
                                      on_record=lambda r: fh.write(record_as_json_line(r) + b"\n")))
