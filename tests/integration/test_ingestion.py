"""Ingestion on the real broker: valid events stored and decided, every malformed kind
dead-lettered with its code, nothing lost (inputs = verdicts + dead letters)."""

from __future__ import annotations

import base64
from collections import Counter

import orjson

from streams.codecs.schemas import DEAD_LETTER, VERDICT, validator
from streams.sim.malformed import variants
from tests.factories import make_enrollment
from tests.integration.harness import current_verdicts, produce, read_topic, values


def test_valid_and_malformed_inputs_all_end_as_verdict_or_dead_letter(ns):
    s = ns.settings
    valid = [make_enrollment(i, nik=f"32730545048700{i:02d}") for i in range(1, 9)]
    bad = []
    for i, template in enumerate(variants(make_enrollment(1))):
        # give each malformed record its own id so each readable one gets its own verdict
        own = make_enrollment(500 + i)
        m = [v for v in variants(own) if v.kind == template.kind][0]
        bad.append((own["enrollment_id"], m))
    records = [(e["enrollment_id"].encode(), orjson.dumps(e)) for e in valid]
    records += [(eid.encode(), m.value) for eid, m in bad]
    # the same capture sent again (a retry), and an id reused for another capture
    records.append((valid[0]["enrollment_id"].encode(), orjson.dumps(valid[0])))
    reused = dict(valid[1], station_id="OTHER01")
    records.append((reused["enrollment_id"].encode(), orjson.dumps(reused)))

    ns.start_worker()
    produce(s.bootstrap, s.topics.enrollments, records, s)

    readable = {eid for eid, m in bad if m.id_readable}
    expected_verdict_ids = {e["enrollment_id"] for e in valid} | readable
    expected_letters = len(bad) + 1  # + the reused id
    letters = values(read_topic(s.bootstrap, s.topics.dlq, timeout=120,
                                done=lambda r: len(r) >= expected_letters))
    verdict_records = read_topic(s.bootstrap, s.topics.verdicts, timeout=60,
                                 done=lambda r: len({x.key for x in r}) >= len(expected_verdict_ids))
    verdicts = current_verdicts(verdict_records)

    # nothing lost, nothing extra
    assert len(letters) == expected_letters, ns.worker_logs()
    assert set(verdicts) == expected_verdict_ids
    # each malformed kind got its own code, with the original bytes kept whole
    by_key = {l["key"]: l for l in letters}
    for eid, m in bad:
        letter = by_key[eid]
        assert letter["error"]["code"] == m.code, (m.kind, letter["error"])
        assert base64.b64decode(letter["value_base64"]) == (m.value or b"")
        validator(DEAD_LETTER).validate(letter)
    codes = Counter(l["error"]["code"] for l in letters)
    assert codes["ENROLLMENT_ID_REUSED"] == 1
    for eid in readable:
        assert verdicts[eid]["verdict"] == "REJECTED"
    # valid ones: decided, never rejected; the retry made no second revision
    for e in valid:
        v = verdicts[e["enrollment_id"]]
        assert v["verdict"] in {"UNIQUE", "NIK_CONFLICT", "RECAPTURE", "DUPLICATE", "REVIEW"}
        validator(VERDICT).validate(v)
    per_key = Counter(r.key for r in verdict_records)
    assert per_key[valid[0]["enrollment_id"].encode()] == 1
    assert per_key[valid[1]["enrollment_id"].encode()] == 1
    # verdict keys are the raw UTF-8 enrollment ids
    assert {r.key.decode() for r in verdict_records} == expected_verdict_ids
