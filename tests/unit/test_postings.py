"""The local posting-list store of an index partition: RocksDB, checked against the rows and
reconciled with them when it lags or was not closed cleanly."""

import asyncio
import random

import orjson

from streams.app.postings import PartitionedPostings, RocksPostings
from streams.pipeline import index_probe, posting_members, rebuild_postings


def _items(rows):
    """The index-rows table's raw items for tuples ``(id, gallery partition, keys)``, in key
    order as RocksDB iterates them."""
    return iter(sorted((eid.encode(), orjson.dumps({"pp": part, "keys": keys}))
                       for eid, part, keys in rows))


def _get(stores, partition):
    return asyncio.run(stores.store(partition))


def _stores(root, rows):
    calls = []

    def rows_of(p):
        calls.append(p)
        return _items(rows[p])

    return PartitionedPostings(root, rows_of, lambda p: len(rows[p])), calls


def _add(store, rows, eid, part, keys):
    """What the index agent does: index, write the row, count it."""
    result = index_probe(store, eid, part, keys, already_indexed=False)
    rows.append((eid, part, result.admitted))
    store.apply_row(eid.encode(), orjson.dumps({"pp": part, "keys": result.admitted}))
    return result


def test_a_partition_is_built_from_its_rows_and_rebuilt_when_it_lags(tmp_path):
    rows = {0: [("a", 1, ["k1", "k2"]), ("b", 0, ["k2"])], 1: [("c", 3, ["k9"])]}
    stores, calls = _stores(tmp_path / "postings", rows)
    s0 = _get(stores, 0)
    assert sorted(posting_members(s0.get_many([b"k2"])[0])) == [("a", 1), ("b", 0)]
    assert _get(stores, 0) is s0 and calls == [0]  # built once while owned

    assert _add(s0, rows[0], "d", 2, ["k1"]).hits == [("k1", "a", 1)]
    stores.invalidate()  # a rebalance; nothing changed meanwhile: the store is reused
    s0 = _get(stores, 0)
    assert calls == [0]
    assert sorted(posting_members(s0.get_many([b"k1"])[0])) == [("a", 1), ("d", 2)]

    stores.invalidate()  # lost the partition; another worker indexed "e"; got it back
    rows[0].append(("e", 0, ["k1"]))
    s0 = _get(stores, 0)
    assert calls == [0, 0]
    assert sorted(posting_members(s0.get_many([b"k1"])[0])) == [("a", 1), ("d", 2), ("e", 0)]
    assert s0.get_many([b"absent"]) == [None]


def test_a_clean_restart_reuses_the_lists_and_a_lagging_store_is_rebuilt(tmp_path):
    root = tmp_path / "postings"
    rows = {0: []}
    first, calls = _stores(root, rows)
    _add(_get(first, 0), rows[0], "a", 0, ["k"])
    _add(_get(first, 0), rows[0], "b", 0, ["k"])
    first.invalidate()  # clean stop: flushed

    second, calls2 = _stores(root, rows)
    assert posting_members(_get(second, 0).get_many([b"k"])[0]) == [("a", 0), ("b", 0)]
    assert calls2 == []  # reused, not rebuilt
    second.invalidate()

    rows[0].append(("ghost", 0, ["k"]))  # a row the lists never saw
    third, calls3 = _stores(root, rows)
    assert sorted(posting_members(_get(third, 0).get_many([b"k"])[0])) == [
        ("a", 0), ("b", 0), ("ghost", 0)]
    assert calls3 == [0]


def test_a_rebuild_yields_to_the_event_loop_reports_progress_and_restarts_after_a_rebalance(
        tmp_path):
    rows = {0: [(f"e{i}", i % 4, [f"k{i % 7}", "common"]) for i in range(40)]}
    seen = []
    stores = PartitionedPostings(tmp_path / "postings", lambda p: _items(list(rows[p])),
                                 lambda p: len(rows[p]),
                                 on_progress=lambda p, done, total: seen.append((done, total)))
    stores.CHUNK = 5
    ticks = []

    async def meanwhile():
        # another task of the worker (a heartbeat): it runs during the rebuild; once, a
        # rebalance happens and another worker indexes a row meanwhile
        for i in range(100):
            ticks.append(i)
            if i == 3:
                rows[0].append(("late", 1, ["common"]))
                stores.invalidate()
            await asyncio.sleep(0)

    async def both():
        task = asyncio.create_task(meanwhile())
        store = await stores.store(0)
        await task
        return store

    store = asyncio.run(both())
    assert len(ticks) == 100 and seen[0][0] < seen[-1][0]
    assert seen[-1] == (41, 41)  # the rebuild that finished saw the late row
    members = posting_members(store.get_many([b"common"])[0])
    assert sorted(members) == sorted([(f"e{i}", i % 4) for i in range(40)] + [("late", 1)])
    assert store.rows == 41


def _lists(store, rows):
    keys = sorted({k for _e, _p, ks in rows for k in ks} | {"never"})
    got = store.get_many([k.encode() for k in keys])
    return {k.encode(): sorted(v.split(b" ")) for k, v in zip(keys, got) if v}


def _crash(stores):
    """A worker killed: the stores are not closed (their open mark stays), only flushed, as
    RocksDB leaves what reached its files."""
    for store in stores._open.values():
        store._db.flush()
        store._db.close()
    stores._open.clear()


def test_after_a_crash_the_lists_are_reconciled_to_exactly_the_recovered_rows(tmp_path):
    """A crash leaves rows the lists hold that the changelog lost, rows the changelog has that
    the lists never saw, and rows re-keyed elsewhere; the counts may even agree. The store is
    reconciled by the difference, and its lists equal a rebuild from the recovered rows."""
    rng = random.Random(5)
    root = tmp_path / "postings"
    for trial in range(6):
        rows = {0: []}
        stores, calls = _stores(root / str(trial), rows)
        store = _get(stores, 0)
        for i in range(120):
            keys = sorted({f"k{rng.randrange(40)}" for _ in range(rng.randrange(1, 6))})
            _add(store, rows[0], f"e{i:03d}", rng.randrange(4), keys)
        _crash(stores)
        recovered = list(rows[0])
        rng.shuffle(recovered)
        lost = recovered[:rng.randrange(0, 15)]  # indexed here, their changelog record lost
        recovered = recovered[len(lost):]
        recovered += [(f"x{j}", 1, [f"k{rng.randrange(40)}"]) for j in range(len(lost))]
        for j in range(rng.randrange(0, 5)):  # re-keyed (a re-evaluation elsewhere)
            eid, part, _ = recovered[j]
            recovered[j] = (eid, part, [f"k{rng.randrange(40)}", "rekeyed"])
        rows[0] = recovered
        after, calls2 = _stores(root / str(trial), rows)
        reconciled = _get(after, 0)
        assert calls2 == [0], "an unclean store must be reconciled even if its count agrees"
        want = {k: sorted(v.split(b" ")) for k, v in rebuild_postings(
            (e, p, ks) for e, p, ks in recovered).items()}
        assert _lists(reconciled, recovered) == want
        assert dict(reconciled.row_copies()) == dict(_items(recovered))
        after.invalidate()
        # closed cleanly with nothing changed: reused as it is, not read again
        again, calls3 = _stores(root / str(trial), rows)
        assert _lists(_get(again, 0), recovered) == want and calls3 == []
        again.invalidate()


def test_a_store_of_the_older_layout_is_built_anew(tmp_path):
    path = tmp_path / "postings" / "0"
    path.parent.mkdir(parents=True)
    old = RocksPostings(path)  # no format mark: lists without row copies
    old._db.put(b"k", b"0:stale")
    old.set_rows(1)
    old.close()
    rows = {0: [("a", 2, ["k"])]}
    stores, calls = _stores(tmp_path / "postings", rows)
    assert posting_members(_get(stores, 0).get_many([b"k"])[0]) == [("a", 2)]
    assert calls == [0]


def test_a_store_written_without_bloom_filters_reads_the_same_with_them(tmp_path, monkeypatch):
    """Stores written before the Bloom filters (plain options) open with the current options and
    answer every lookup as before; the filters never hide a present key."""
    from rocksdict import Options

    import streams.app.postings as postings

    def plain():
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        return opts

    rng = random.Random(7)
    keys = [f"f:{rng.getrandbits(60):x}" for _ in range(3000)]
    monkeypatch.setattr(postings, "store_options", plain)
    old = RocksPostings(tmp_path / "p")
    rows = []
    for i in range(400):
        _add(old, rows, f"E{i:04d}", i % 4, rng.sample(keys, 30))
    old._db.flush()
    expected = old.get_many([k.encode() for k in keys])
    old.close()
    monkeypatch.undo()
    new = RocksPostings(tmp_path / "p")
    options = sorted((tmp_path / "p").glob("OPTIONS-*"))[-1].read_text()
    assert "filter_policy=bloomfilter" in options  # the store is open with its filters
    assert new.get_many([k.encode() for k in keys]) == expected
    assert sum(v is not None for v in expected) > 2000  # the lookups do find lists
    # written on with filters, then compacted into files that have them: still every key
    for i in range(400, 800):
        _add(new, rows, f"E{i:04d}", i % 4, rng.sample(keys, 30))
    new._db.compact_range(None, None)
    found = new.get_many([k.encode() for k in keys])
    members = {k: {eid for eid, _ in posting_members(v)} for k, v in zip(keys, found)}
    for eid, _part, admitted in rows:
        assert all(eid in members[k] for k in admitted), eid
    new.close()
