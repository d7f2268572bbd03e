"""The pure state transitions of the streaming stages (no Kafka): key routing, the blocking
index, and gathering the replies of a fan-out. The faust agents call these and move bytes.

Every transition is idempotent under redelivery: replaying a message yields the same state and
the same (or no) output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from streams.blocking.biometric import BIOMETRIC_PREFIXES, MIN_SHARED_BIOMETRIC_KEYS
from streams.routing import partition_for

#: A blocking key's posting list stops growing at this many enrollments. Such a key is
#: "oversized": it no longer admits members (they are still found through their other keys) and
#: is counted. Chosen so one probe's candidates stay bounded even for placeholder values.
POSTING_CAP = 256


def route_keys(keys: Iterable[str], partitions: int) -> dict[int, list[str]]:
    """Blocking keys grouped by the index partition that owns each."""
    out: dict[int, list[str]] = {}
    for k in sorted(set(keys)):
        out.setdefault(partition_for(k.encode(), partitions), []).append(k)
    return out


def route_refs(refs: Iterable[tuple[str, int]]) -> dict[int, list[str]]:
    """Candidate ``(enrollment_id, gallery partition)`` refs grouped by partition."""
    out: dict[int, list[str]] = {}
    for eid, part in sorted(set(refs)):
        out.setdefault(part, []).append(eid)
    return out


@dataclass(slots=True)
class Lookup:
    """The outcome of one key lookup."""

    candidates: list[tuple[str, int]]
    posting: list[list] | None  # the new posting list to store, or None when unchanged
    oversized: bool


def index_lookup(posting: list[list] | None, probe: str, probe_partition: int,
                 cap: int = POSTING_CAP) -> Lookup:
    """Candidates under one key, and the key's posting list with the probe added.

    The probe meets every enrollment indexed under the key before it; the pair is compared once,
    by whichever of the two was indexed second. Two captures in flight together still meet: the
    index partition orders them.
    """
    entries = posting or []
    candidates = [(e, p) for e, p in entries if e != probe]
    if any(e == probe for e, _ in entries):
        return Lookup(candidates, None, False)
    if len(entries) >= cap:
        return Lookup(candidates, None, True)
    return Lookup(candidates, [*entries, [probe, probe_partition]], False)


@dataclass(slots=True)
class Gather:
    """Replies of one fan-out request, collected until all ``expected`` parts arrived."""

    rid: str
    expected: int
    parts: dict[str, list] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"rid": self.rid, "expected": self.expected, "parts": self.parts}

    @classmethod
    def from_dict(cls, d: dict) -> Gather:
        return cls(d["rid"], int(d["expected"]), dict(d["parts"]))

    def add(self, part: int, payload: list) -> bool:
        """Record one part (a redelivered part replaces itself); True once complete."""
        self.parts[str(part)] = payload
        return len(self.parts) >= self.expected

    def merged(self) -> list:
        out: list = []
        for key in sorted(self.parts, key=int):
            out.extend(self.parts[key])
        return out


def tally_hits(hits: Iterable[tuple[str, str, int]]) -> list[list]:
    """One index partition's answer: per candidate ``[id, gallery partition, biometric keys
    shared, 1 if any demographic key shared]``, from ``(key, id, partition)`` hits. Each key
    lives on exactly one index partition, so the tallies of several partitions add up."""
    tally: dict[tuple[str, int], list[int]] = {}
    for key, eid, part in hits:
        t = tally.setdefault((eid, part), [0, 0])
        if key.startswith(BIOMETRIC_PREFIXES):
            t[0] += 1
        else:
            t[1] = 1
    return [[eid, part, n, d] for (eid, part), (n, d) in sorted(tally.items())]


def select_candidates(tallies: Iterable[list], min_shared: int = MIN_SHARED_BIOMETRIC_KEYS
                      ) -> list[tuple[str, int]]:
    """Candidates worth comparing from the tallies of every index partition: found through a
    demographic key, or sharing at least ``min_shared`` biometric keys (a lone chance collision is
    the typical impostor; see streams.blocking.biometric)."""
    total: dict[tuple[str, int], list[int]] = {}
    for eid, part, n, d in tallies:
        t = total.setdefault((eid, part), [0, 0])
        t[0] += n
        t[1] |= d
    return sorted(k for k, (n, d) in total.items() if d or n >= min_shared)
