"""The replay screen: only records proven processed are skipped, and only up to the first that is
not (streams/screen.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.screen import PartitionScreen, parse_rid_positions


def _screen(records, done, dead=frozenset(), start=0, committed=None, partition=0):
    committed = len(records) + start if committed is None else committed
    sc = PartitionScreen(partition, start, committed)
    for i, (k, v) in enumerate(records):
        sc.see(start + i, k, v, done, set(dead))
    sc.close()
    return sc


def test_a_fully_processed_range_is_skipped_whole():
    records = [(b"A", b"a"), (b"B", b"b"), (None, b"junk"), (b"A", b"a")]
    done = {b"A": b"3:0", b"B": b"3:1"}
    sc = _screen(records, done, dead={(3, 2)}, partition=3)
    assert (sc.finished, sc.dead_lettered, sc.resent) == (2, 1, 1)
    assert sc.resume == 4 and sc.skipped == 4


def test_the_group_resumes_at_the_first_record_not_proven():
    # B's request is another record's (in flight, or re-evaluated): B is re-read, and so is
    # everything after it, even the finished C.
    records = [(b"A", b"a"), (b"B", b"b"), (b"C", b"c")]
    done = {b"A": b"0:0", b"B": b"0:7", b"C": b"0:2"}
    sc = _screen(records, done)
    assert sc.resume == 1 and sc.skipped == 1


def test_an_identical_copy_is_proven_whichever_of_the_two_finished():
    # the later re-send finished the enrollment (the original was still in flight)
    sc = _screen([(b"A", b"a"), (b"B", b"b"), (b"A", b"a")], {b"A": b"0:2", b"B": b"0:1"})
    assert sc.resume == 3 and (sc.finished, sc.resent) == (2, 1)


def test_a_resend_with_other_bytes_or_without_its_original_is_not_proven():
    done = {b"A": b"0:0"}
    sc = _screen([(b"A", b"a"), (b"A", b"a re-serialised")], done)
    assert sc.resume == 1
    # the original lies before the replayed range: the identical bytes cannot be checked
    sc = _screen([(b"A", b"a")], {b"A": b"0:4"}, start=5)
    assert sc.resume == 5 and sc.skipped == 0


def test_nothing_at_or_after_the_committed_offset_is_skipped():
    records = [(b"A", b"a"), (b"B", b"b"), (b"C", b"c")]
    done = {b"A": b"0:0", b"B": b"0:1", b"C": b"0:2"}
    sc = _screen(records, done, committed=2)
    assert sc.resume == 2
    # a range that starts at or after the committed offset proves nothing
    sc = _screen(records, done, start=4, committed=3)
    assert sc.resume == 3 and sc.skipped == 0 and sc.proven == 0


def test_a_record_without_a_key_is_proven_only_by_its_dead_letter():
    sc = _screen([(None, b"x")], {})
    assert sc.resume == 0
    sc = _screen([(None, b"x")], {}, dead={(0, 0)})
    assert sc.resume == 1
    sc = _screen([(None, b"x")], {}, dead={(1, 0)})  # another partition's record at 0
    assert sc.resume == 0


def test_the_done_table_is_its_changelog_replayed_in_order():
    log = [(b"A", b"0:1"), (b"B", b"0:2"), (b"A", b"re1:0:9"), (b"B", None)]
    assert parse_rid_positions(log) == {b"A": b"re1:0:9"}


_records = st.lists(st.tuples(st.sampled_from([b"A", b"B", b"C", None]),
                              st.sampled_from([b"x", b"y"])), max_size=12)


@settings(max_examples=200, deadline=None)
@given(records=_records, finished=st.dictionaries(st.sampled_from([b"A", b"B", b"C"]),
                                                   st.integers(0, 13)),
       dead=st.sets(st.integers(0, 12)), committed=st.integers(0, 12))
def test_every_skipped_record_is_one_the_engine_would_skip(records, finished, dead, committed):
    """Against a direct statement of the rule: the skipped prefix holds only records that
    finished, were dead-lettered, or repeat byte for byte a finished record seen before them."""
    committed = min(committed, len(records))  # the scan reads every record of its range
    done = {k: f"0:{o}".encode() for k, o in finished.items()}
    sc = _screen(records, done, dead={(0, o) for o in dead}, committed=committed)
    assert 0 <= sc.resume <= committed
    for o in range(sc.resume):
        key, value = records[o]
        finished_here = key is not None and finished.get(key) == o
        resend = key is not None and key in finished and finished[key] < committed and \
            records[finished[key]] == (key, value)
        assert finished_here or o in dead or resend, (o, records[o])
    # and it stops at the first record that is none of these (when one lies in the range)
    if sc.resume < committed:
        key, value = records[sc.resume]
        assert not (key is not None and finished.get(key) == sc.resume) and sc.resume not in dead
        assert not (key is not None and key in finished and finished[key] < committed
                    and records[finished[key]] == (key, value))
