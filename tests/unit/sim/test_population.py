"""The synthetic population: scenario shares, NIKs, schema validity, determinism, arrival order,
malformed kinds and their codes, and expected verdicts that follow the contract's rules."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from streams.cli.kafka_io import key_of_line
from streams.codecs.schemas import validator
from streams.domain.nik import nik_findings, parse_nik
from streams.domain.types import Demographics
from streams.ingest import Admitted, Refused, Source, admit, node_of
from streams.sim import scenarios as sc
from streams.sim.events import BOTH, FINGER_SETS, Spec, malformed_catalogue, render
from streams.sim.population import TRUTH_FIELDS, expect_story, read_truth, simulate

PLAN_PEOPLE = 20_000
KINDS = tuple(malformed_catalogue())


@pytest.fixture(scope="module")
def big_plan() -> list[sc.Capture]:
    caps = sc.plan(PLAN_PEOPLE, 5, malformed_kinds=KINDS)
    for group in sc.stories(caps):
        expect_story(group)
    return caps


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("pop")
    shares = sc.Shares(malformed=0.08, no_biometrics=0.03, resend=0.05, late=0.1,
                       single_modality=0.1, chain=0.03, nik_conflict=0.03)
    return out, simulate(250, 11, out, shares=shares, fingers=2, workers=2)


def _within(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    """``count`` out of ``n`` is within ``sigmas`` binomial standard deviations of ``n * p``."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


def test_story_shares_match_the_settings(big_plan):
    shares = sc.Shares()
    counts = Counter(g[0].story_kind for g in sc.stories(big_plan))
    assert sum(counts.values()) == PLAN_PEOPLE
    for kind, p in shares.story_weights():
        assert _within(counts[kind], PLAN_PEOPLE, p), (kind, counts[kind], p)


def test_single_modality_and_late_shares(big_plan):
    shares = sc.Shares()
    usable = [c for c in big_plan if c.modality not in (sc.EMPTY, sc.POOR)]
    single = sum(c.modality in (sc.IRIS_ONLY, sc.FINGER_ONLY) for c in usable)
    assert _within(single, len(usable), shares.single_modality)
    # Outages cluster captures by station, so the late share varies more than a binomial one.
    late = sum(c.late for c in big_plan) / len(big_plan)
    assert 0.5 * shares.late < late < 1.5 * shares.late
    resent = sum(bool(c.resend_ts) for c in big_plan if c.valid)
    assert _within(resent, sum(c.valid for c in big_plan), shares.resend)


def test_niks_are_valid_and_shared_only_in_nik_conflicts(big_plan):
    holders: dict[str, set[int]] = defaultdict(set)
    for c in big_plan:
        parts = parse_nik(c.nik)
        assert parts.date_is_valid and parts.serial >= 1
        assert c.demographics.region_code[:2] in sc.PROVINCE_STATIONS
        if c.role not in ("relative", "stranger"):
            assert nik_findings(c.nik, c.demographics) == (), (c.role, c.nik, c.demographics)
        holders[c.nik].add(c.person_key)
    shared = {nik for nik, keys in holders.items() if len(keys) > 1}
    conflict_niks = {c.nik for c in big_plan if c.story_kind == sc.NIK_CONFLICT}
    assert shared == conflict_niks


def test_ids_times_and_stations_follow_the_contract(big_plan):
    ids = [c.enrollment_id for c in big_plan]
    assert len(set(ids)) == len(ids)
    offsets = {"+07:00": 7, "+08:00": 8, "+09:00": 9}
    for c in big_plan[:3000]:
        station, day, serial = c.enrollment_id.split("-")
        assert station == c.station_id and len(serial) == 6 and day == c.captured_at[:10].replace("-", "")
        assert offsets[c.captured_at[-6:]] == sc.PROVINCE_STATIONS[c.demographics.region_code[:2]][1]
        assert c.station_id.startswith(sc.PROVINCE_STATIONS[c.demographics.region_code[:2]][0])
        assert sc.OPEN_HOUR <= int(c.captured_at[11:13]) < sc.CLOSE_HOUR, c.captured_at
    for group in sc.stories(big_plan):
        if group[0].story_kind in (sc.RECAPTURE, sc.DUPLICATE, sc.CHAIN, sc.NIK_CONFLICT):
            times = [c.captured_ts for c in group]
            assert times == sorted(times) and len(set(times)) == len(times)


def test_late_arrivals_put_a_later_capture_before_the_original():
    caps = sc.plan(3000, 2, sc.Shares(late=0.3, recapture=0.3), malformed_kinds=KINDS)
    by_person: dict[int, list[sc.Capture]] = defaultdict(list)
    for c in caps:
        by_person[c.person_key].append(c)
    inverted = 0
    for group in by_person.values():
        original = min(group, key=lambda c: (c.captured_ts, c.enrollment_id))
        inverted += any(c.arrival_ts < original.arrival_ts for c in group if c is not original)
    assert inverted >= 5
    assert all(c.arrival_ts > c.captured_ts for c in caps)


def test_expected_verdict_shares_follow_the_stories(big_plan):
    got = Counter(c.expected for c in big_plan)
    stories = Counter(g[0].story_kind for g in sc.stories(big_plan))
    assert got["RECAPTURE"] >= stories[sc.RECAPTURE]
    assert got["DUPLICATE"] >= stories[sc.DUPLICATE]
    assert got["NIK_CONFLICT"] == stories[sc.NIK_CONFLICT]
    for c in big_plan:
        if c.story_kind == sc.TWINS:
            assert c.expected == "UNIQUE" and c.person_id == c.enrollment_id
        if c.error is not None:
            assert c.error == malformed_catalogue()[c.malformed_kind][0]


# -- expected verdicts on hand-built stories -------------------------------------------------------

DEMO = Demographics("SITI", "BANDUNG", "1987-04-05", "F", "32.73.05.1001")


def _cap(eid: str, key: int, nik: str, ts: float, modality: str = BOTH, malformed: str | None = None):
    c = sc.Capture(0, "HAND", "x", key, DEMO, nik, "JBR7301", 7, ts, modality, malformed)
    c.enrollment_id, c.captured_at = eid, sc.local_time(ts, 7)
    return c


def _expect(*caps):
    expect_story(list(caps))
    return [(c.expected, c.person_id) for c in caps]


def test_recapture_duplicate_and_chain():
    a, b, c = _cap("A", 1, "1" * 16, 100), _cap("B", 1, "1" * 16, 200), _cap("C", 1, "2" * 16, 300)
    d = _cap("D", 1, "2" * 16, 400)
    assert _expect(a, b, c, d) == [("UNIQUE", "A"), ("RECAPTURE", "A"), ("DUPLICATE", "A"),
                                   ("DUPLICATE", "A")]


def test_original_is_the_earliest_capture_not_the_first_planned():
    late, early = _cap("Z-late", 1, "1" * 16, 500), _cap("Y-early", 1, "2" * 16, 100)
    assert _expect(late, early) == [("DUPLICATE", "Y-early"), ("UNIQUE", "Y-early")]
    tie_b, tie_a = _cap("B", 2, "3" * 16, 100), _cap("A", 2, "3" * 16, 100)
    assert _expect(tie_b, tie_a) == [("RECAPTURE", "A"), ("UNIQUE", "A")]


def test_nik_conflict_belongs_to_the_first_user():
    owner, other = _cap("A", 1, "1" * 16, 100), _cap("B", 2, "1" * 16, 200)
    assert _expect(owner, other) == [("UNIQUE", "A"), ("NIK_CONFLICT", "B")]
    owner, other = _cap("A", 1, "1" * 16, 300), _cap("B", 2, "1" * 16, 200)
    assert _expect(owner, other) == [("NIK_CONFLICT", "A"), ("UNIQUE", "B")]


def test_twins_unusable_and_malformed():
    assert _expect(_cap("A", 1, "1" * 16, 1), _cap("B", 2, "2" * 16, 1)) == [("UNIQUE", "A"), ("UNIQUE", "B")]
    poor, good = _cap("A", 1, "1" * 16, 100, sc.POOR), _cap("B", 1, "1" * 16, 200)
    assert _expect(poor, good) == [("REJECTED", None), ("UNIQUE", "B")]
    readable = _cap("M1", 3, "4" * 16, 1, malformed="bad_sex")
    unreadable = _cap("M2", 4, "5" * 16, 1, malformed="not_json")
    assert _expect(readable, unreadable) == [("REJECTED", None), (None, None)]
    assert (readable.error, unreadable.error) == ("SCHEMA_VIOLATION", "NOT_JSON")


# -- rendered files ---------------------------------------------------------------------------------

def test_every_malformed_kind_gets_its_code_from_ingestion():
    seen = {}
    src = Source("enrollments", 0, 0, "2017-01-01T00:00:00+07:00")
    for i, (kind, (code, readable)) in enumerate(sorted(malformed_catalogue().items())):
        spec = Spec(i, f"JKT0101-20170913-{i:06d}", "JKT0101", "2017-09-13T10:15:00+07:00",
                    "3171014509870001", ("SITI", "JAKARTA", "1987-09-05", "F", "31.71.01.1001"),
                    i, BOTH, kind)
        line = render(spec, 3, FINGER_SETS[2]).line
        out = admit(key_of_line(line), line, src, lambda eid: None)
        assert isinstance(out, Refused), kind
        assert out.dead_letter["error"]["code"] == code, kind
        assert (out.rejected is not None) == readable, kind
        seen[kind] = code
    assert len(seen) >= 20 and {"NOT_JSON", "SCHEMA_VIOLATION", "BAD_BASE64", "BAD_IRIS_SHAPE",
                                "BAD_ISO_19794_2", "ANSI_378_NOT_SUPPORTED"} <= set(seen.values())


def test_files_agree_with_ingestion_and_the_schema(run):
    out, summary = run
    truth = {t["enrollment_id"]: t for t in read_truth(out / "truth.json")}
    assert all(set(TRUTH_FIELDS) == set(t) for t in truth.values())
    check = validator("tunggal.enrollment.v1")
    src = Source("enrollments", 0, 0, "2017-01-01T00:00:00+07:00")
    digests: dict[str, str] = {}
    lines = (out / "enrollments.jsonl").read_bytes().splitlines()
    assert len(lines) == summary.events == len(truth) + summary.resent
    counts = Counter()
    for line in lines:
        result = admit(key_of_line(line), line, src, digests.get)
        if isinstance(result, Admitted):
            e = result.enrollment
            t = truth[e.enrollment_id]
            assert t["error"] is None and not list(check.iter_errors(orjson.loads(line)))
            assert node_of(e).usable == (t["modality"] not in (sc.EMPTY, sc.POOR)), t
            if t["modality"] == sc.IRIS_ONLY:
                assert not e.fingers and e.irises
            if t["modality"] == sc.FINGER_ONLY:
                assert not e.irises and e.fingers
            counts["resend" if result.resend else "valid"] += 1
            assert result.resend == (e.enrollment_id in digests)
            digests[e.enrollment_id] = e.digest
        else:
            code = result.dead_letter["error"]["code"]
            matches = [t for t in truth.values() if t["value_sha256"] and t["error"] == code]
            assert matches, code
            counts["dead"] += 1
    assert counts["resend"] == summary.resent > 0
    assert counts["dead"] == sum(1 for t in truth.values() if t["error"]) > 0
    assert summary.late > 0 and summary.stories.get(sc.NO_BIOMETRICS, 0) > 0


def test_arrival_order_is_the_file_order(run):
    out, _ = run
    truth = list(read_truth(out / "truth.json"))
    plan = {c.enrollment_id: c for c in sc.plan(250, 11, sc.Shares(
        malformed=0.08, no_biometrics=0.03, resend=0.05, late=0.1, single_modality=0.1,
        chain=0.03, nik_conflict=0.03), malformed_kinds=KINDS)}
    arrivals = [plan[t["enrollment_id"]].arrival_ts for t in truth]
    assert arrivals == sorted(arrivals)


def test_deterministic_for_a_seed_whatever_the_workers(tmp_path):
    a = simulate(40, 9, tmp_path / "a", fingers=2, workers=1)
    b = simulate(40, 9, tmp_path / "b", fingers=2, workers=2)
    c = simulate(40, 10, tmp_path / "c", fingers=2, workers=1)
    assert a.events == b.events
    for name in ("enrollments.jsonl", "truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()


def _simulate_cli(out: Path, *extra: str) -> None:
    import argparse

    from streams.cli.sim_commands import register
    from streams.settings import Settings

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", "--people", "60", "--seed", "4", "--out", str(out),
                              "--share-resend", "0.2", "--share-malformed", "0.05", *extra])
    assert args.handler(args, Settings.from_env({})) == 0


def test_simulate_command_is_byte_identical_whatever_the_workers_and_chunks(tmp_path, monkeypatch):
    """Ten-finger events: one process, two, the default, and two with other chunks all write the
    same bytes; a re-sent event repeats its first send byte for byte."""
    from streams.sim import population

    _simulate_cli(tmp_path / "one", "--workers", "1")
    _simulate_cli(tmp_path / "two", "--workers", "2")
    _simulate_cli(tmp_path / "default")
    monkeypatch.setattr(population, "CHUNK_EVENTS", 5)
    _simulate_cli(tmp_path / "chunks", "--workers", "2")
    for name in ("enrollments.jsonl", "truth.json"):
        want = (tmp_path / "one" / name).read_bytes()
        for run in ("two", "default", "chunks"):
            assert (tmp_path / run / name).read_bytes() == want, (run, name)
    first: dict[bytes, bytes] = {}
    resent = 0
    for line in (tmp_path / "one" / "enrollments.jsonl").read_bytes().splitlines():
        key = key_of_line(line)
        if key is None:  # a malformed record without a readable id: sent once
            continue
        if key in first:
            assert line == first[key]
            resent += 1
        first.setdefault(key, line)
    summary = orjson.loads((tmp_path / "one" / "summary.json").read_bytes())
    assert resent == summary["resent"] > 0


def test_simulate_command_publishes_in_file_order_at_the_rate(tmp_path, monkeypatch, capsys):
    import argparse
    import asyncio
    import time

    from streams.app import admin
    from streams.cli import kafka_io
    from streams.cli.sim_commands import register
    from streams.settings import Settings

    sent: list[bytes] = []

    async def fake_produce(bootstrap, topic, lines, *, total=None, rate=None, progress=None):
        async for line in lines:
            sent.append(line)
        return len(sent)

    async def fake_topics(settings):
        return {}

    monkeypatch.setattr(kafka_io, "produce_lines", fake_produce)
    monkeypatch.setattr(admin, "ensure_topics", fake_topics)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", "--people", "30", "--seed", "2", "--out", str(tmp_path),
                              "--fingers", "2", "--workers", "1", "--to-kafka", "--rate", "400"])
    assert args.handler(args, Settings.from_env({})) == 0
    assert sent == (tmp_path / "enrollments.jsonl").read_bytes().splitlines()
    assert "published" in capsys.readouterr().out
    # pacing: jittered gaps around 1/rate, so n records take about n/rate seconds, never much less
    from streams.cli.sim_commands import _paced

    async def drain():
        t0 = time.monotonic()
        got = [x async for x in _paced(tmp_path / "enrollments.jsonl", 200.0, 1)]
        return got, time.monotonic() - t0

    got, elapsed = asyncio.run(drain())
    assert got == sent and elapsed >= 0.8 * len(got) / 200.0


@pytest.mark.parametrize("argv", [["--share-late", "1.5"], ["--share-recapture", "0.7", "--share-duplicate", "0.4"],
                                  ["--people", "0"], ["--seed", "-1"]])
def test_simulate_refuses_bad_options(tmp_path, argv):
    import argparse

    from streams.cli.sim_commands import register
    from streams.errors import ConfigError
    from streams.settings import Settings

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    base = {"--people": "5", "--seed": "1"}
    for flag, value in zip(argv[::2], argv[1::2]):
        base[flag] = value
    args = parser.parse_args(["simulate", "--out", str(tmp_path)] + [x for kv in base.items() for x in kv])
    with pytest.raises(ConfigError):
        args.handler(args, Settings.from_env({}))
    assert not (tmp_path / "enrollments.jsonl").exists()
