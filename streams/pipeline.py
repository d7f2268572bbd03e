"""The pure state transitions of the streaming stages (no Kafka): key routing, the blocking
index, and gathering the replies of a fan-out. The faust agents call these and move bytes.

Every transition is idempotent under redelivery: replaying a message yields the same state and
the same (or no) output.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Protocol

import numpy as np

from streams.blocking.biometric import (
    BIOMETRIC_PREFIXES,
    MIN_SHARED_BIOMETRIC_KEYS,
    MIN_SHARED_ONE_SOURCE,
    VOTING_PREFIXES,
    source_bit,
)
from streams.routing import partitions_for

#: A blocking key's posting list stops growing at this many enrollments. Such a key is
#: "oversized" (a common name token with a birth year, a placeholder date, a low-quality print
#: that hashes like many): it is demoted, neither admitting nor answering later probes, which
#: are found through their other keys, and it is counted. Its members met each other as they
#: arrived. So one probe's candidates stay bounded at any gallery size.
POSTING_CAP = 256


def route_keys(keys: Iterable[str], partitions: int) -> dict[int, list[str]]:
    """Blocking keys grouped by the index partition that owns each."""
    unique = sorted(set(keys))
    out: dict[int, list[str]] = {}
    for k, part in zip(unique, partitions_for([k.encode() for k in unique], partitions)):
        out.setdefault(part, []).append(k)
    return out


def route_refs(refs: Iterable[tuple[str, int]]) -> dict[int, list[str]]:
    """Candidate ``(enrollment_id, gallery partition)`` refs grouped by partition."""
    out: dict[int, list[str]] = {}
    for eid, part in sorted(set(refs)):
        out.setdefault(part, []).append(eid)
    return out


class PostingStore(Protocol):
    """Where one index partition keeps its posting lists (blocking key -> packed entries)."""

    def get_many(self, keys: list[bytes]) -> list[bytes | None]: ...

    def put_many(self, items: dict[bytes, bytes]) -> None: ...


class DictPostings:
    """A :class:`PostingStore` in a dict (tests, and benchmarks/pipeline.py)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        return [self.data.get(k) for k in keys]

    def put_many(self, items: dict[bytes, bytes]) -> None:
        self.data.update(items)


# An entry is b"<gallery partition>:<enrollment id>"; entries are joined by a space, which no
# identifier contains (schemas: printable ASCII, no whitespace).
_SEP = b" "


def posting_entry(eid: str, part: int) -> bytes:
    return b"%d:%s" % (part, eid.encode())


def posting_members(raw: bytes | None) -> list[tuple[str, int]]:
    if not raw:
        return []
    out = []
    for ent in raw.split(_SEP):
        part, eid = ent.split(b":", 1)
        out.append((eid.decode(), int(part)))
    return out


@dataclass(slots=True)
class Indexed:
    """The outcome of indexing one probe's keys on one index partition."""

    hits: list[tuple[str, str, int]]  # (key, candidate id, candidate's gallery partition)
    admitted: list[str]  # keys whose posting lists now hold the probe (empty on redelivery)
    oversized: int  # keys whose lists were full, so the probe was not added to them


def index_probe(store: PostingStore, probe: str, probe_partition: int, keys: list[str],
                already_indexed: bool, cap: int = POSTING_CAP) -> Indexed:
    """Candidates under each key, and the probe added to every key's posting list not yet full
    (a full list answers only its own members, see POSTING_CAP).

    The probe meets every enrollment indexed under a key before it; the pair is compared once,
    by whichever of the two was indexed second. Two captures in flight together still meet: the
    index partition orders them. A redelivered probe (``already_indexed``) changes nothing and
    gets its candidates again.
    """
    kbs = [k.encode() for k in keys]
    olds = store.get_many(kbs)
    hits: list[tuple[str, str, int]] = []
    admitted: list[str] = []
    writes: dict[bytes, bytes] = {}
    oversized = 0
    me = posting_entry(probe, probe_partition)
    for k, kb, old in zip(keys, kbs, olds):
        members = posting_members(old)
        if len(members) >= cap and not any(eid == probe for eid, _ in members):
            oversized += 1  # a full block tells nothing: it neither admits nor answers
            continue
        hits.extend((k, eid, part) for eid, part in members if eid != probe)
        if already_indexed:
            continue
        writes[kb] = old + _SEP + me if old else me
        admitted.append(k)
    if writes:
        store.put_many(writes)
    return Indexed(hits, admitted, oversized)


def reindex_probe(store: PostingStore, probe: str, probe_partition: int, keys: list[str],
                  old_keys: list[str], cap: int = POSTING_CAP) -> Indexed:
    """A re-evaluation under an engine whose blocking keys changed: the probe leaves the lists of
    the keys it no longer has, joins the lists of its new keys that are not full, and gets the
    candidates under every key it now has. ``old_keys`` are the keys its row says it was
    admitted under; ``admitted`` in the result replaces them. With the same keys nothing is
    written and the answer is :func:`index_probe`'s for a redelivery."""
    me = posting_entry(probe, probe_partition)
    was = set(old_keys)
    gone = sorted(was - set(keys))
    kbs = [k.encode() for k in keys]
    gbs = [k.encode() for k in gone]
    values = store.get_many(kbs + gbs)
    writes: dict[bytes, bytes] = {}
    for kb, old in zip(gbs, values[len(kbs):]):
        writes[kb] = _SEP.join(m for m in (old.split(_SEP) if old else []) if m != me)
    hits: list[tuple[str, str, int]] = []
    admitted: list[str] = []
    oversized = 0
    for k, kb, old in zip(keys, kbs, values[:len(kbs)]):
        members = posting_members(old)
        if k not in was and len(members) >= cap:
            oversized += 1  # a full block tells nothing: it neither admits nor answers
            continue
        hits.extend((k, eid, part) for eid, part in members if eid != probe)
        if k not in was:
            writes[kb] = old + _SEP + me if old else me
        admitted.append(k)
    if writes:
        store.put_many(writes)
    return Indexed(hits, admitted, oversized)


class PostingBuilder:
    """Posting lists accumulated from per-probe rows ``(id, gallery partition, admitted keys)``,
    a piece at a time (a worker rebuilds a partition in chunks between which it yields)."""

    def __init__(self) -> None:
        self._acc: dict[str, list[bytes]] = {}
        self.rows = 0

    def add(self, rows: Iterable[tuple[str, int, list[str]]]) -> None:
        acc = self._acc
        for eid, part, keys in rows:
            me = posting_entry(eid, part)
            for k in keys:
                members = acc.get(k)
                if members is None:
                    acc[k] = [me]
                else:
                    members.append(me)
            self.rows += 1

    @property
    def lists(self) -> int:
        return len(self._acc)

    def batches(self, size: int) -> Iterator[dict[bytes, bytes]]:
        """The lists, encoded, ``size`` at a time."""
        out: dict[bytes, bytes] = {}
        for k, members in self._acc.items():
            out[k.encode()] = _SEP.join(members)
            if len(out) >= size:
                yield out
                out = {}
        if out:
            yield out


def rebuild_postings(rows: Iterable[tuple[str, int, list[str]]]) -> dict[bytes, bytes]:
    """An index partition's posting lists from its per-probe rows ``(id, gallery partition,
    admitted keys)``: exactly the lists that indexing those probes produced (members are a set;
    their order never matters)."""
    builder = PostingBuilder()
    builder.add(rows)
    out: dict[bytes, bytes] = {}
    for batch in builder.batches(1 << 30):
        out.update(batch)
    return out


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
        return self.complete

    @property
    def complete(self) -> bool:
        return len(self.parts) >= self.expected

    def merged(self) -> list:
        out: list = []
        for key in sorted(self.parts, key=int):
            out.extend(self.parts[key])
        return out


#: Source code of a ``ty:`` key in a voting fingerprint (biometric sources are 0-31, the bit
#: positions of ``biometric.source_bit``).
_WEAK_SOURCE = 32
_HASH_BITS = 56


def voting_fingerprint(keys: Iterable[str]) -> np.ndarray:
    """A probe's voting keys (biometric and weak demographic) as sorted unique ``uint64``: the
    key's source in the top byte (``source_bit``'s bit position, or 32 for a ``ty:`` key, each its
    own source) and 56 bits of its BLAKE2b digest. Two probes' fingerprints intersect exactly
    where their voting keys do (a false collision of 56-bit digests among ~170 keys is about
    1e-12 per pair)."""
    out = []
    for k in keys:
        if not k.startswith(VOTING_PREFIXES):
            continue
        src = source_bit(k).bit_length() - 1 if k.startswith(BIOMETRIC_PREFIXES) else _WEAK_SOURCE
        h = int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big")
        out.append((src << _HASH_BITS) | (h & ((1 << _HASH_BITS) - 1)))
    return np.unique(np.array(out, dtype=np.uint64))


def shared_votes(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """``(voting keys shared, biometric source bits, weak keys shared)`` of two fingerprints."""
    shared = np.intersect1d(a, b, assume_unique=True)
    src = (shared >> np.uint64(_HASH_BITS)).astype(np.int64)
    bits = 0
    for b_ in np.unique(src[src < _WEAK_SOURCE]).tolist():
        bits |= 1 << b_
    return int(shared.size), bits, int((src == _WEAK_SOURCE).sum())


class RecentProbes:
    """The voting fingerprints of the probes an index partition indexed last, at most ``cap``.

    Why: the candidate rule counts keys over every index partition, and each partition answers
    only the pairs whose second capture it sees. Two captures of one person in flight together
    can each come second on a different partition (``a`` before ``b`` on one, ``b`` before ``a``
    on another): each side's tally then holds only part of the shared keys, and both may fall
    short of the rule although the whole set passes. A partition that finds a recent member
    therefore answers with the whole intersection of the two fingerprints (``shared_votes``),
    marked whole, so either side decides on the same set as a run one after the other would.
    A member indexed before the last ``cap`` probes of its partition was not in flight with
    this probe (its own fan-out finished long ago), and one after a restart is re-read with its
    input; both are answered from the partition's own keys as before."""

    def __init__(self, cap: int = 10_000) -> None:
        self.cap = cap
        self._fp: OrderedDict[str, np.ndarray] = OrderedDict()

    def add(self, probe: str, fingerprint: np.ndarray) -> None:
        self._fp[probe] = fingerprint
        self._fp.move_to_end(probe)
        while len(self._fp) > self.cap:
            self._fp.popitem(last=False)

    def get(self, probe: str) -> np.ndarray | None:
        return self._fp.get(probe)

    def __len__(self) -> int:
        return len(self._fp)


def whole_tallies(recent: RecentProbes | None, fingerprint: np.ndarray | None,
                  hits: Iterable[tuple[str, str, int]]) -> dict[str, tuple[int, int, int]]:
    """For each member among ``hits`` still in ``recent``: its whole shared votes with the probe
    (``fingerprint``), for :func:`tally_hits`."""
    if recent is None or fingerprint is None:
        return {}
    out: dict[str, tuple[int, int, int]] = {}
    for _key, eid, _part in hits:
        if eid not in out:
            fp = recent.get(eid)
            if fp is not None:
                out[eid] = shared_votes(fingerprint, fp)
    return out


def tally_hits(hits: Iterable[tuple[str, str, int]],
               whole: dict[str, tuple[int, int, int]] | None = None) -> list[list]:
    """One index partition's answer: per candidate ``[id, gallery partition, voting keys shared,
    1 if a demographic key that admits alone was shared, biometric sources (bits of
    ``biometric.source_bit``), weak demographic keys shared, 1 if the three counts are whole]``,
    from ``(key, id, partition)`` hits. Voting keys are the biometric and the weak demographic
    ones (``streams.blocking.biometric.VOTING_PREFIXES``); each weak demographic key is a source
    of its own. Each key lives on exactly one index partition, so the tallies of several
    partitions add up (counts summed, sources or-ed), except where ``whole`` gives a member's
    shared votes over every key (see :class:`RecentProbes`)."""
    tally: dict[tuple[str, int], list[int]] = {}
    for key, eid, part in hits:
        t = tally.setdefault((eid, part), [0, 0, 0, 0, 0])
        if key.startswith(BIOMETRIC_PREFIXES):
            t[0] += 1
            t[2] |= source_bit(key)
        elif key.startswith(VOTING_PREFIXES):
            t[0] += 1
            t[3] += 1
        else:
            t[1] = 1
    for (eid, _part), t in tally.items():
        if whole and eid in whole:
            t[0], t[2], t[3] = whole[eid]
            t[4] = 1
    return [[eid, part, *t] for (eid, part), t in sorted(tally.items())]


def select_candidates(tallies: Iterable[list], min_shared: int = MIN_SHARED_BIOMETRIC_KEYS,
                      one_source: int = MIN_SHARED_ONE_SOURCE) -> list[tuple[str, int]]:
    """Candidates worth comparing from the tallies of every index partition: found through a
    demographic key that admits alone (NIK, name with birth date, birth date with sex and
    regency, name with sex and regency, name token with day and month), or sharing at least
    ``min_shared`` voting keys (biometric or weak demographic) from at least two sources, or
    ``one_source`` from one (a lone chance collision, or two keys of one finger or iris table,
    is the typical impostor; see streams.blocking.biometric). Counts marked whole (an index
    partition that found a member in flight, :class:`RecentProbes`) stand for the candidate
    instead of the sum. A tally of the earlier form ``[id, partition, keys, demographic]`` (an
    index partition of an earlier version, which counted biometric keys only and flagged every
    demographic key) is read as sources unknown and admitted at ``min_shared`` keys."""
    total: dict[tuple[str, int], list[int]] = {}
    whole: dict[tuple[str, int], tuple[int, int, int]] = {}
    for tally in tallies:
        eid, part, n, d = tally[:4]
        t = total.setdefault((eid, part), [0, 0, 0, 0, 0])
        t[0] += n
        t[1] |= d
        if len(tally) >= 6:
            t[2] |= tally[4]
            t[3] += tally[5]
            if len(tally) >= 7 and tally[6]:
                whole[(eid, part)] = (n, tally[4], tally[5])
        else:
            t[4] = 1
    for k, (n, bits, weak) in whole.items():
        total[k][0], total[k][2], total[k][3] = n, bits, weak
    return sorted(k for k, (n, d, bits, weak, old) in total.items()
                  if d or n >= one_source
                  or (n >= min_shared and (old or bits.bit_count() + weak >= 2)))


#: A stage record carries the items of one agent step for one partition, up to this many bytes
#: (the broker's default ``message.max.bytes`` is 1 MiB); a larger single item goes alone.
MAX_BATCH_BYTES = 900 << 10


def pack_items(items: list[bytes], limit: int = MAX_BATCH_BYTES) -> Iterator[bytes]:
    """Serialised items (JSON objects) as few ``{"batch": [...]}`` records of at most ``limit``
    bytes each, in order. One agent step sends one record per target partition, not one per
    probe: under a backlog the framework's cost per Kafka record is shared by many probes."""
    chunk: list[bytes] = []
    size = 0
    for item in items:
        if chunk and size + len(item) + 1 > limit:
            yield b'{"batch":[' + b",".join(chunk) + b"]}"
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield b'{"batch":[' + b",".join(chunk) + b"]}"


def unpack_items(record: dict) -> list[dict]:
    """The items of a stage record: a batch, or (a record written before batching) one item."""
    batch = record.get("batch")
    return batch if isinstance(batch, list) else [record]
