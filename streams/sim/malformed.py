"""Every kind of malformed input the ingestion must dead-letter, made from a valid event.

Shared by the synthetic population (which records each one in its truth file) and by the tests.
Each variant says the error code it must get and whether its ``enrollment_id`` stays readable
(then a REJECTED verdict is expected too).
"""

from __future__ import annotations

import base64
import copy
import struct
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from streams.codecs.contract import UNKNOWN_SCHEMA


@dataclass(frozen=True, slots=True)
class Malformed:
    kind: str
    value: bytes | None
    code: str
    id_readable: bool


def edited(event: dict[str, Any], path: str, value: Any = None, *, delete: bool = False) -> dict:
    """A deep copy of ``event`` with the value at ``a/b/0/c`` replaced (or deleted)."""
    out = copy.deepcopy(event)
    parts = path.split("/")
    target: Any = out
    for p in parts[:-1]:
        target = target[int(p)] if isinstance(target, list) else target[p]
    last: Any = int(parts[-1]) if isinstance(target, list) else parts[-1]
    if delete:
        del target[last]
    else:
        target[last] = value
    return out


def ansi378_record(position: int = 2) -> bytes:
    """A small ANSI/INCITS 378-2004 record: same magic and version, a 2-byte length field."""
    minutiae = [(1, 100, 120, 40, 60), (2, 150, 200, 100, 70), (1, 210, 80, 5, 80)]
    body = struct.pack(">BBBB", position, 0, 70, len(minutiae))
    for kind, x, y, angle, q in minutiae:
        body += struct.pack(">HHBB", (kind << 14) | x, y, angle, q)
    body += struct.pack(">H", 0)
    header_len = 26
    length = header_len + len(body)
    header = b"FMR\x00" + b" 20\x00" + struct.pack(">H", length) + struct.pack(">I", 0x00330001)
    header += struct.pack(">HHHHHBB", 0, 400, 500, 197, 197, 1, 0)
    return header + body


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def variants(event: dict[str, Any]) -> list[Malformed]:
    """One malformed record per kind, derived from the valid contract ``event`` (which must have
    at least one fingerprint and one iris)."""
    raw = orjson.dumps(event)
    fp0 = event["fingerprints"][0]
    iso = base64.b64decode(fp0["data"])
    ir0 = event["irises"][0]
    code = base64.b64decode(ir0["code"])
    out: list[Malformed] = [
        Malformed("not_json", b"this is not JSON {", "NOT_JSON", False),
        Malformed("truncated_json", raw[: len(raw) // 2], "NOT_JSON", False),
        Malformed("json_array", b"[1, 2, 3]", "NOT_JSON", False),
        Malformed("empty_value", b"", "NOT_JSON", False),
        Malformed("null_value", None, "NOT_JSON", False),
    ]
    edits: list[tuple[str, Callable[[dict], dict], str, bool]] = [
        ("wrong_schema_id", lambda e: edited(e, "schema", "tunggal.enrollment.v0"), UNKNOWN_SCHEMA, True),
        ("missing_nik", lambda e: edited(e, "nik", delete=True), "SCHEMA_VIOLATION", True),
        ("nik_15_digits", lambda e: edited(e, "nik", e["nik"][:15]), "SCHEMA_VIOLATION", True),
        ("nik_with_letter", lambda e: edited(e, "nik", "A" + e["nik"][1:]), "SCHEMA_VIOLATION", True),
        ("missing_demographics", lambda e: edited(e, "demographics", delete=True), "SCHEMA_VIOLATION", True),
        ("captured_at_without_offset", lambda e: edited(e, "captured_at", "2017-09-13T10:15:00"),
         "SCHEMA_VIOLATION", True),
        ("impossible_birth_date", lambda e: edited(e, "demographics/birth_date", "1987-02-30"),
         "SCHEMA_VIOLATION", True),
        ("bad_sex", lambda e: edited(e, "demographics/sex", "X"), "SCHEMA_VIOLATION", True),
        ("extra_field", lambda e: edited(e, "unexpected", 1), "SCHEMA_VIOLATION", True),
        ("missing_enrollment_id", lambda e: edited(e, "enrollment_id", delete=True), "SCHEMA_VIOLATION", False),
        ("finger_position_11", lambda e: edited(e, "fingerprints/0/position", 11), "SCHEMA_VIOLATION", True),
        ("finger_position_twice", lambda e: edited(e, "fingerprints", [fp0, fp0]), "SCHEMA_VIOLATION", True),
        ("bad_base64_finger", lambda e: edited(e, "fingerprints/0/data", "@@not base64@@"), "BAD_BASE64", True),
        ("bad_base64_iris", lambda e: edited(e, "irises/0/code", ir0["code"][:-3] + "!!="), "BAD_BASE64", True),
        ("iris_code_shorter_than_shape", lambda e: edited(e, "irises/0/code", _b64(code[:-1])),
         "BAD_IRIS_SHAPE", True),
        ("iris_shape_63_columns", lambda e: edited(e, "irises/0/shape", [2, 16, 63, 2]), "BAD_IRIS_SHAPE", True),
        ("iris_shape_3_dims", lambda e: edited(e, "irises/0/shape", [2, 16, 256]), "BAD_IRIS_SHAPE", True),
        ("truncated_iso_record", lambda e: edited(e, "fingerprints/0/data", _b64(iso[: len(iso) - 7])),
         "BAD_ISO_19794_2", True),
        ("foreign_record", lambda e: edited(e, "fingerprints/0/data", _b64(b"\x89PNG\r\n\x1a\n" + iso[8:])),
         "BAD_ISO_19794_2", True),
        ("ansi_378_record", lambda e: edited(e, "fingerprints/0/data", _b64(ansi378_record(fp0["position"]))),
         "ANSI_378_NOT_SUPPORTED", True),
        ("iso_position_mismatch",
         lambda e: edited(e, "fingerprints/0/position", 1 if fp0["position"] != 1 else 2),
         "BAD_ISO_19794_2", True),
    ]
    for kind, edit, err, readable in edits:
        out.append(Malformed(kind, orjson.dumps(edit(event)), err, readable))
    return out
