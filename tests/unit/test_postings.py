"""The local posting-list store of an index partition: RocksDB, rebuilt from the rows."""

from streams.app.postings import PartitionedPostings
from streams.pipeline import index_probe, posting_members


def test_a_partition_is_rebuilt_from_its_rows_on_first_use_and_after_a_rebalance(tmp_path):
    rows = {0: [("a", 1, ["k1", "k2"]), ("b", 0, ["k2"])], 1: [("c", 3, ["k9"])]}
    calls = []

    def rows_of(p):
        calls.append(p)
        return iter(rows[p])

    stores = PartitionedPostings(tmp_path / "postings", rows_of)
    s0 = stores.store(0)
    assert sorted(posting_members(s0.get_many([b"k2"])[0])) == [("a", 1), ("b", 0)]
    assert stores.store(0) is s0 and calls == [0]  # built once while owned

    result = index_probe(s0, "d", 2, ["k1"], already_indexed=False)
    assert result.hits == [("k1", "a", 1)]
    rows[0].append(("d", 2, result.admitted))
    rows[0].append(("e", 0, ["k1"]))  # written by another worker while this one lost it

    stores.invalidate()
    s0 = stores.store(0)
    assert sorted(posting_members(s0.get_many([b"k1"])[0])) == [("a", 1), ("d", 2), ("e", 0)]
    assert calls == [0, 0]
    assert s0.get_many([b"absent"]) == [None]


def test_a_restart_never_trusts_the_previous_store(tmp_path):
    root = tmp_path / "postings"
    first = PartitionedPostings(root, lambda p: iter([("a", 0, ["k"])]))
    index_probe(first.store(0), "ghost", 0, ["k"], already_indexed=False)  # row never persisted
    first.invalidate()
    second = PartitionedPostings(root, lambda p: iter([("a", 0, ["k"])]))
    assert posting_members(second.store(0).get_many([b"k"])[0]) == [("a", 0)]
