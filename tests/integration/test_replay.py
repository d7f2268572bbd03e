"""Replay and late originals on the real broker."""

from __future__ import annotations

import asyncio
import re
import time

import orjson
import pytest

from streams.audit import InputRecord, audit
from streams.cli.kafka_io import key_of_line
from streams.cli.ops import consumer_lag
from streams.cli.replay import rewind
from streams.sim.population import read_truth, simulate
from tests.integration.harness import (
    _read_to_end,
    clean_run,
    current_verdicts,
    feed_and_collect,
    outcome_diff,
    outcomes,
    produce,
    read_topic,
    revision_violations,
    tunggal,
)


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("replay-pop")
    simulate(300, 99, out)
    return out


def _lines(pop) -> list[bytes]:
    return [x for x in (pop / "enrollments.jsonl").read_bytes().split(b"\n") if x]


def _wait_for_zero_lag(s, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in asyncio.run(consumer_lag(s)) if r[0] == s.topics.enrollments]
        if rows and all(done >= end for _t, _p, done, end in rows):
            return
        time.sleep(1)
    raise AssertionError("the replay did not catch up")


def test_replaying_a_processed_topic_emits_no_new_revision_and_audits_clean(ns, population):
    """Re-read whole, then screened."""
    s = ns.settings
    ns.start_worker()
    verdicts, letters = feed_and_collect(ns, _lines(population), timeout=600)
    before = len(verdicts)
    ns.stop_workers()
    # Unscreened: the workers re-read every record and their own per-record checks skip it.
    rewound = asyncio.run(rewind(s, None, screened=False))
    assert all(off == 0 for off in rewound.starts.values()) and rewound.skipped == 0
    ns.start_worker("w2")
    time.sleep(5)
    _wait_for_zero_lag(s)
    time.sleep(5)  # anything the replay caused would now be on the topic
    after = read_topic(s.bootstrap, s.topics.verdicts, timeout=30, done=lambda r: len(r) >= before)
    assert len(after) == before, "a replay of processed input emitted verdicts"
    inputs = read_topic(s.bootstrap, s.topics.enrollments, timeout=30,
                        done=lambda r: len(r) >= len(_lines(population)))
    dlq = read_topic(s.bootstrap, s.topics.dlq, timeout=30, done=lambda r: len(r) >= len(letters))
    report = audit([InputRecord(r.partition, r.offset, r.key, r.value) for r in inputs],
                   [r.value for r in after], [r.value for r in dlq])
    assert report.clean, report.text()

    # Screened (the default): the workers' state proves every record processed (finished,
    # dead-lettered, or an identical re-send), so the group is left at the end: nothing re-read.
    ns.stop_workers()
    done = tunggal(ns, "replay", "--from-beginning")
    assert done.returncode == 0, done.stdout + done.stderr
    m = re.search(r"([\d,]+) records already processed are not re-read", done.stdout)
    assert m and int(m.group(1).replace(",", "")) == len(inputs), done.stdout
    rows = [r for r in asyncio.run(consumer_lag(s)) if r[0] == s.topics.enrollments]
    assert rows and all(committed == end for _t, _p, committed, end in rows), rows


def test_a_later_capture_decided_before_its_original_is_revised_when_the_original_arrives(
        ns, population):
    s = ns.settings
    truth = list(read_truth(population / "truth.json"))
    by_id = {orjson.loads(x)["enrollment_id"]: x for x in _lines(population)
             if x.startswith(b"{") and b'"enrollment_id"' in x}
    pair = next((t for t in truth if t["expected"] in ("RECAPTURE", "DUPLICATE")
                 and t["person_id"] in by_id and t["enrollment_id"] in by_id
                 and t["modality"] == "both"), None)
    assert pair is not None
    later, original = by_id[pair["enrollment_id"]], by_id[pair["person_id"]]
    ns.start_worker()
    produce(s.bootstrap, s.topics.enrollments, [(key_of_line(later), later)], s)
    first = current_verdicts(read_topic(s.bootstrap, s.topics.verdicts, timeout=180,
                                        done=lambda r: len(r) >= 1))
    assert first[pair["enrollment_id"]]["verdict"] == "UNIQUE"
    produce(s.bootstrap, s.topics.enrollments, [(key_of_line(original), original)], s)
    records = read_topic(s.bootstrap, s.topics.verdicts, timeout=180,
                         done=lambda r: len(r) >= 3)
    final = current_verdicts(records)
    assert final[pair["person_id"]]["verdict"] == "UNIQUE"
    revised = final[pair["enrollment_id"]]
    assert revised["verdict"] == pair["expected"] and revised["revision"] == 2
    assert revised["person_id"] == pair["person_id"]
    assert [m["enrollment_id"] for m in revised["matches"]] == [pair["person_id"]]


def test_a_station_backlog_replayed_from_a_file_revises_only_the_verdicts_it_affects(
        ns, population, tmp_path):
    """Stations holding the originals of several duplicates upload their backlog after every
    other capture was decided: the later captures are revised (UNIQUE -> DUPLICATE/RECAPTURE),
    every other verdict keeps its revision, and the end state is a clean run's."""
    lines = _lines(population)
    keyed = [(key_of_line(x), x) for x in lines]
    station = {k.decode(): orjson.loads(x)["station_id"] for k, x in keyed
               if k is not None and b'"station_id"' in x}
    late = [t["person_id"] for t in read_truth(population / "truth.json")
            if t["expected"] in ("DUPLICATE", "RECAPTURE") and t["person_id"] in station]
    stations = {station[eid] for eid in late[:5]}
    backlog = [x for k, x in keyed if k is not None and station.get(k.decode()) in stations]
    rest = [x for x in lines if x not in backlog]
    assert 5 <= len(backlog) < len(lines) // 5

    expected = outcomes(clean_run(ns.bootstrap, tmp_path / "ref", lines))

    s = ns.settings
    ns.start_worker()
    first_records, first_letters = feed_and_collect(ns, rest, timeout=600)
    first = outcomes(first_records)
    path = tmp_path / "station-backlog.jsonl"
    path.write_bytes(b"".join(x + b"\n" for x in backlog))
    done = tunggal(ns, "replay", "--file", str(path), "--watch", "--settle", "5", "--timeout",
                   "600", timeout=700)
    assert done.returncode == 0, done.stdout + done.stderr + ns.worker_logs()

    records = asyncio.run(_read_to_end(s.bootstrap, s.topics.verdicts))
    got = outcomes(records)
    assert got == expected, outcome_diff(expected, got)
    assert not revision_violations(records)
    seen = {(r.partition, r.offset) for r in first_records}
    after = [orjson.loads(r.value) for r in records if (r.partition, r.offset) not in seen]
    touched = {v["enrollment_id"] for v in after}
    moved = {eid for eid, o in first.items() if got[eid] != o}
    assert moved, "no late original changed an earlier verdict: the test shows nothing"
    assert touched & first.keys() == moved, "a verdict was revised that did not change"
    assert any(first[eid][0] == "UNIQUE" and got[eid][0] in ("DUPLICATE", "RECAPTURE")
               for eid in moved)
    letters = asyncio.run(_read_to_end(s.bootstrap, s.topics.dlq))
    summary = re.search(r"read ([\d,]+)  new verdicts ([\d,]+)  revised ([\d,]+)  unchanged "
                        r"([\d,]+)  dead-lettered ([\d,]+)", done.stdout)
    assert summary, done.stdout
    read, new, revised, _unchanged, dead = (int(x.replace(",", "")) for x in summary.groups())
    assert read == len(backlog)
    assert new == sum(1 for v in after if v["revision"] == 1)
    assert revised == sum(1 for v in after if v["revision"] > 1)
    assert dead == len(letters) - len(first_letters)
