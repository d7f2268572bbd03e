"""The contract's JSON Schemas (``schemas/``) against the contract's examples.

Each schema must be a valid draft 2020-12 schema; each example in ``tests/fixtures/contract/``
must validate; each named mutation of an example must be rejected, and for the stated reason:
the case names the keyword that must fail and where, so a mutation rejected by accident (a typo
in the test, an unrelated rule) does not count.
"""

from __future__ import annotations

import base64
import copy
import json
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "schemas"
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "contract"
KINDS = ("enrollment", "verdict", "dead_letter", "adjudication")
#: Topic that carries each event kind (contract, "Topics").
TOPICS = {"enrollment": "enrollments", "verdict": "verdicts", "dead_letter": "enrollments-dlq",
          "adjudication": "adjudications"}
ISO_HEADER_BYTES = 24
ISO_VIEW_HEADER_BYTES = 4
ISO_MINUTIA_BYTES = 6
ISO_EXTENDED_LENGTH_BYTES = 2

REMOVE = object()  # the value of a mutation that deletes the field


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def schema(kind: str) -> dict:
    return load_json(SCHEMA_DIR / f"{kind}.v1.schema.json")


@lru_cache(maxsize=None)
def validator(kind: str, formats: bool = False) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema(kind))
    checker = Draft202012Validator.FORMAT_CHECKER if formats else None
    return Draft202012Validator(schema(kind), format_checker=checker)


def example(kind: str) -> dict:
    """A fresh copy of the contract example of ``kind``."""
    return load_json(FIXTURE_DIR / f"{kind}.v1.json")


def apply(doc: Any, path: tuple, value: Any) -> Any:
    """``doc`` with the field at ``path`` set to ``value`` (or deleted for REMOVE); in place."""
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if value is REMOVE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def flat_errors(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    """Every error, including those nested in ``anyOf`` contexts."""
    for error in errors:
        yield error
        yield from flat_errors(iter(error.context or ()))


@dataclass(frozen=True)
class Case:
    """A named mutation: set ``path`` to ``value`` (after the ``also`` changes) and expect the
    ``keyword`` to fail at ``at`` (default: the field, or its parent for required and
    additionalProperties)."""

    name: str
    path: tuple
    value: Any = REMOVE
    keyword: str = "required"
    at: tuple | None = None
    also: tuple = field(default_factory=tuple)

    def build(self, base: dict) -> Any:
        doc = copy.deepcopy(base)
        for path, value in self.also:
            doc = apply(doc, path, value)
        value = self.value if self.value is REMOVE else copy.deepcopy(self.value)
        return apply(doc, self.path, value)

    def location(self) -> tuple:
        if self.at is not None:
            return self.at
        if self.keyword in ("required", "additionalProperties"):
            return self.path[:-1]
        return self.path


def removals(kind: str, prefix: tuple = ()) -> list[Case]:
    """One case per field of the example object at ``prefix``: every field is required."""
    obj = example(kind)
    for step in prefix:
        obj = obj[step]
    return [Case(f"missing {'.'.join(map(str, prefix + (key,)))}", prefix + (key,)) for key in obj]


def long_ascii(n: int) -> str:
    return "J" * n


FP = ("fingerprints", 0)
IR = ("irises", 0)
SHAPE = IR + ("shape",)
ONE_FINGER = {"position": 2, "format": "ISO_19794_2_2005", "data": "QUJD"}
ONE_IRIS = {"eye": "R", "format": "IRIS_CODE_V1", "shape": [2, 16, 256, 2], "code": "", "mask": ""}
TS = "2017-09-13T10:15:00+07:00"

ENROLLMENT_CASES = [
    *removals("enrollment"), *removals("enrollment", ("demographics",)),
    *removals("enrollment", FP), *removals("enrollment", IR),
    Case("not an object", (), [], "type"),
    Case("schema v2", ("schema",), "tunggal.enrollment.v2", "const"),
    Case("schema of a verdict", ("schema",), "tunggal.verdict.v1", "const"),
    Case("extra top-level field", ("photo",), "QUJD", "additionalProperties"),
    Case("enrollment_id a number", ("enrollment_id",), 123, "type"),
    Case("enrollment_id empty", ("enrollment_id",), "", "minLength"),
    Case("enrollment_id with a space", ("enrollment_id",), "JKT0042 000123", "pattern"),
    Case("enrollment_id 129 chars", ("enrollment_id",), long_ascii(129), "maxLength"),
    Case("enrollment_id trailing newline", ("enrollment_id",), "JKT0042-000123\n", "not"),
    Case("enrollment_id non-ASCII", ("enrollment_id",), "JKT0042\u2013000123", "pattern"),
    Case("station_id 65 chars", ("station_id",), long_ascii(65), "maxLength"),
    Case("station_id null", ("station_id",), None, "type"),
    Case("nik 15 digits", ("nik",), "327305450487000", "pattern"),
    Case("nik 17 digits", ("nik",), "32730545048700011", "pattern"),
    Case("nik with a letter", ("nik",), "327305450487000A", "pattern"),
    Case("nik a number", ("nik",), 3273054504870001, "type"),
    Case("nik trailing newline", ("nik",), "3273054504870001\n", "maxLength"),
    Case("nik Arabic-Indic digits", ("nik",), "\u0663\u0662\u0667\u0663" * 4, "pattern"),
    Case("nik dotted", ("nik",), "32.73.05.450487.0001", "pattern"),
    Case("captured_at without offset", ("captured_at",), "2017-09-13T10:15:00", "pattern"),
    Case("captured_at date only", ("captured_at",), "2017-09-13", "pattern"),
    Case("captured_at space separator", ("captured_at",), "2017-09-13 10:15:00+07:00", "pattern"),
    Case("captured_at lower-case t", ("captured_at",), "2017-09-13t10:15:00+07:00", "pattern"),
    Case("captured_at lower-case z", ("captured_at",), "2017-09-13T03:15:00z", "pattern"),
    Case("captured_at offset without colon", ("captured_at",), "2017-09-13T10:15:00+0700",
         "pattern"),
    Case("captured_at without seconds", ("captured_at",), "2017-09-13T10:15+07:00", "pattern"),
    Case("captured_at month 13", ("captured_at",), "2017-13-13T10:15:00+07:00", "pattern"),
    Case("captured_at hour 24", ("captured_at",), "2017-09-13T24:15:00+07:00", "pattern"),
    Case("captured_at leap second", ("captured_at",), "2016-12-31T23:59:60Z", "pattern"),
    Case("captured_at 10 fraction digits", ("captured_at",), "2017-09-13T03:15:00.0123456789Z",
         "pattern"),
    Case("captured_at epoch number", ("captured_at",), 1505272500, "type"),
    Case("captured_at trailing newline", ("captured_at",), TS + "\n", "not"),
    Case("demographics a string", ("demographics",), "SITI NURHALIZA", "type"),
    Case("demographics extra field", ("demographics", "religion"), "ISLAM", "additionalProperties"),
    Case("full_name empty", ("demographics", "full_name"), "", "minLength"),
    Case("full_name 256 chars", ("demographics", "full_name"), "A" * 256, "maxLength"),
    Case("birth_place null", ("demographics", "birth_place"), None, "type"),
    Case("birth_date DD-MM-YYYY", ("demographics", "birth_date"), "05-04-1987", "pattern"),
    Case("birth_date unpadded", ("demographics", "birth_date"), "1987-4-5", "pattern"),
    Case("birth_date month 13", ("demographics", "birth_date"), "1987-13-05", "pattern"),
    Case("birth_date with time", ("demographics", "birth_date"), "1987-04-05T00:00:00", "pattern"),
    Case("sex X", ("demographics", "sex"), "X", "enum"),
    Case("sex lower-case", ("demographics", "sex"), "f", "enum"),
    Case("sex Indonesian P", ("demographics", "sex"), "P", "enum"),
    Case("region_code undotted", ("demographics", "region_code"), "3273051001", "pattern"),
    Case("region_code short village", ("demographics", "region_code"), "32.73.05.100", "pattern"),
    Case("region_code dashes", ("demographics", "region_code"), "32-73-05-1001", "pattern"),
    Case("fingerprints an object", ("fingerprints",), ONE_FINGER, "type"),
    Case("fingerprints null", ("fingerprints",), None, "type"),
    Case("11 fingerprints", ("fingerprints",), [ONE_FINGER] * 11, "maxItems"),
    Case("position 0", FP + ("position",), 0, "minimum"),
    Case("position 11", FP + ("position",), 11, "maximum"),
    Case("position fractional", FP + ("position",), 2.5, "type"),
    Case("position a string", FP + ("position",), "2", "type"),
    Case("finger format ANSI 378", FP + ("format",), "ANSI_378_2004", "const"),
    Case("finger format lower-case", FP + ("format",), "iso_19794_2_2005", "const"),
    Case("data bad characters", FP + ("data",), "!!!!", "pattern"),
    Case("data URL-safe alphabet", FP + ("data",), "ab-_", "pattern"),
    Case("data missing padding", FP + ("data",), "QUJDRA", "pattern"),
    Case("data padding in the middle", FP + ("data",), "QQ==QUJD", "pattern"),
    Case("data three pad chars", FP + ("data",), "Q===", "pattern"),
    Case("data with a space", FP + ("data",), "QUJD RA==", "pattern"),
    Case("data line-wrapped", FP + ("data",), "QUJD\nRA==", "pattern"),
    Case("data trailing newline", FP + ("data",), "QUJDRA==\n", "not"),
    Case("data a number", FP + ("data",), 42, "type"),
    Case("extra fingerprint field", FP + ("quality",), 80, "additionalProperties"),
    Case("3 irises", ("irises",), [ONE_IRIS] * 3, "maxItems"),
    Case("eye X", IR + ("eye",), "X", "enum"),
    Case("eye lower-case", IR + ("eye",), "r", "enum"),
    Case("eye RIGHT", IR + ("eye",), "RIGHT", "enum"),
    Case("iris format v2", IR + ("format",), "IRIS_CODE_V2", "const"),
    Case("shape 63 columns", SHAPE, [2, 16, 63, 2], "minimum", SHAPE + (2,)),
    Case("shape 3 dims", SHAPE, [2, 16, 256], "minItems"),
    Case("shape 5 dims", SHAPE, [2, 16, 256, 2, 1], "maxItems"),
    Case("shape 0 filters", SHAPE, [0, 16, 256, 2], "minimum", SHAPE + (0,)),
    Case("shape negative rows", SHAPE, [2, -16, 256, 2], "minimum", SHAPE + (1,)),
    Case("shape 0 bits", SHAPE, [2, 16, 256, 0], "minimum", SHAPE + (3,)),
    Case("shape fractional columns", SHAPE, [2, 16, 256.5, 2], "type", SHAPE + (2,)),
    Case("shape a string", SHAPE, "2x16x256x2", "type"),
    Case("code bad characters", IR + ("code",), "not base64!", "pattern"),
    Case("mask URL-safe alphabet", IR + ("mask",), "__8=", "pattern"),
    Case("code null", IR + ("code",), None, "type"),
    Case("extra iris field", IR + ("quality",), 80, "additionalProperties"),
]

M0 = ("matches", 0)
AS_REJECTED = ((("verdict",), "REJECTED"), (("person_id",), None), (("matches",), []))


def as_kind(kind: str) -> tuple:
    return ((("verdict",), kind),)


VERDICT_CASES = [
    *removals("verdict"), *removals("verdict", M0),
    Case("schema v2", ("schema",), "tunggal.verdict.v2", "const"),
    Case("extra top-level field", ("score",), 0.9, "additionalProperties"),
    Case("enrollment_id with a space", ("enrollment_id",), "JKT0042 000123", "pattern"),
    Case("nik 15 digits", ("nik",), "327305450487000", "pattern"),
    Case("nik with a letter", ("nik",), "327305450487000A", "pattern"),
    Case("revision 0", ("revision",), 0, "minimum"),
    Case("revision negative", ("revision",), -1, "minimum"),
    Case("revision fractional", ("revision",), 1.5, "type"),
    Case("revision a string", ("revision",), "1", "type"),
    Case("verdict MAYBE", ("verdict",), "MAYBE", "enum"),
    Case("verdict lower-case", ("verdict",), "duplicate", "enum"),
    Case("verdict null", ("verdict",), None, "enum"),
    Case("person_id with a space", ("person_id",), "BDG0007 000044", "pattern"),
    Case("person_id null for DUPLICATE", ("person_id",), None, "type"),
    Case("nik null for DUPLICATE", ("nik",), None, "type"),
    Case("person_id null for UNIQUE", ("person_id",), None, "type", also=as_kind("UNIQUE")),
    Case("matches an object", ("matches",), {}, "type"),
    Case("no matches for DUPLICATE", ("matches",), [], "minItems"),
    Case("no matches for RECAPTURE", ("matches",), [], "minItems", also=as_kind("RECAPTURE")),
    Case("no matches for REVIEW", ("matches",), [], "minItems", also=as_kind("REVIEW")),
    Case("no matches for NIK_CONFLICT", ("matches",), [], "minItems",
         also=as_kind("NIK_CONFLICT")),
    Case("REJECTED without reasons", ("reasons",), [], "minItems", also=AS_REJECTED),
    Case("match decision YES", M0 + ("decision",), "YES", "enum"),
    Case("match decision SAME_PERSON", M0 + ("decision",), "SAME_PERSON", "enum"),
    Case("match decision lower-case", M0 + ("decision",), "match", "enum"),
    Case("score 1.5", M0 + ("score",), 1.5, "maximum"),
    Case("score negative", M0 + ("score",), -0.1, "minimum"),
    Case("score a string", M0 + ("score",), "0.998", "type"),
    Case("score null", M0 + ("score",), None, "type"),
    Case("iris 1.2", M0 + ("iris",), 1.2, "maximum"),
    Case("iris a boolean", M0 + ("iris",), True, "type"),
    Case("finger negative", M0 + ("finger",), -0.01, "minimum"),
    Case("demographic a string", M0 + ("demographic",), "0.93", "type"),
    Case("match nik 15 digits", M0 + ("nik",), "327305050487000", "pattern"),
    Case("match nik null", M0 + ("nik",), None, "type"),
    Case("match captured_at without offset", M0 + ("captured_at",), "2013-03-02T09:01:00",
         "pattern"),
    Case("match enrollment_id empty", M0 + ("enrollment_id",), "", "minLength"),
    Case("extra match field", M0 + ("rank",), 1, "additionalProperties"),
    Case("reason lower-case", ("reasons",), ["different_nik"], "pattern", ("reasons", 0)),
    Case("reason leading digit", ("reasons",), ["1ST_CAPTURE"], "pattern", ("reasons", 0)),
    Case("reason empty", ("reasons",), [""], "pattern", ("reasons", 0)),
    Case("reason with a space", ("reasons",), ["DIFFERENT NIK"], "pattern", ("reasons", 0)),
    Case("reason 65 chars", ("reasons",), ["R" * 65], "maxLength", ("reasons", 0)),
    Case("reason trailing newline", ("reasons",), ["DIFFERENT_NIK\n"], "not", ("reasons", 0)),
    Case("reason twice", ("reasons",), ["DIFFERENT_NIK", "DIFFERENT_NIK"], "uniqueItems"),
    Case("reasons a string", ("reasons",), "DIFFERENT_NIK", "type"),
    Case("decided_at without offset", ("decided_at",), "2017-09-13T10:15:02", "pattern"),
    Case("decided_at date only", ("decided_at",), "2017-09-13", "pattern"),
    Case("engine empty", ("engine",), "", "minLength"),
    Case("engine null", ("engine",), None, "type"),
]

ERR = ("error",)
DEAD_LETTER_CASES = [
    *removals("dead_letter"), *removals("dead_letter", ERR),
    Case("schema of an enrollment", ("schema",), "tunggal.enrollment.v1", "const"),
    Case("extra top-level field", ("retries",), 3, "additionalProperties"),
    Case("topic empty", ("topic",), "", "minLength"),
    Case("topic with a space", ("topic",), "enroll ments", "pattern"),
    Case("topic with a slash", ("topic",), "tunggal/enrollments", "pattern"),
    Case("topic 250 chars", ("topic",), "t" * 250, "maxLength"),
    Case("topic trailing newline", ("topic",), "enrollments\n", "not"),
    Case("partition negative", ("partition",), -1, "minimum"),
    Case("partition beyond int32", ("partition",), 2**31, "maximum"),
    Case("partition a string", ("partition",), "5", "type"),
    Case("partition fractional", ("partition",), 5.5, "type"),
    Case("offset negative", ("offset",), -1, "minimum"),
    Case("offset fractional", ("offset",), 1.5, "type"),
    Case("offset null", ("offset",), None, "type"),
    Case("key a number", ("key",), 5, "type"),
    Case("key a byte list", ("key",), [74, 75, 84], "type"),
    Case("value_base64 bad characters", ("value_base64",), "eyJ!", "pattern"),
    Case("value_base64 missing padding", ("value_base64",), "eyJhYg", "pattern"),
    Case("value_base64 null", ("value_base64",), None, "type"),
    Case("value_base64 trailing newline", ("value_base64",), "eyJhYg==\n", "not"),
    Case("error a string", ERR, "NOT_JSON", "type"),
    Case("error extra field", ERR + ("detail",), "x", "additionalProperties"),
    Case("error code lower-case", ERR + ("code",), "not_json", "pattern"),
    Case("error code empty", ERR + ("code",), "", "pattern"),
    Case("error code null", ERR + ("code",), None, "type"),
    Case("error message empty", ERR + ("message",), "", "minLength"),
    Case("error message null", ERR + ("message",), None, "type"),
    Case("error path without leading slash", ERR + ("path",), "irises/0", "pattern"),
    Case("error path bad escape", ERR + ("path",), "/a~2b", "pattern"),
    Case("error path null", ERR + ("path",), None, "type"),
    Case("seen_at without offset", ("seen_at",), "2017-09-13T03:21:41.412", "pattern"),
    Case("seen_at epoch number", ("seen_at",), 1505272901.412, "type"),
]

ADJUDICATION_CASES = [
    *removals("adjudication"),
    Case("schema v2", ("schema",), "tunggal.adjudication.v2", "const"),
    Case("extra top-level field", ("score",), 0.9, "additionalProperties"),
    Case("decision MAYBE", ("decision",), "MAYBE", "enum"),
    Case("decision lower-case", ("decision",), "same_person", "enum"),
    Case("decision MATCH", ("decision",), "MATCH", "enum"),
    Case("enrollment_id with a space", ("enrollment_id",), "JKT0042 000123", "pattern"),
    Case("other_enrollment_id empty", ("other_enrollment_id",), "", "minLength"),
    Case("other_enrollment_id null", ("other_enrollment_id",), None, "type"),
    Case("reviewer empty", ("reviewer",), "", "minLength"),
    Case("reviewer only spaces", ("reviewer",), "   ", "pattern"),
    Case("reviewer 129 chars", ("reviewer",), "R" * 129, "maxLength"),
    Case("reviewer null", ("reviewer",), None, "type"),
    Case("decided_at without offset", ("decided_at",), "2017-09-14T08:30:00", "pattern"),
    Case("note a number", ("note",), 5, "type"),
    Case("note 4001 chars", ("note",), "n" * 4001, "maxLength"),
]

CASES = {"enrollment": ENROLLMENT_CASES, "verdict": VERDICT_CASES,
         "dead_letter": DEAD_LETTER_CASES, "adjudication": ADJUDICATION_CASES}


def packed_b64(shape: list[int], fill: bool) -> str:
    bits = np.full(shape, fill, dtype=bool)
    return base64.b64encode(np.packbits(bits).tobytes()).decode("ascii")


def ten_fingers_two_eyes(doc: dict) -> dict:
    finger = doc["fingerprints"][0]
    doc["fingerprints"] = [dict(finger, position=p) for p in range(1, 11)]
    doc["irises"] = [doc["irises"][0], dict(doc["irises"][0], eye="L")]
    return doc


def smallest_shape(doc: dict) -> dict:
    shape = [1, 8, 64, 2]
    doc["irises"][0].update(shape=shape, code=packed_b64(shape, False),
                            mask=packed_b64(shape, True))
    return doc


def with_(path: tuple, value: Any) -> Callable[[dict], dict]:
    return lambda doc: apply(doc, path, value)


def chain(*steps: Callable[[dict], dict]) -> Callable[[dict], dict]:
    def run(doc: dict) -> dict:
        for step in steps:
            doc = step(doc)
        return doc
    return run


def rejected(reasons: list[str], nik: str | None) -> Callable[[dict], dict]:
    return chain(with_(("verdict",), "REJECTED"), with_(("person_id",), None),
                 with_(("matches",), []), with_(("reasons",), reasons), with_(("nik",), nik))


def match_as(decision: str, **scores: Any) -> Callable[[dict], dict]:
    """Set the first match's decision and any of its scores."""
    def run(doc: dict) -> dict:
        doc["matches"][0].update(decision=decision, **scores)
        return doc
    return run


#: Valid variations of the examples: (kind, name, transform). Each must be accepted.
VALID = [
    ("enrollment", "iris only", with_(("fingerprints",), [])),
    ("enrollment", "fingers only", with_(("irises",), [])),
    # Not a schema violation: the verdict is REJECTED (INSUFFICIENT_BIOMETRICS).
    ("enrollment", "no biometrics at all", chain(with_(("fingerprints",), []),
                                                 with_(("irises",), []))),
    ("enrollment", "ten fingers and two eyes", ten_fingers_two_eyes),
    ("enrollment", "smallest shape, 64 columns", smallest_shape),
    # Uniqueness of positions and eyes is checked by ingestion, not expressible in the schema.
    ("enrollment", "finger position twice", lambda d: apply(d, ("fingerprints",),
                                                            d["fingerprints"] * 2)),
    ("enrollment", "eye twice", lambda d: apply(d, ("irises",), d["irises"] * 2)),
    ("enrollment", "captured_at in UTC", with_(("captured_at",), "2017-09-13T03:15:00Z")),
    ("enrollment", "captured_at nanoseconds", with_(("captured_at",),
                                                    "2017-09-13T03:15:00.123456789Z")),
    ("enrollment", "captured_at negative offset", with_(("captured_at",),
                                                        "2017-09-12T23:45:00-03:30")),
    ("enrollment", "enrollment_id 128 chars", with_(("enrollment_id",), long_ascii(128))),
    ("enrollment", "single name", with_(("demographics", "full_name"), "SUKARNO")),
    ("enrollment", "name with apostrophe", with_(("demographics", "full_name"), "SITI NUR'AINI")),
    ("enrollment", "male", chain(with_(("demographics", "sex"), "M"),
                                 with_(("nik",), "3273050504870001"))),
    ("verdict", "REJECTED unreadable NIK", rejected(["SCHEMA_VIOLATION"], None)),
    ("verdict", "REJECTED no biometrics", rejected(["INSUFFICIENT_BIOMETRICS"],
                                                   "3273054504870001")),
    ("verdict", "UNIQUE", chain(with_(("verdict",), "UNIQUE"), with_(("matches",), []),
                                with_(("reasons",), []),
                                with_(("person_id",), "JKT0042-20170913-000123"))),
    ("verdict", "REVIEW without iris", chain(with_(("verdict",), "REVIEW"),
                                             match_as("REVIEW", iris=None, score=0.62))),
    ("verdict", "NIK_CONFLICT citing the owner", chain(
        with_(("verdict",), "NIK_CONFLICT"), with_(("person_id",), "JKT0042-20170913-000123"),
        with_(("reasons",), ["NIK_HELD_BY_OTHER_PERSON"]),
        match_as("NO_MATCH", score=0.0, iris=None, finger=None, demographic=None))),
    ("verdict", "RECAPTURE revision 7", chain(with_(("verdict",), "RECAPTURE"),
                                              with_(("revision",), 7))),
    ("verdict", "scores at the bounds", match_as("MATCH", score=1, iris=0, finger=1,
                                                 demographic=0)),
    ("verdict", "engine clock format", with_(("decided_at",), "2026-11-29T03:50:00.123+00:00")),
    ("dead_letter", "no key, null value", chain(with_(("key",), None),
                                                with_(("value_base64",), ""))),
    ("dead_letter", "key with replacement char", with_(("key",), "JKT\ufffd42-000124")),
    ("dead_letter", "pointer to a shape column", with_(("error", "path"), "/irises/0/shape/2")),
    ("dead_letter", "pointer with escapes", with_(("error", "path"), "/a~1b/c~0d")),
    ("dead_letter", "huge offset", with_(("offset",), 2**62)),
    ("adjudication", "no note", with_(("note",), None)),
    ("adjudication", "different person", with_(("decision",), "DIFFERENT_PERSON")),
    ("adjudication", "multi-line note", with_(("note",), "Iris kanan cocok.\nSidik jari "
                                                        "telunjuk kanan kabur \u2014 cek ulang.")),
    # other_enrollment_id != enrollment_id is checked by ingestion.
    ("adjudication", "pair with itself", with_(("other_enrollment_id",),
                                               "JKT0042-20170913-000123")),
]


def walk_objects(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every object subschema reachable through properties, items, prefixItems and $defs (not
    through the conditional rules, whose fragments are partial on purpose)."""
    if not isinstance(node, dict):
        return
    yield path, node
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            yield from walk_objects(sub, f"{path}/{key}/{name}")
    if isinstance(node.get("items"), dict):
        yield from walk_objects(node["items"], f"{path}/items")
    for i, sub in enumerate(node.get("prefixItems", [])):
        yield from walk_objects(sub, f"{path}/prefixItems/{i}")


# --- the schemas themselves -------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_draft_2020_12(kind: str) -> None:
    s = schema(kind)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(s)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_names_itself(kind: str) -> None:
    s = schema(kind)
    assert s["$id"] == f"https://tunggal.id/schemas/{kind}.v1.json"
    assert s["title"] and s["description"]
    assert s["properties"]["schema"] == {"description": s["properties"]["schema"]["description"],
                                         "const": f"tunggal.{kind}.v1"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_is_described_required_and_closed(kind: str) -> None:
    for where, sub in walk_objects(schema(kind)):
        assert sub.get("description"), f"{kind}: no description at {where or '/'}"
        if "properties" in sub:
            assert sub.get("additionalProperties") is False, f"{kind}: open object at {where}"
            assert set(sub["required"]) == set(sub["properties"]), f"{kind}: at {where}"


@pytest.mark.parametrize("kind", KINDS)
def test_readme_lists_the_schema(kind: str) -> None:
    readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    row = next((line for line in readme.splitlines() if f"`tunggal.{kind}.v1`" in line), "")
    assert f"{kind}.v1.schema.json" in row and f"`{TOPICS[kind]}`" in row, row


# --- the contract's examples ------------------------------------------------------------------

@pytest.mark.parametrize("formats", [False, True], ids=["plain", "format-checker"])
@pytest.mark.parametrize("kind", KINDS)
def test_contract_example_is_valid(kind: str, formats: bool) -> None:
    errors = [e.message for e in validator(kind, formats).iter_errors(example(kind))]
    assert errors == []


def test_example_fingerprint_is_an_iso_19794_2_2005_record() -> None:
    finger = example("enrollment")["fingerprints"][0]
    record = base64.b64decode(finger["data"], validate=True)
    magic, version, length, _equipment, _w, _h, xres, yres, views, _reserved = struct.unpack(
        ">4s4sIHHHHHBB", record[:ISO_HEADER_BYTES])
    assert (magic, version, length, views) == (b"FMR\0", b" 20\0", len(record), 1)
    assert xres == yres > 0
    position, _view_impression, quality, count = record[ISO_HEADER_BYTES:ISO_HEADER_BYTES + 4]
    assert position == finger["position"] and 0 <= quality <= 100 and count > 0
    assert len(record) == (ISO_HEADER_BYTES + ISO_VIEW_HEADER_BYTES + ISO_MINUTIA_BYTES * count
                           + ISO_EXTENDED_LENGTH_BYTES)
    assert record[-ISO_EXTENDED_LENGTH_BYTES:] == b"\0\0"


def test_example_iris_code_and_mask_fit_their_shape() -> None:
    iris = example("enrollment")["irises"][0]
    assert iris["shape"] == [2, 16, 256, 2]
    packed_bytes = int(np.prod(iris["shape"])) // 8
    code, mask = (np.unpackbits(np.frombuffer(base64.b64decode(iris[f], validate=True), np.uint8))
                  for f in ("code", "mask"))
    assert code.size == mask.size == packed_bytes * 8 == 2048 * 8
    assert 0.45 < code.mean() < 0.55  # an iris code's bits are close to fair coin flips
    assert 0.5 < mask.mean() < 1.0  # mostly usable, some occlusion


def test_example_dead_letter_keeps_bytes_that_are_not_json() -> None:
    letter = example("dead_letter")
    value = base64.b64decode(letter["value_base64"], validate=True)
    assert letter["error"]["code"] == "NOT_JSON" and letter["key"].encode() in value
    with pytest.raises(json.JSONDecodeError):
        json.loads(value)


# --- mutations --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kind", "case"),
    [pytest.param(kind, case, id=f"{kind}: {case.name}") for kind in KINDS for case in CASES[kind]])
def test_mutation_is_rejected_for_its_reason(kind: str, case: Case) -> None:
    doc = case.build(example(kind))
    errors = list(flat_errors(validator(kind).iter_errors(doc)))
    assert errors, f"accepted: {case.name}"
    found = {(e.validator, tuple(e.absolute_path)) for e in errors}
    assert (case.keyword, case.location()) in found, sorted(found, key=str)


@pytest.mark.parametrize("kind", KINDS)
def test_case_names_are_unique(kind: str) -> None:
    names = [case.name for case in CASES[kind]]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("kind", "transform"),
                         [pytest.param(kind, t, id=f"{kind}: {name}") for kind, name, t in VALID])
def test_valid_variation_is_accepted(kind: str, transform: Callable[[dict], dict]) -> None:
    doc = transform(example(kind))
    assert [e.message for e in validator(kind).iter_errors(doc)] == []


def test_impossible_calendar_date_is_left_to_ingestion_unless_formats_are_asserted() -> None:
    doc = apply(example("enrollment"), ("demographics", "birth_date"), "1987-02-31")
    assert validator("enrollment").is_valid(doc)
    assert not validator("enrollment", formats=True).is_valid(doc)


SCHEMA_IDS = {"enrollment": "tunggal.enrollment.v1", "verdict": "tunggal.verdict.v1",
              "dead_letter": "tunggal.dead_letter.v1", "adjudication": "tunggal.adjudication.v1"}


def test_the_compiled_fast_check_agrees_with_the_2020_12_validator() -> None:
    """The engine's hot path uses a fastjsonschema predicate; it must accept and refuse exactly
    what the reference validator does, on every example, mutation and valid variation."""
    from streams.codecs.schemas import fast_check

    docs = []
    for kind in KINDS:
        docs.append((kind, "example", example(kind)))
        docs += [(kind, case.name, case.build(example(kind))) for case in CASES[kind]]
    docs += [(kind, name, t(example(kind))) for kind, name, t in VALID]
    disagree = []
    for kind, name, doc in docs:
        reference = not list(validator(kind).iter_errors(doc))
        if fast_check(SCHEMA_IDS[kind])(doc) != reference:
            disagree.append((kind, name, reference))
    assert len(docs) > 250
    assert disagree == []
