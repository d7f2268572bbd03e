"""Cold recovery outside faust's per-record loop: table partitions restored from their changelogs
with a plain consumer, before the worker joins its group.

Why: faust replays a changelog one record at a time through its conductor, its recovery queue
and a remaining-offsets check over every partition (``tables/recovery.py``): about 4,000-5,000
records/s here, most of a cold restart (docs/benchmarks.md). A worker that did not stop cleanly
discards its local tables (streams/app/worker.py), so that replay used to be the whole state.

What: every rebalance writes the changelog partitions this worker was given (active and standby,
with faust's RocksDB path of each) to ``assignment.json`` in the data dir. At the next start,
before faust runs, :func:`restore` reads each of those partitions from the offset its local store
already has (nothing, after a discard) to the end offset measured at start, and writes the
records into the store exactly as faust's ``apply_changelog_batch`` does: a put per value, a
delete per tombstone, and faust's persisted offset (the last offset applied) in the same write
batch. faust then finds each store up to date at that offset and replays only what was written
since, if anything; a partition given to this worker that was not restored is recovered by faust
as before.

Why it is safe:

* a write batch holds its records and their offset together, so a store stopped at any point
  (a crash, a kill) holds a prefix of its changelog and says which; faust and the next restore
  go on from there;
* the end offsets are measured before reading, and faust reads whatever came after them;
* a restored partition that the group then gives to another worker is an older copy of a
  changelog prefix, as a clean stop leaves: faust reads the rest if it comes back;
* any error stops the restore where it is (logged) and leaves the rest to faust.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("tunggal.restore")

ASSIGNMENT_FILE = "assignment.json"
#: faust's key for the last changelog offset a store applied (faust.stores.rocksdb.Store).
OFFSET_KEY = b"__faust\0offset__"
#: Seconds between two progress lines.
LOG_EVERY = 5.0
#: Seconds without a record before the restore gives up (faust recovers what is left).
STALL_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class Part:
    """One changelog partition to restore into one local store."""

    topic: str
    partition: int
    path: str  # faust's RocksDB directory for the table partition
    table: str
    standby: bool


@dataclass(slots=True)
class Report:
    parts: int = 0
    records: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)


# -- the assignment, written by the running worker ------------------------------------------------

def assignment_parts(app: Any, assigned: Any) -> list[Part]:
    """The changelog partitions among ``assigned`` (faust TPs), with their table stores."""
    standbys = app.assignor.assigned_standbys()
    by_topic = {t.changelog_topic.get_topic_name(): t for t in app.tables.values()}
    parts = []
    for tp in sorted(assigned):
        table = by_topic.get(tp.topic)
        if table is None:
            continue
        parts.append(Part(tp.topic, tp.partition, str(table.data.partition_path(tp.partition)),
                          table.name, tp in standbys))
    return parts


def save_assignment(data_dir: Path, parts: list[Part]) -> None:
    """Write the assignment atomically (a crash leaves the old file or the new one)."""
    doc = [{"topic": p.topic, "partition": p.partition, "path": p.path, "table": p.table,
            "standby": p.standby} for p in parts]
    tmp = data_dir / (ASSIGNMENT_FILE + ".tmp")
    tmp.write_bytes(orjson.dumps(doc))
    os.replace(tmp, data_dir / ASSIGNMENT_FILE)


def load_assignment(data_dir: Path) -> list[Part]:
    path = data_dir / ASSIGNMENT_FILE
    if not path.exists():
        return []
    try:
        return [Part(d["topic"], int(d["partition"]), d["path"], d["table"], bool(d["standby"]))
                for d in orjson.loads(path.read_bytes())]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        log.warning("%s is unreadable (%s): nothing restored before start; faust recovers the "
                    "tables", path, exc)
        return []


# -- the restore -----------------------------------------------------------------------------------

def open_store(path: str, options: dict) -> Any:
    """A table partition's RocksDB opened exactly as faust opens it."""
    from faust.stores.rocksdb import RocksDBOptions

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return RocksDBOptions(**options).open(Path(path))


def persisted_offset(db: Any) -> int | None:
    raw = db.get(OFFSET_KEY)
    return int(raw) if raw is not None else None


def apply_records(db: Any, records: list[tuple[bytes | None, bytes | None, int]]) -> int:
    """Apply ``(key, value, offset)`` records (value None: a tombstone) and the last offset in one
    write batch, as faust's ``apply_changelog_batch`` does; returns that offset."""
    from rocksdict import WriteBatch

    wb = WriteBatch(raw_mode=True)
    last = -1
    for key, value, offset in records:
        if key is not None:  # faust keys every changelog record; skip anything else
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)
        last = offset
    wb.put(OFFSET_KEY, str(last).encode())
    db.write(wb)
    return last


async def restore(bootstrap: str, data_dir: Path, options: dict,
                  parts: list[Part] | None = None) -> Report:
    """Bring every store of the last assignment up to its changelog's end (see module doc)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    report = Report()
    parts = load_assignment(data_dir) if parts is None else parts
    if not parts:
        return report
    t0 = time.monotonic()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        max_partition_fetch_bytes=16 << 20, fetch_max_bytes=64 << 20,
        max_poll_records=20_000)
    await consumer.start()
    dbs: dict[Any, Any] = {}
    try:
        topics = await consumer.topics()
        wanted = {}
        for p in parts:
            if p.topic not in topics:
                report.skipped.append(f"{p.topic}[{p.partition}] (no such topic)")
                continue
            wanted[TopicPartition(p.topic, p.partition)] = p
        if not wanted:
            return report
        consumer.assign(list(wanted))
        ends = await consumer.end_offsets(list(wanted))
        begins = await consumer.beginning_offsets(list(wanted))
        todo: dict[Any, int] = {}  # tp -> end offset (exclusive)
        total = 0
        for tp, p in wanted.items():
            db = dbs[tp] = open_store(p.path, options)
            have = persisted_offset(db)
            start = max(begins[tp], -1 if have is None else have + 1)
            if start < ends[tp]:
                consumer.seek(tp, start)
                todo[tp] = ends[tp]
                total += ends[tp] - start
            else:
                consumer.pause(tp)
        report.parts = len(todo)
        if todo:
            log.info("restoring %d changelog partitions of the last assignment before joining "
                     "the group: %s records", len(todo), f"{total:,}")
        last_log = last_progress = time.monotonic()
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000)
            for tp, records in batches.items():
                end = todo.get(tp)
                rows = [(r.key, r.value, r.offset) for r in records if r.offset < end]
                if rows:
                    apply_records(dbs[tp], rows)
                    report.records += len(rows)
                    last_progress = time.monotonic()
            for tp in list(todo):
                # the position, not the last record: compaction can leave no record at end - 1
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]
                    consumer.pause(tp)
            now = time.monotonic()
            if todo and now - last_progress > STALL_AFTER:
                raise TimeoutError(f"no changelog record for {STALL_AFTER:.0f} s with "
                                   f"{len(todo)} partitions left")
            if now - last_log >= LOG_EVERY:
                rate = report.records / (now - t0)
                left = max(0, total - report.records)
                log.info("restoring tables: %s changelog records left, %s rec/s, ETA %s s",
                         f"{left:,}", f"{rate:,.0f}", f"{left / rate:.0f}" if rate else "?")
                last_log = now
    finally:
        for db in dbs.values():
            db.close()
        await consumer.stop()
        report.seconds = time.monotonic() - t0
    return report


def restore_before_start(bootstrap: str, data_dir: Path, options: dict) -> Report | None:
    """:func:`restore` for the worker's start; an error leaves the rest to faust's recovery."""
    try:
        report = asyncio.run(restore(bootstrap, data_dir, options))
    except Exception:  # noqa: BLE001 (faust recovers whatever is left: nothing is lost)
        log.exception("restoring tables before start failed; faust recovers what is left")
        return None
    if report.skipped:
        log.warning("not restored (faust recovers them if assigned): %s", ", ".join(report.skipped))
    if report.parts:
        log.info("tables restored from changelogs before joining: %d records into %d partitions "
                 "in %.2f s (%s rec/s)", report.records, report.parts, report.seconds,
                 f"{report.records / report.seconds:,.0f}" if report.seconds else "?")
    return report
