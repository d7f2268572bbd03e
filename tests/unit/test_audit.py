import orjson

from streams.audit import InputRecord, audit
from tests.factories import make_enrollment


def verdict(eid, rev, person=None, matches=()):
    return orjson.dumps({"enrollment_id": eid, "revision": rev, "person_id": person or eid,
                         "matches": [{"enrollment_id": m} for m in matches]})


def letter(partition, offset):
    return orjson.dumps({"partition": partition, "offset": offset})


def inputs(n=3):
    recs = [InputRecord(0, i, None, orjson.dumps(make_enrollment(i + 1))) for i in range(n)]
    recs.append(InputRecord(1, 0, None, b"not json"))
    return recs


def ids(n=3):
    return [make_enrollment(i + 1)["enrollment_id"] for i in range(n)]


def test_everything_accounted_for_is_clean():
    a, b, c = ids()
    r = audit(inputs(), [verdict(a, 1), verdict(b, 1), verdict(b, 2, a, [a]), verdict(c, 1)],
              [letter(1, 0)])
    assert r.clean and r.inputs == 4 and r.valid_ids == 3


def test_missing_verdict_and_missing_dead_letter_are_listed():
    a, b, c = ids()
    r = audit(inputs(), [verdict(a, 1), verdict(b, 1)], [])
    assert not r.clean
    assert c in r.missing and any("1:0" in m for m in r.missing) and len(r.missing) == 2


def test_revision_anomalies_are_listed():
    a, b, c = ids()
    r = audit(inputs(), [verdict(a, 2), verdict(a, 1), verdict(b, 1), verdict(b, 1), verdict(c, 1)],
              [letter(1, 0)])
    assert len(r.revision_anomalies) == 2 and not r.clean


def test_evidence_naming_an_unknown_enrollment_is_listed():
    a, b, c = ids()
    r = audit(inputs(), [verdict(a, 1), verdict(b, 1, "GHOST", ["GHOST"]), verdict(c, 1)],
              [letter(1, 0)])
    assert r.unknown_references == ["%s -> GHOST" % b, "%s -> GHOST" % b]
