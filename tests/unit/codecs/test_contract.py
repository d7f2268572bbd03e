"""The enrollment codec and the ingestion policy, without Kafka."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from streams.codecs.contract import decode_enrollment, parse_json
from streams.errors import InputError
from streams.ingest import Admitted, Refused, Source, admit
from streams.sim.malformed import variants
from tests.factories import make_enrollment

SOURCE = Source("enrollments", 0, 42, "2017-09-13T10:15:01+07:00")
VALID = make_enrollment(1)


def test_valid_event_decodes_to_typed_arrays():
    e = decode_enrollment(parse_json(orjson.dumps(VALID)))
    assert e.enrollment_id == VALID["enrollment_id"] and e.nik == VALID["nik"]
    assert [f.position for f in e.fingers] == [2, 7]
    assert e.irises[0].code.shape == (2, 16, 256, 2) and e.irises[0].code.dtype == bool
    assert e.fingers[0].x.dtype == np.int32 and e.fingers[0].count == 40
    # captured_at 10:15 at +07:00 is 03:15 UTC
    assert e.captured_ts == pytest.approx(1505272500.0)


def test_an_admitted_event_decodes_the_same_without_the_schema_check():
    for i in range(1, 6):
        raw = orjson.dumps(make_enrollment(i))
        full, fast = decode_enrollment(parse_json(raw)), decode_enrollment(parse_json(raw), admitted=True)
        assert (full.enrollment_id, full.nik, full.captured_ts, full.demographics) == \
            (fast.enrollment_id, fast.nik, fast.captured_ts, fast.demographics)
        assert all(np.array_equal(a.x, b.x) and np.array_equal(a.angle, b.angle)
                   for a, b in zip(full.fingers, fast.fingers, strict=True))
        assert all(np.array_equal(a.code, b.code) and np.array_equal(a.mask, b.mask)
                   for a, b in zip(full.irises, fast.irises, strict=True))


def test_digest_ignores_key_order_but_not_content():
    a = decode_enrollment(parse_json(orjson.dumps(VALID)))
    reordered = dict(reversed(list(VALID.items())))
    b = decode_enrollment(parse_json(orjson.dumps(reordered)))
    c = decode_enrollment(parse_json(orjson.dumps({**VALID, "station_id": "BDG0001"})))
    assert a.digest == b.digest != c.digest


@pytest.mark.parametrize("bad", variants(VALID), ids=lambda m: m.kind)
def test_every_malformed_kind_is_refused_with_its_code(bad):
    outcome = admit(VALID["enrollment_id"].encode(), bad.value, SOURCE, lambda eid: None)
    assert isinstance(outcome, Refused)
    letter = outcome.dead_letter
    assert letter["error"]["code"] == bad.code, letter["error"]
    assert letter["schema"] == "tunggal.dead_letter.v1"
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("enrollments", 0, 42)
    import base64
    assert base64.b64decode(letter["value_base64"]) == (bad.value or b"")
    if bad.id_readable:
        assert outcome.rejected is not None
        assert outcome.rejected.verdict.value == "REJECTED"
        assert outcome.rejected.reasons == (bad.code,)
    else:
        assert outcome.rejected is None


def test_dead_letters_validate_against_the_schema():
    from streams.codecs.schemas import DEAD_LETTER, validator
    for bad in variants(VALID):
        letter = admit(b"k", bad.value, SOURCE, lambda eid: None).dead_letter
        validator(DEAD_LETTER).validate(letter)


def test_resend_same_content_is_admitted_as_resend_and_different_content_is_refused():
    raw = orjson.dumps(VALID)
    first = admit(None, raw, SOURCE, lambda eid: None)
    assert isinstance(first, Admitted) and not first.resend
    stored = {VALID["enrollment_id"]: first.enrollment.digest}
    again = admit(None, raw, SOURCE, stored.get)
    assert isinstance(again, Admitted) and again.resend
    changed = orjson.dumps({**VALID, "nik": "3273054504870002"})
    refused = admit(None, changed, SOURCE, stored.get)
    assert isinstance(refused, Refused)
    assert refused.dead_letter["error"]["code"] == "ENROLLMENT_ID_REUSED"
    # a valid capture already holds this id: its verdict must not be replaced by REJECTED
    assert refused.rejected is None


def test_errors_carry_a_json_pointer():
    bad = orjson.dumps({**VALID, "nik": "123"})
    with pytest.raises(InputError) as err:
        decode_enrollment(parse_json(bad))
    assert err.value.path == "/nik"


def test_a_record_keyed_by_something_else_than_its_id_is_refused():
    raw = orjson.dumps(VALID)
    refused = admit(b"another-id", raw, SOURCE, lambda eid: None)
    assert isinstance(refused, Refused)
    assert refused.dead_letter["error"]["code"] == "KEY_MISMATCH"
    assert isinstance(admit(VALID["enrollment_id"].encode(), raw, SOURCE, lambda eid: None), Admitted)


def test_resend_identity_reads_id_and_digest_without_validating():
    from streams.ingest import resend_identity
    raw = orjson.dumps(VALID)
    admitted = admit(None, raw, SOURCE, lambda eid: None)
    assert resend_identity(raw) == (VALID["enrollment_id"], admitted.enrollment.digest)
    assert resend_identity(b"not json") is None and resend_identity(None) is None
