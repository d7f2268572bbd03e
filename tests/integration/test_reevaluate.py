"""``tunggal replay --reevaluate`` on the real broker: after an engine change, the stored
enrollments are decided again, only the verdicts that change get a new revision, and the result
is what the new engine gives when it processes the same input from scratch."""

from __future__ import annotations

import asyncio
import textwrap

import orjson
import pytest

from streams.sim.population import simulate
from tests.integration.harness import (
    Namespace,
    clean_run,
    _read_to_end,
    current_verdicts,
    feed_and_collect,
    outcome_diff,
    outcomes,
    revision_violations,
    run_audit,
    tunggal,
    wait_for_group,
)

#: "The next engine version", as a worker sees it: an operating point with no automatic MATCH
#: (every biometric hit is a grey zone, no demographic support), so the later captures of the
#: duplicates become REVIEW while uniques and NIK conflicts stay. Loaded by the worker's
#: interpreter before the engine (sitecustomize), like a code change.
STRICTER_ENGINE = textwrap.dedent("""
    import streams
    import streams.matching.thresholds as T
    T.IRIS_HD_AT_FMR_1E8 = -1.0
    T.IRIS_HD_LONE_EYE_MATCH = -1.0
    T.FINGER_LLR_MATCH = 1e9
    T.DEMOGRAPHIC_SUPPORT = 1.01
    streams.ENGINE = "tunggal stricter-test-engine"
""")


@pytest.fixture
def stricter(tmp_path):
    d = tmp_path / "stricter-engine"
    d.mkdir()
    (d / "sitecustomize.py").write_text(STRICTER_ENGINE)
    return {"PYTHONPATH": str(d)}


def _lines(pop) -> list[bytes]:
    return [x for x in (pop / "enrollments.jsonl").read_bytes().split(b"\n") if x]


def _verdict_records(space: Namespace) -> list:
    return asyncio.run(_read_to_end(space.bootstrap, space.settings.topics.verdicts))


def _reevaluate_on_new_engine(ns: Namespace, expected: dict, env: dict | None = None
                              ) -> tuple:
    """Restart the group's worker on the new engine, run ``replay --reevaluate --watch``, and
    check the verdicts equal ``expected`` with revisions in order. Returns the command's result
    and the verdict records."""
    ns.stop_workers()
    ns.start_worker("w-new", extra_env=env)
    wait_for_group(ns, 1)
    done = tunggal(ns, "replay", "--reevaluate", "--watch", "--settle", "5", "--timeout", "600",
                   timeout=700)
    assert done.returncode == 0, done.stdout + done.stderr + ns.worker_logs()
    records = _verdict_records(ns)
    got = outcomes(records)
    assert got == expected, outcome_diff(expected, got)
    assert not revision_violations(records)
    return done, records


def test_reevaluation_after_an_engine_change_revises_only_what_changed(ns, tmp_path, stricter):
    pop = tmp_path / "pop"
    simulate(300, 7, pop)
    lines = _lines(pop)

    # the same input processed from scratch by the new engine: the reference
    expected = outcomes(clean_run(ns.bootstrap, tmp_path / "ref", lines, stricter))

    # the old engine decides everything, then the workers are restarted with the new one
    ns.start_worker()
    old_records, _ = feed_and_collect(ns, lines, timeout=600)
    old = current_verdicts(old_records)
    old_outcomes = outcomes(old_records)
    moving = {eid for eid in expected if expected[eid] != old_outcomes.get(eid)}
    assert len(moving) >= 10, "the engine change must move verdicts, or this test shows nothing"
    assert len(moving) < len(expected) // 2
    done, records = _reevaluate_on_new_engine(ns, expected, stricter)
    before = {(r.partition, r.offset) for r in old_records}
    revised = {r.key.decode() for r in records if (r.partition, r.offset) not in before}
    now = current_verdicts(records)
    changed = {eid for eid, v in now.items()
               if any(v[f] != old[eid][f] for f in ("verdict", "person_id", "matches", "reasons"))}
    assert changed >= moving
    assert revised == changed, (sorted(revised - changed)[:5], sorted(changed - revised)[:5])
    assert all(now[eid]["engine"] == "tunggal stricter-test-engine" for eid in changed)
    verdict_moves = sum(1 for eid in changed if now[eid]["verdict"] != old[eid]["verdict"])
    assert f"{verdict_moves:,} changed verdict" in done.stdout, done.stdout
    code, report = run_audit(ns)
    assert code == 0, report


#: "The old engine" of the re-keying test: it indexes only the NIK (it finds recaptures and NIK
#: conflicts, no duplicate under a new NIK) and one key of its own per enrollment that the next
#: engine no longer derives, so the pass must both add keys to the index and take keys out.
NIK_ONLY_ENGINE = textwrap.dedent("""
    import streams
    import streams.blocking.keys as K
    _keys_for = K.keys_for
    def keys_for(e):
        return sorted([k for k in _keys_for(e) if k.startswith("nik:")]
                      + ["old:" + e.enrollment_id])
    K.keys_for = keys_for
    streams.ENGINE = "tunggal nik-only-test-engine"
""")


def test_reevaluation_after_a_blocking_key_change_reindexes_and_finds_what_the_new_keys_find(
        ns, tmp_path):
    pop = tmp_path / "pop"
    simulate(500, 11, pop)
    lines = _lines(pop)
    d = tmp_path / "nik-only-engine"
    d.mkdir()
    (d / "sitecustomize.py").write_text(NIK_ONLY_ENGINE)
    nik_only = {"PYTHONPATH": str(d)}

    # the current engine processing the input from scratch: the reference
    expected = outcomes(clean_run(ns.bootstrap, tmp_path / "ref", lines))

    # the old keys decide everything; then the current engine re-evaluates
    ns.start_worker(extra_env=nik_only)
    old_records, _ = feed_and_collect(ns, lines, timeout=600)
    old_outcomes = outcomes(old_records)
    moving = {eid for eid in expected if expected[eid] != old_outcomes.get(eid)}
    assert len(moving) >= 10, "the key change must move verdicts, or this test shows nothing"
    _reevaluate_on_new_engine(ns, expected)
    # the index now holds the new keys only: every probe's latest row names no key of the old
    # engine's own, and counts its re-keying (the posting lists' currency check adds them up)
    rows = asyncio.run(_read_to_end(ns.bootstrap, f"{ns.settings.app_id}-index-rows-changelog"))
    latest = {(r.partition, r.key): orjson.loads(r.value) for r in rows}
    assert any(b'"old:' in r.value for r in rows), "the old engine's keys were never indexed"
    assert not any(k.startswith("old:") for row in latest.values() for k in row["keys"])
    rekeyed = {key for (_p, key), row in latest.items() if row.get("v", 0) >= 1}
    # each indexed probe lost its "old:" key on one partition at least
    assert rekeyed == {key for _p, key in latest}
    code, report = run_audit(ns)
    assert code == 0, report
