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


def _strict_b64(text: object) -> bytes | None:
    """The bytes of ``text`` when it matches the schema's base64 rule, else ``None``.

    ``binascii.a2b_base64`` in strict mode refuses every string the rule refuses except excess
    ``=`` after a complete quantum (``AAAA====``), which the length and padding-position tests
    refuse (checked against the rule on every string of up to 9 characters over a covering
    alphabet, and in ``tests/unit/codecs``). Decoding succeeds exactly when
    ``base64.b64decode(text, validate=True)`` does, with the same bytes.
    """
    if type(text) is not str or len(text) & 3 or text.find("=", 0, len(text) - 2) >= 0:
        return None
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def _all_blobs(obj: dict[str, Any]) -> list[bytes] | None:
    """Every base64 field decoded, in event order (each ``data``, then ``code`` and ``mask`` of
    each iris), or ``None`` if any is not base64 by the schema's rule or the event is not
    shaped for reading them; never raises."""
    try:
        out = []
        for fp in obj["fingerprints"]:
            data = _strict_b64(fp["data"])
            if data is None:
                return None
            out.append(data)
        for ir in obj["irises"]:
            code, mask = _strict_b64(ir["code"]), _strict_b64(ir["mask"])
            if code is None or mask is None:
                return None
            out.append(code)
            out.append(mask)
        return out
    except Exception:  # noqa: BLE001 - any surprise: the plain path raises what it always raised
        return None


def decode_enrollment(obj: dict[str, Any], *, admitted: bool = False) -> Enrollment:
    """A parsed JSON object -> a validated :class:`Enrollment`.

    ``admitted``: the object is an event this engine already admitted (its stored bytes), so the
    JSON Schema check is skipped; every other check still runs.

    Fast path: a hand-written structure check (:func:`schemas.enrollment_structure_ok`) and a
    strict decoding of every base64 field stand in for the JSON Schema check (they pass only
    for an event the schema accepts); any event they do not pass takes the plain path, whose
    results (errors, messages, paths) are the reference ones.
    """
    schema_id = obj.get("schema")
    if schema_id != schemas.ENROLLMENT:
        raise InputError(f"schema {schema_id!r} is not {schemas.ENROLLMENT!r}", path="/schema",
                         code=UNKNOWN_SCHEMA)
    blobs = _all_blobs(obj) if admitted or schemas.enrollment_structure_ok(obj) else None
    if blobs is None:
        error = None if admitted else _schema_error(obj, schemas.ENROLLMENT)
        if error is not None:
            raise error
    return _decode_checked(obj, blobs)


def _decode_checked(obj: dict[str, Any], blobs: list[bytes] | None) -> Enrollment:
    """Everything after the schema check. ``blobs``: the base64 fields already decoded (see
    :func:`_all_blobs`), or ``None`` to decode (and check) them here."""
    captured = parse_timestamp(obj["captured_at"], "/captured_at")
    demo = obj["demographics"]
    try:
        date.fromisoformat(demo["birth_date"])
    except ValueError:
        raise SchemaViolation(f"no such date: {demo['birth_date']!r}",
                              path="/demographics/birth_date") from None
    k = 0
    fingers: list[FingerView] = []
    seen_positions: set[int] = set()
    for i, fp in enumerate(obj["fingerprints"]):
        position = fp["position"]
        if position in seen_positions:
            raise SchemaViolation(f"finger position {position} appears twice",
                                  path=f"/fingerprints/{i}/position")
        seen_positions.add(position)
        if blobs is None:
            record = _b64(fp["data"], f"/fingerprints/{i}/data")
        else:
            record = blobs[k]
            k += 1
        fingers.append(iso19794.decode_single(record, position, path=f"/fingerprints/{i}/data"))
    irises: list[IrisTemplate] = []
    seen_eyes: set[str] = set()
    for i, ir in enumerate(obj["irises"]):
        path = f"/irises/{i}"
        if ir["eye"] in seen_eyes:
            raise SchemaViolation(f"eye {ir['eye']} appears twice", path=f"{path}/eye")
        seen_eyes.add(ir["eye"])
        if blobs is None:
            code, mask = _b64(ir["code"], f"{path}/code"), _b64(ir["mask"], f"{path}/mask")
        else:
            code, mask = blobs[k], blobs[k + 1]
            k += 2
        irises.append(unpack(code, mask, ir["shape"], ir["eye"], path=path))
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
