"""Contract events <-> domain records. Validation happens here, once, at the edge.

Every failure raises an :class:`~streams.errors.InputError` subclass whose ``code`` is the stable
dead-letter error code and whose ``path`` is a JSON pointer into the event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import date, datetime
from typing import Any

import orjson
from jsonschema.exceptions import ValidationError, best_match

from streams.codecs import iso19794, schemas
from streams.codecs.iris import unpack
from streams.domain.types import Demographics, Enrollment, FingerView, IrisTemplate
from streams.errors import Base64Error, DecodeError, InputError, IrisShapeError, SchemaViolation

#: Error code for an event whose ``schema`` field names no event this engine reads.
UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"

_BASE64_FIELDS = {"data", "code", "mask"}

#: The schema's identifier rule: 1-128 printable ASCII characters, no whitespace.
_ID = re.compile(r"[!-~]{1,128}")


def parse_json(raw: bytes | None) -> dict[str, Any]:
    """Bytes -> JSON object, or :class:`DecodeError` (``NOT_JSON``)."""
    if raw is None:
        raise DecodeError("the record has no value (null)", path="")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}", path="") from None
    if not isinstance(obj, dict):
        raise DecodeError(f"JSON value is a {type(obj).__name__}, not an object", path="")
    return obj


def read_enrollment_id(obj: Any) -> str | None:
    """The event's ``enrollment_id`` when it can be read (for a REJECTED verdict), else ``None``."""
    if isinstance(obj, dict):
        eid = obj.get("enrollment_id")
        if isinstance(eid, str) and _ID.fullmatch(eid):
            return eid
    return None


def content_digest(obj: dict[str, Any]) -> str:
    """A digest of the event's content, insensitive to key order and whitespace."""
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _pointer(error: ValidationError) -> str:
    return "".join(f"/{p}" for p in error.absolute_path)


def _schema_error(obj: dict[str, Any], schema_id: str) -> InputError | None:
    if schemas.fast_check(schema_id)(obj):
        return None
    errors = list(schemas.validator(schema_id).iter_errors(obj))
    if not errors:
        return None
    paths = [list(e.absolute_path) for e in errors]
    if all(p and p[-1] in _BASE64_FIELDS and e.validator in ("pattern", "not")
           for p, e in zip(paths, errors)):
        first = errors[0]
        return Base64Error(f"not base64: {first.message[:120]}", path=_pointer(first))
    if all(len(p) >= 3 and p[0] == "irises" and p[2] == "shape" for p in paths):
        return IrisShapeError(f"bad iris shape: {errors[0].message}", path=_pointer(errors[0]))
    worst = best_match(errors)
    return SchemaViolation(worst.message[:300], path=_pointer(worst))


def _b64(text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Base64Error(f"not base64: {exc}", path=path) from None


def parse_timestamp(text: str, path: str) -> datetime:
    """RFC 3339 with an explicit offset -> aware datetime."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise SchemaViolation(f"not an RFC 3339 timestamp: {text!r}", path=path) from None
    if when.tzinfo is None:
        raise SchemaViolation(f"timestamp without an offset: {text!r}", path=path)
    return when


def decode_enrollment(obj: dict[str, Any], *, admitted: bool = False) -> Enrollment:
    """A parsed JSON object -> a validated :class:`Enrollment`.

    ``admitted``: the object is an event this engine already admitted (its stored bytes), so the
    JSON Schema check, a fifth of the decoding cost, is skipped; every other check still runs.
    """
    schema_id = obj.get("schema")
    if schema_id != schemas.ENROLLMENT:
        raise InputError(f"schema {schema_id!r} is not {schemas.ENROLLMENT!r}", path="/schema",
                         code=UNKNOWN_SCHEMA)
    error = None if admitted else _schema_error(obj, schemas.ENROLLMENT)
    if error is not None:
        raise error
    captured = parse_timestamp(obj["captured_at"], "/captured_at")
    demo = obj["demographics"]
    try:
        date.fromisoformat(demo["birth_date"])
    except ValueError:
        raise SchemaViolation(f"no such date: {demo['birth_date']!r}",
                              path="/demographics/birth_date") from None
    fingers: list[FingerView] = []
    seen_positions: set[int] = set()
    for i, fp in enumerate(obj["fingerprints"]):
        path = f"/fingerprints/{i}"
        if fp["position"] in seen_positions:
            raise SchemaViolation(f"finger position {fp['position']} appears twice",
                                  path=f"{path}/position")
        seen_positions.add(fp["position"])
        record = _b64(fp["data"], f"{path}/data")
        fingers.append(iso19794.decode_single(record, fp["position"], path=f"{path}/data"))
    irises: list[IrisTemplate] = []
    seen_eyes: set[str] = set()
    for i, ir in enumerate(obj["irises"]):
        path = f"/irises/{i}"
        if ir["eye"] in seen_eyes:
            raise SchemaViolation(f"eye {ir['eye']} appears twice", path=f"{path}/eye")
        seen_eyes.add(ir["eye"])
        irises.append(unpack(_b64(ir["code"], f"{path}/code"), _b64(ir["mask"], f"{path}/mask"),
                             ir["shape"], ir["eye"], path=path))
    return Enrollment(
        enrollment_id=obj["enrollment_id"],
        station_id=obj["station_id"],
        captured_at=obj["captured_at"],
        captured_ts=captured.timestamp(),
        nik=obj["nik"],
        demographics=Demographics(
            full_name=demo["full_name"], birth_place=demo["birth_place"],
            birth_date=demo["birth_date"], sex=demo["sex"], region_code=demo["region_code"]),
        fingers=tuple(sorted(fingers, key=lambda f: f.position)),
        irises=tuple(sorted(irises, key=lambda t: t.eye)),
        digest=content_digest(obj),
    )


def dead_letter(*, topic: str, partition: int, offset: int, key: bytes | None,
                value: bytes | None, error: InputError, seen_at: str) -> dict[str, Any]:
    """The contract's dead-letter envelope; the original bytes are kept whole."""
    return {
        "schema": schemas.DEAD_LETTER,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value_base64": base64.b64encode(value or b"").decode("ascii"),
        "error": error.as_dict(),
        "seen_at": seen_at,
    }
