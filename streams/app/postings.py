"""The index partitions' posting lists in local RocksDB, derived from the ``index-rows`` table.

Why not a faust table per blocking key: an enrollment has ~170 blocking keys, and a faust table
write is one changelog record, so indexing cost ~170 Kafka records per enrollment and capped the
engine at ~15 enrollments/s. The durable truth is now one ``index-rows`` record per probe and
index partition (the keys it was admitted under); the posting lists are a local, disposable
projection of those rows:

* written in the same agent step as the row, so they never disagree while a worker owns the
  partition; the store keeps a copy of each row whose entries its lists hold, written in the
  same batch as those entries, so whatever part of the store survives a crash, its lists are
  exactly the entries of the rows it holds;
* checked the first time a worker touches a partition after it starts or after any rebalance.
  After a clean close, a store whose count of rows applied equals the partition's rows plus
  re-keyings (the table faust recovered from the changelog before the agent runs) is reused:
  without a crash the lists only ever lag the rows, so equal counts mean equal content. Any
  other store is reconciled: its row copies are merged with the table's rows, and only the rows
  that differ (added, gone after a crash lost their changelog record, re-keyed) are taken out of
  or put into the lists. A crash therefore costs a merge over the rows and the work of the
  difference, not a rebuild of every list (``postings-data`` is kept when a crashed worker
  discards faust's stores, streams/app/worker.py).

No write-ahead log: a crash loses the latest batches whole (lists and row copies together), and
the reconciliation puts them back; opening a store marks it open (flushed), a clean close
unmarks it, so a store found marked was not closed cleanly and its counts prove nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import orjson
from rocksdict import BlockBasedOptions, Options, Rdict, WriteBatch, WriteOptions

from streams.pipeline import _SEP, posting_entry

log = logging.getLogger("tunggal.postings")


#: The posting stores' folder in the data dir. It survives a crash (streams/app/worker.py):
#: a store is reconciled with the recovered rows instead of rebuilt.
POSTINGS_DIR = "postings-data"
#: The count of rows applied, stored beside the lists (no blocking key starts with a NUL).
ROWS_KEY = b"\x00rows"
#: The store's layout: lists plus a copy of every row they hold (ROW_PREFIX + probe id -> row).
FORMAT_KEY, FORMAT = b"\x00format", b"2"
ROW_PREFIX = b"\x00r:"
#: Present while the store is open: found at open, the last use did not end in a clean close.
OPEN_KEY = b"\x00open"


def parse_row(value: bytes) -> tuple[int, list[str]]:
    """An ``index-rows`` value: (the probe's gallery partition, keys it was admitted under)."""
    row = orjson.loads(value)
    return int(row["pp"]), row["keys"]


#: Bits per key of the posting lists' Bloom filters. Most keys a probe looks up are absent (a
#: fresh biometric hash): without a filter each one reads and decompresses a data block of every
#: level-0 file that may hold it, and a partition's lookups grew from ~0.11 to ~0.89 ms per probe
#: over its first 100,000 probes; with one, to ~0.17 ms (benchmarks/postings.py).
BLOOM_BITS_PER_KEY = 10


def store_options() -> Options:
    """RocksDB options of a posting store: raw keys, two background threads, full-key Bloom
    filters on every table file."""
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.increase_parallelism(2)
    table = BlockBasedOptions()
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
    opts.set_block_based_table_factory(table)
    return opts


class RocksPostings:
    """One index partition's posting lists (:class:`streams.pipeline.PostingStore`), and a copy of
    each row whose entries they hold, written in the same batch as the entries. So whatever part
    of the store survives a crash, the lists are exactly the entries of the rows it holds, and
    :meth:`PartitionedPostings._reconcile` can bring them to any other set of rows by their
    difference."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # The default column family's options given again: rocksdict reopens an existing
        # store with the options its files were written with unless told otherwise, so a store
        # of an earlier version would never get its filters.
        self._db = Rdict(str(path), options=store_options(),
                         column_families={"default": store_options()})
        wo = WriteOptions()
        wo.disable_wal = True
        self._db.set_write_options(wo)
        raw = self._db.get(ROWS_KEY)
        self.rows = int(raw) if raw else 0
        self.current_format = self._db.get(FORMAT_KEY) == FORMAT
        #: the last use did not end in a clean close (a crash): counts prove nothing
        self.unclean = self._db.get(OPEN_KEY) is not None
        self._pending: dict[bytes, bytes] = {}
        self._db.put(OPEN_KEY, b"1")
        self._db.flush()  # without a write-ahead log only flushed writes survive a crash

    def mark_format(self) -> None:
        self._db.put(FORMAT_KEY, FORMAT)
        self.current_format = True

    def set_rows(self, rows: int) -> None:
        self.rows = rows
        self._db.put(ROWS_KEY, b"%d" % rows)

    def apply_row(self, probe: bytes, row: bytes) -> None:
        """The lists written by the last :meth:`put_many`, the probe's row and the count of rows
        applied, in one batch: a row added or re-keyed is in the lists exactly when its copy
        is."""
        wb = WriteBatch(raw_mode=True)
        for k, v in self._pending.items():
            wb.put(k, v)
        self._pending.clear()
        wb.put(ROW_PREFIX + probe, row)
        self.rows += 1
        wb.put(ROWS_KEY, b"%d" % self.rows)
        self._db.write(wb)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        if self._pending:
            raise RuntimeError("posting lists written without their row (apply_row)")
        return self._db.get(keys)

    def put_many(self, items: dict[bytes, bytes]) -> None:
        """Lists to write with the row of the probe being indexed (:meth:`apply_row`)."""
        self._pending.update(items)

    def row_copies(self) -> Iterator[tuple[bytes, bytes]]:
        """(probe id, row) of every row the lists hold, in key order."""
        for key, value in self._db.items(from_key=ROW_PREFIX):
            if not key.startswith(ROW_PREFIX):
                break
            yield key[len(ROW_PREFIX):], value

    def write(self, lists: dict[bytes, bytes | None], rows: dict[bytes, bytes | None]) -> None:
        """Lists (None: gone) and row copies (None: gone) in one batch."""
        wb = WriteBatch(raw_mode=True)
        for k, v in lists.items():
            wb.put(k, v) if v else wb.delete(k)
        for k, v in rows.items():
            wb.put(ROW_PREFIX + k, v) if v is not None else wb.delete(ROW_PREFIX + k)
        self._db.write(wb)

    def close(self) -> None:
        self._db.delete(OPEN_KEY)
        self._db.flush()
        self._db.close()


def row_changes(ours: Iterable[tuple[bytes, bytes]], theirs: Iterable[tuple[bytes, bytes]]
                ) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
    """``(probe, our row or None, their row or None)`` for every probe whose rows differ, from
    two iterables of ``(probe, row)`` sorted by probe (a merge of two RocksDB ranges)."""
    a, b = iter(ours), iter(theirs)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x[0] < y[0]):
            yield x[0], x[1], None
            x = next(a, None)
        elif x is None or y[0] < x[0]:
            yield y[0], None, y[1]
            y = next(b, None)
        else:
            if x[1] != y[1]:
                yield x[0], x[1], y[1]
            x, y = next(a, None), next(b, None)


def list_changes(changes: Iterable[tuple[bytes, bytes | None, bytes | None]]
                 ) -> dict[bytes, tuple[set[bytes], list[bytes]]]:
    """Per blocking key, the entries to take out (the old rows') and to add (the new rows')."""
    out: dict[bytes, tuple[set[bytes], list[bytes]]] = {}
    for probe, old, new in changes:
        eid = probe.decode()
        for row, side in ((old, 0), (new, 1)):
            if row is None:
                continue
            part, keys = parse_row(row)
            entry = posting_entry(eid, part)
            for k in keys:
                slot = out.get(k.encode())
                if slot is None:
                    slot = out[k.encode()] = (set(), [])
                if side:
                    slot[1].append(entry)
                else:
                    slot[0].add(entry)
    return out


def apply_list_changes(value: bytes | None, remove: set[bytes], add: list[bytes]) -> bytes:
    """A packed list without ``remove`` and with ``add`` (each entry once); b"" when empty."""
    members = [m for m in (value.split(_SEP) if value else []) if m not in remove]
    have = set(members)
    for m in add:
        if m not in have:
            members.append(m)
            have.add(m)
    return _SEP.join(members)


class PartitionedPostings:
    """Posting stores for the index partitions this worker owns, checked on first use.

    A store whose count of rows applied equals the partition's (rows plus re-keyings) after a
    clean close is reused as it is. Any other store (a crash, a partition that moved away and
    back, a re-keying elsewhere) is reconciled with the rows: the rows whose copy in the store
    differs from the table's (added, gone, re-keyed) are taken out of and put into the lists, so
    the work follows the difference, not the partition's size. A new store is the case where
    every row differs. Work is done in chunks that yield to the event loop, so a worker
    reconciling a large partition keeps heartbeating (the group does not evict it) and its
    watchdog sees it alive; a rebalance meanwhile abandons it (each chunk leaves the store
    consistent) and the next use checks again.
    """

    #: Changed rows handled between two yields to the event loop.
    CHUNK = 500

    def __init__(self, root: Path, items_of: Callable[[int], Iterable[tuple[bytes, bytes]]],
                 count_of: Callable[[int], int],
                 on_progress: Callable[[int, int, int], None] | None = None) -> None:
        self.root = root
        self._items_of = items_of
        self._count_of = count_of
        self._on_progress = on_progress or (lambda partition, done, total: None)
        self._open: dict[int, RocksPostings] = {}
        self._generation = 0

    def invalidate(self) -> None:
        """Close every partition (a rebalance happened, or the worker stops): each is checked
        again, and reconciled if it differs, on next use."""
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
        store = RocksPostings(path) if path.exists() else None
        if store is not None and not store.current_format:
            store.close()  # an older layout without row copies: built anew
            shutil.rmtree(path)
            store = None
        if store is not None and not store.unclean and store.rows == expected:
            log.info("index partition %d: local posting lists reused (%d rows)", partition,
                     expected)
            return store
        new = store is None
        if new:
            store = RocksPostings(path)
            store.mark_format()
        how = "unclean stop" if store.unclean else "lagging" if not new else "new store"
        t0 = time.monotonic()
        changed = 0
        changes = row_changes(store.row_copies(), self._items_of(partition))
        while True:
            chunk = list(itertools.islice(changes, self.CHUNK))
            if chunk:
                lists = list_changes(chunk)
                keys = list(lists)
                values = store.get_many(keys)  # an earlier chunk may have written them
                store.write({k: apply_list_changes(v, *lists[k]) for k, v in zip(keys, values)},
                            {probe: row for probe, _old, row in chunk})
                changed += len(chunk)
                self._on_progress(partition, changed, expected)
            if len(chunk) < self.CHUNK:
                break
            await asyncio.sleep(0)
            if generation != self._generation:
                store.close()
                return None  # the partition may have moved: do not read its table any further
        del changes
        store.set_rows(expected)
        self._on_progress(partition, expected, expected)
        if changed:
            log.info("index partition %d: posting lists reconciled with %d changed rows (%s) "
                     "in %.1f s", partition, changed, how, time.monotonic() - t0)
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
