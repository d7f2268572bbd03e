"""Nothing lost, nothing unexplained: compare the input topic with the verdicts and dead letters.

Pure: it takes records already read (``tunggal audit`` reads the topics) and returns findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import orjson

from streams.codecs.contract import read_enrollment_id


@dataclass(frozen=True, slots=True)
class InputRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)
class AuditReport:
    inputs: int = 0
    valid_ids: int = 0
    verdict_records: int = 0
    dead_letters: int = 0
    #: enrollment ids (or ``partition:offset`` for records without a readable id) with no outcome
    missing: list[str] = field(default_factory=list)
    #: "id: revision r after r'" for each revision not above the one before it on the topic
    revision_anomalies: list[str] = field(default_factory=list)
    #: "id -> unknown id" for each verdict whose evidence names an enrollment never seen as input
    unknown_references: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.revision_anomalies or self.unknown_references)

    def as_dict(self) -> dict:
        return {"inputs": self.inputs, "valid_ids": self.valid_ids,
                "verdict_records": self.verdict_records, "dead_letters": self.dead_letters,
                "missing": len(self.missing), "revision_anomalies": len(self.revision_anomalies),
                "unknown_references": len(self.unknown_references), "clean": self.clean}

    def text(self, limit: int = 20) -> str:
        lines = [f"inputs {self.inputs:,}  verdict records {self.verdict_records:,}  "
                 f"dead letters {self.dead_letters:,}"]
        for title, items in (("without an outcome", self.missing),
                             ("revision-order anomalies", self.revision_anomalies),
                             ("verdicts naming unknown enrollments", self.unknown_references)):
            lines.append(f"{title}: {len(items):,}")
            lines.extend(f"  {x}" for x in items[:limit])
            if len(items) > limit:
                lines.append(f"  ... and {len(items) - limit:,} more")
        lines.append("audit clean" if self.clean else "audit FAILED")
        return "\n".join(lines)


def audit(inputs: Iterable[InputRecord], verdicts: Iterable[bytes],
          dead_letters: Iterable[bytes]) -> AuditReport:
    """``verdicts`` and ``dead_letters`` are record values in topic order (per partition)."""
    report = AuditReport()
    ids_seen: set[str] = set()
    expected: dict[str, str] = {}  # what must have an outcome -> how to name it
    by_offset: dict[tuple[int, int], str] = {}
    for rec in inputs:
        report.inputs += 1
        try:
            obj = orjson.loads(rec.value) if rec.value is not None else None
        except orjson.JSONDecodeError:
            obj = None
        eid = read_enrollment_id(obj)
        where = f"{rec.partition}:{rec.offset}"
        if eid is not None:
            ids_seen.add(eid)
            expected.setdefault(eid, eid)
        by_offset[(rec.partition, rec.offset)] = eid or where
        if eid is None:
            expected[where] = f"record {where} (no readable enrollment_id)"
    report.valid_ids = len(ids_seen)
    outcome: set[str] = set()
    last_revision: dict[str, int] = {}
    for raw in verdicts:
        report.verdict_records += 1
        v = orjson.loads(raw)
        eid = v["enrollment_id"]
        outcome.add(eid)
        rev = int(v["revision"])
        prev = last_revision.get(eid)
        if prev is not None and rev <= prev:
            report.revision_anomalies.append(f"{eid}: revision {rev} after {prev}")
        last_revision[eid] = max(rev, prev or 0)
        refs = [m["enrollment_id"] for m in v.get("matches", [])]
        if v.get("person_id"):
            refs.append(v["person_id"])
        for ref in refs:
            if ref not in ids_seen:
                report.unknown_references.append(f"{eid} -> {ref}")
    for raw in dead_letters:
        report.dead_letters += 1
        d = orjson.loads(raw)
        named = by_offset.get((int(d["partition"]), int(d["offset"])))
        if named is not None:
            outcome.add(named)
            outcome.add(f"{d['partition']}:{d['offset']}")
    report.missing = sorted(label for key, label in expected.items() if key not in outcome)
    return report
