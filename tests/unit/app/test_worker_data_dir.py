"""A worker that did not stop cleanly discards faust's local table stores (they can be ahead of
their changelogs); a clean stop keeps them. The layout is faust's own, not assumed."""

import faust

from streams.app.worker import CLEAN_MARKER, prepare_data_dir


def _store_of(data_dir):
    """Where faust puts one RocksDB table partition for this data dir."""
    tables = faust.App("layout-probe", datadir=str(data_dir)).conf.tabledir
    store = tables / "gallery-0.db"
    store.mkdir(parents=True)
    (store / "CURRENT").write_text("x")
    return tables, store


def test_a_crashed_workers_table_stores_are_discarded(tmp_path):
    tables, store = _store_of(tmp_path)
    assert tables.is_relative_to(tmp_path)
    assert prepare_data_dir(tmp_path) is True
    assert not store.exists()


def test_a_clean_stop_keeps_the_stores_once(tmp_path):
    _, store = _store_of(tmp_path)
    (tmp_path / CLEAN_MARKER).touch()
    assert prepare_data_dir(tmp_path) is False
    assert store.exists() and not (tmp_path / CLEAN_MARKER).exists()
    assert prepare_data_dir(tmp_path) is True  # the marker is good for one start only
    assert not store.exists()


def test_a_crash_keeps_the_posting_lists_which_are_reconciled_instead(tmp_path):
    """The posting stores hold a copy of their rows (streams/app/postings.py), so a crash does
    not discard them: they are reconciled with the recovered rows on first use."""
    _, store = _store_of(tmp_path)
    lists = tmp_path / "postings-data" / "0"
    lists.mkdir(parents=True)
    (lists / "CURRENT").write_text("x")
    assert prepare_data_dir(tmp_path) is True
    assert not store.exists() and lists.exists()
