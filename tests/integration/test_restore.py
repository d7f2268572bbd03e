"""The restore before start (streams/app/restore.py) on the real broker: a changelog read into a
store gives exactly the rows a replay of the log gives (last write wins, tombstones delete), with
faust's persisted offset; a second restore reads only what was written since."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.app.engine import ROCKSDB_OPTIONS
from streams.app.restore import (
    OFFSET_KEY,
    Part,
    load_assignment,
    open_store,
    restore,
    save_assignment,
)

PARTITIONS = 2


async def _create(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


async def _send(bootstrap: str, topic: str, records: list[tuple[int, bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for part, key, value in records:
            await producer.send(topic, key=key, value=value, partition=part)
        await producer.flush()
    finally:
        await producer.stop()


def _records(rng: random.Random, n: int) -> list[tuple[int, bytes, bytes | None]]:
    """Puts, overwrites and tombstones over a small key space, some values large."""
    out = []
    for _ in range(n):
        key = b"id-%d" % rng.randrange(60)
        if rng.random() < 0.15:
            value = None
        else:
            value = rng.randbytes(rng.choice((10, 200, 40_000)))
        out.append((rng.randrange(PARTITIONS), key, value))
    return out


def _expected(records: list[tuple[int, bytes, bytes | None]], part: int) -> dict[bytes, bytes]:
    rows: dict[bytes, bytes] = {}
    for p, key, value in records:
        if p != part:
            continue
        if value is None:
            rows.pop(key, None)
        else:
            rows[key] = value
    return rows


def _content(path: str) -> tuple[dict[bytes, bytes], int | None]:
    db = open_store(path, ROCKSDB_OPTIONS)
    try:
        rows = {k: v for k, v in db.items() if k != OFFSET_KEY}
        raw = db.get(OFFSET_KEY)
        return rows, None if raw is None else int(raw)
    finally:
        db.close()


def test_restore_replays_a_changelog_exactly_and_then_only_its_tail(kafka: str,
                                                                    tmp_path: Path) -> None:
    topic = f"restore-{uuid.uuid4().hex[:8]}-changelog"
    asyncio.run(_create(kafka, topic))
    rng = random.Random(7)
    first = _records(rng, 400)
    asyncio.run(_send(kafka, topic, first))
    parts = [Part(topic, p, str(tmp_path / "v1" / "tables" / f"t-{p}.db"), "t", p == 1)
             for p in range(PARTITIONS)]
    save_assignment(tmp_path, parts)
    assert load_assignment(tmp_path) == parts

    report = asyncio.run(restore(kafka, tmp_path, ROCKSDB_OPTIONS))
    assert report.records == len(first) and report.parts == PARTITIONS
    for p in range(PARTITIONS):
        rows, offset = _content(parts[p].path)
        assert rows == _expected(first, p)
        # faust's persisted offset: the last offset applied, so faust's recovery has nothing left
        assert offset == sum(1 for q, _k, _v in first if q == p) - 1

    more = _records(rng, 150)
    asyncio.run(_send(kafka, topic, more))
    again = asyncio.run(restore(kafka, tmp_path, ROCKSDB_OPTIONS))
    assert again.records == len(more)  # only the tail is read
    for p in range(PARTITIONS):
        rows, offset = _content(parts[p].path)
        assert rows == _expected(first + more, p)
        assert offset == sum(1 for q, _k, _v in first + more if q == p) - 1

    # nothing new: nothing read, nothing changed
    assert asyncio.run(restore(kafka, tmp_path, ROCKSDB_OPTIONS)).records == 0


def test_a_missing_topic_is_left_to_faust_and_no_assignment_restores_nothing(
        kafka: str, tmp_path: Path) -> None:
    assert asyncio.run(restore(kafka, tmp_path, ROCKSDB_OPTIONS)).parts == 0
    gone = Part(f"gone-{uuid.uuid4().hex[:8]}", 0, str(tmp_path / "t-0.db"), "t", False)
    report = asyncio.run(restore(kafka, tmp_path, ROCKSDB_OPTIONS, [gone]))
    assert report.records == 0 and report.skipped and not Path(gone.path).exists()
