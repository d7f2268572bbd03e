"""The local posting-list store of an index partition: RocksDB, checked against the rows and
rebuilt from them when it lags."""

import asyncio

from streams.app.postings import PartitionedPostings
from streams.pipeline import index_probe, posting_members


def _get(stores, partition):
    return asyncio.run(stores.store(partition))


def _stores(root, rows):
    calls = []

    def rows_of(p):
        calls.append(p)
        return iter(rows[p])

    return PartitionedPostings(root, rows_of, lambda p: len(rows[p])), calls


def _add(store, rows, eid, part, keys):
    """What the index agent does: index, write the row, count it."""
    result = index_probe(store, eid, part, keys, already_indexed=False)
    rows.append((eid, part, result.admitted))
    store.row_applied()
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
    stores = PartitionedPostings(tmp_path / "postings", lambda p: iter(list(rows[p])),
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
