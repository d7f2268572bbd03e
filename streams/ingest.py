"""Ingestion policy: bytes in, a validated enrollment or a dead letter out. Pure; no Kafka.

Failures are data: :func:`admit` never raises for a bad record, it returns what it rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import orjson

from streams.codecs.contract import (
    content_digest,
    dead_letter,
    decode_enrollment,
    parse_json,
    read_enrollment_id,
)
from streams.decide.graph import Node
from streams.domain import nik as nik_rules
from streams.domain.types import Enrollment, Verdict, VerdictKind
from streams.errors import ConflictingResend, InputError
from streams.matching import quality


#: Error code of a valid event whose record key is not its enrollment_id.
KEY_MISMATCH = "KEY_MISMATCH"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from, for its dead letter."""

    topic: str
    partition: int
    offset: int
    seen_at: str


@dataclass(frozen=True, slots=True)
class Admitted:
    enrollment: Enrollment
    raw: bytes
    resend: bool  # the same id with the same content was seen before


@dataclass(frozen=True, slots=True)
class Refused:
    dead_letter: dict[str, Any]
    #: A REJECTED verdict for the enrollment id, when it can be read and is not already taken
    #: by a valid enrollment (a malformed re-send must not replace a valid capture's verdict).
    rejected: Verdict | None


def admit(key: bytes | None, value: bytes | None, source: Source,
          stored_digest: Callable[[str], str | None]) -> Admitted | Refused:
    """Validate one input record. ``stored_digest(eid)`` is the digest of the valid enrollment
    already stored under ``eid`` (or ``None``)."""
    obj: Any = None
    try:
        obj = parse_json(value)
        enrollment = decode_enrollment(obj)
        if key is not None and key != enrollment.enrollment_id.encode("utf-8"):
            raise InputError(
                f"record key {key[:64]!r} is not the enrollment_id {enrollment.enrollment_id!r}; "
                "the contract keys enrollments by enrollment_id", path="", code=KEY_MISMATCH)
        previous = stored_digest(enrollment.enrollment_id)
        if previous is not None and previous != enrollment.digest:
            raise ConflictingResend(
                f"enrollment id {enrollment.enrollment_id!r} was already used for a different "
                "capture; a re-sent id must carry the same content", path="/enrollment_id")
        return Admitted(enrollment, value or b"", resend=previous is not None)
    except InputError as error:
        letter = dead_letter(topic=source.topic, partition=source.partition, offset=source.offset,
                             key=key, value=value, error=error, seen_at=source.seen_at)
        eid = read_enrollment_id(obj)
        rejected = None
        if eid is not None and stored_digest(eid) is None:
            nik = obj.get("nik")
            nik = nik if isinstance(nik, str) and len(nik) == 16 and nik.isascii() and nik.isdigit() else None
            rejected = Verdict(eid, nik, VerdictKind.REJECTED, None, (), (error.code,))
        return Refused(letter, rejected)


def node_of(enrollment: Enrollment) -> Node:
    """The resolver's summary of a valid enrollment: usability and the findings of the record
    alone (NIK against demographics)."""
    usable = quality.has_usable_biometrics(enrollment)
    return Node(enrollment.enrollment_id, enrollment.captured_at, enrollment.captured_ts,
                enrollment.nik, usable,
                tuple(nik_rules.nik_findings(enrollment.nik, enrollment.demographics)))


def resend_identity(value: bytes | None) -> tuple[str, str] | None:
    """``(enrollment_id, digest)`` of a record without validating it, or ``None``.

    A replay re-reads records the engine already stored: when the id's stored digest equals this
    one, the content is the same valid capture and nothing needs doing (it was validated when it
    was stored). Costs a JSON parse, not a validation.
    """
    if not value:
        return None
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    eid = read_enrollment_id(obj)
    return (eid, content_digest(obj)) if eid is not None else None
