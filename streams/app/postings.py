"""The index partitions' posting lists in local RocksDB, derived from the ``index-rows`` table.

Why not a faust table per blocking key: an enrollment has ~170 blocking keys, and a faust table
write is one changelog record, so indexing cost ~170 Kafka records per enrollment and capped the
engine at ~15 enrollments/s. The durable truth is now one ``index-rows`` record per probe and
index partition (the keys it was admitted under); the posting lists are a local, disposable
projection of those rows:

* written in the same agent step as the row, so they never disagree while a worker owns the
  partition;
* checked the first time a worker touches a partition after it starts or after any rebalance:
  the store counts the rows it applied, and is reused only if that equals the number of rows in
  the table (which faust has recovered from the changelog before the agent runs); otherwise it
  is rebuilt from the rows. Without a crash the lists only ever lag the rows (a partition that
  moved away and back), so equal counts mean equal content. After a crash the worker discards
  every local store (streams/app/worker.py: this one lives in ``postings-data``), so a store
  that might hold a row the changelog lost is never reused.

No write-ahead log: a crash loses nothing that the rebuild does not restore; a clean stop
flushes the memtables (``close``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from streams.pipeline import PostingBuilder

log = logging.getLogger("tunggal.postings")


#: The count of rows applied, stored beside the lists (no blocking key starts with a NUL).
ROWS_KEY = b"\x00rows"


class RocksPostings:
    """One index partition's posting lists (:class:`streams.pipeline.PostingStore`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.increase_parallelism(2)
        self._db = Rdict(str(path), options=opts)
        wo = WriteOptions()
        wo.disable_wal = True
        self._db.set_write_options(wo)
        raw = self._db.get(ROWS_KEY)
        self.rows = int(raw) if raw else 0

    def set_rows(self, rows: int) -> None:
        self.rows = rows
        self._db.put(ROWS_KEY, b"%d" % rows)

    def row_applied(self) -> None:
        """Count one more row added or re-keyed whose keys are now in the lists (written after
        the lists, in the same store, so whatever part of it survives a stop never counts a row
        it lacks)."""
        self.set_rows(self.rows + 1)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        return self._db.get(keys)

    def put_many(self, items: dict[bytes, bytes]) -> None:
        wb = WriteBatch(raw_mode=True)
        for k, v in items.items():
            wb.put(k, v)
        self._db.write(wb)

    def close(self) -> None:
        self._db.flush()
        self._db.close()


class PartitionedPostings:
    """Posting stores for the index partitions this worker owns, (re)built on first use.

    A rebuild reads the partition's rows in chunks and yields to the event loop between them,
    so a worker rebuilding a large partition keeps heartbeating (the group does not evict it)
    and its watchdog sees it alive. A rebalance during a rebuild abandons it; the next use
    checks again.
    """

    #: Rows handled between two yields to the event loop (about 10-20 ms of work).
    CHUNK = 500

    def __init__(self, root: Path, rows_of: Callable[[int], Iterable[tuple[str, int, list[str]]]],
                 count_of: Callable[[int], int],
                 on_progress: Callable[[int, int, int], None] | None = None) -> None:
        self.root = root
        self._rows_of = rows_of
        self._count_of = count_of
        self._on_progress = on_progress or (lambda partition, done, total: None)
        self._open: dict[int, RocksPostings] = {}
        self._generation = 0

    def invalidate(self) -> None:
        """Close every partition (a rebalance happened, or the worker stops): each is checked
        again, and rebuilt if it lags, on next use."""
        self._generation += 1
        for store in self._open.values():
            store.close()
        self._open.clear()

    async def store(self, partition: int) -> RocksPostings:
        while True:
            store = self._open.get(partition)
            if store is not None:
                return store
            generation = self._generation
            store = await self._build(partition, generation)
            if store is not None and generation == self._generation:
                self._open[partition] = store
                return store
            if store is not None:
                store.close()
            log.info("index partition %d: a rebalance interrupted its check; checking again",
                     partition)

    async def _build(self, partition: int, generation: int) -> RocksPostings | None:
        path = self.root / str(partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        expected = self._count_of(partition)
        if path.exists():
            store = RocksPostings(path)
            if store.rows == expected:
                log.info("index partition %d: local posting lists reused (%d rows)", partition,
                         expected)
                return store
            store.close()
            shutil.rmtree(path)
        t0 = time.monotonic()
        builder = PostingBuilder()
        rows = self._rows_of(partition)  # the current rows: a rebuild has applied every change
        while True:
            chunk = list(itertools.islice(rows, self.CHUNK))
            builder.add(chunk)
            if len(chunk) < self.CHUNK:
                break
            self._on_progress(partition, builder.rows, expected)
            await asyncio.sleep(0)
            if generation != self._generation:
                return None  # the partition may have moved: do not read its table any further
        del rows
        store = RocksPostings(path)
        for batch in builder.batches(50_000):
            store.put_many(batch)
            await asyncio.sleep(0)
        store.set_rows(expected)
        self._on_progress(partition, builder.rows, builder.rows)
        if builder.rows:
            log.info("index partition %d: %d posting lists rebuilt from %d rows in %.1f s",
                     partition, builder.lists, builder.rows, time.monotonic() - t0)
        return store


def table_partition_items(table: Any, partition: int) -> Iterable[tuple[bytes, bytes]]:
    """Raw items of one partition of a faust RocksDB table (faust has no public API for it)."""
    db = table.data._db_for_partition(partition)  # noqa: SLF001
    for key, value in db.items():
        if key.startswith(b"__faust"):
            continue  # faust's own bookkeeping (the persisted changelog offset)
        yield key, value


def index_changes(table: Any, partition: int) -> int:
    """Rows added plus re-keyings (a re-evaluation under changed blocking keys) in one partition
    of ``index-rows``: the changes its posting lists must have applied to be current. A row
    counts its own re-keyings (``"v"``), so a row and its count change in one record; both only
    grow, so lists that lag are told apart from current ones even when a re-key left the number
    of rows alone."""
    db = table.data._db_for_partition(partition)  # noqa: SLF001
    changes = 0
    for key, value in db.items():
        if key.startswith(b"__faust"):
            continue
        changes += 1
        if b'"v":' in value:
            changes += int(orjson.loads(value)["v"])
    return changes
