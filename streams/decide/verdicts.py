"""The contract's verdict rules over the evidence graph.

A person is a MATCH-connected component of usable enrollments; its original is the earliest
capture (``captured_at``, ties by ``enrollment_id``); a NIK belongs to the person whose original
used it first. Everything here is a function of the graph only, hence of the set of events.
"""

from __future__ import annotations

from typing import Iterable

from streams.decide.graph import MATCH, NO_MATCH, REVIEW, GraphStore, Node, component
from streams.domain.types import Verdict, VerdictKind

#: Reason codes this module adds (the codec and comparators add their own).
INSUFFICIENT_BIOMETRICS = "INSUFFICIENT_BIOMETRICS"
DIFFERENT_NIK = "DIFFERENT_NIK"
NIK_HELD_BY_OTHER_PERSON = "NIK_HELD_BY_OTHER_PERSON"
GREY_ZONE_MATCH = "GREY_ZONE_MATCH"
SAME_NIK = "SAME_NIK"

_PRECEDENCE = list(VerdictKind)


class _Persons:
    """Per-call cache of components and originals (a verdict batch touches few persons)."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._person: dict[str, frozenset[str]] = {}

    def members(self, eid: str) -> frozenset[str]:
        if eid not in self._person:
            comp = frozenset(component(self.store, eid))
            for x in comp:
                self._person[x] = comp
        return self._person[eid]

    def original(self, eid: str) -> Node:
        nodes = [self.store.node(x) for x in self.members(eid)]
        return min((n for n in nodes if n is not None), key=lambda n: n.order_key)

    def nik_owner(self, nik: str) -> Node | None:
        """The original of the person whose original used ``nik`` first."""
        owners = []
        for eid in self.store.nik_members(nik):
            node = self.store.node(eid)
            if node is None or not node.usable:
                continue
            orig = self.original(eid)
            if orig.nik == nik:
                owners.append(orig)
        return min(owners, key=lambda n: n.order_key) if owners else None


def _match_entry(other: Node, edge_decision: str, edge) -> dict:
    return {"enrollment_id": other.enrollment_id, "nik": other.nik,
            "captured_at": other.captured_at, "decision": edge_decision,
            "score": round(edge.score, 6) if edge is not None else 0.0,
            "iris": edge.iris if edge is not None else None,
            "finger": edge.finger if edge is not None else None,
            "demographic": edge.demographic if edge is not None else None}


def _sort_matches(entries: list[dict]) -> tuple[dict, ...]:
    return tuple(sorted(entries, key=lambda m: (-m["score"], m["enrollment_id"])))


def decide(store: GraphStore, eid: str, persons: _Persons | None = None) -> Verdict | None:
    """The current verdict of one enrollment, or ``None`` if it is not known yet."""
    node = store.node(eid)
    if node is None:
        return None
    persons = persons or _Persons(store)
    reasons = list(node.reasons)
    if not node.usable:
        return Verdict(eid, node.nik, VerdictKind.REJECTED, None, (),
                       tuple(sorted(set(reasons + [INSUFFICIENT_BIOMETRICS]))))
    kinds: set[VerdictKind] = set()
    members = persons.members(eid)
    original = persons.original(eid)
    edges = store.edges(eid)
    matches: list[dict] = []
    review: list[dict] = []
    for other_id, edge in sorted(edges.items()):
        other = store.node(other_id)
        if other is None or not other.usable:
            continue
        if edge.decision == MATCH:
            matches.append(_match_entry(other, MATCH, edge))
        elif edge.decision == REVIEW and other_id not in members and other.order_key < node.order_key:
            # Grey-zone evidence flags the later capture of the pair, whichever arrived first.
            review.append(_match_entry(other, REVIEW, edge))
            reasons.extend(edge.reasons)
    if review:
        kinds.add(VerdictKind.REVIEW)
        reasons.append(GREY_ZONE_MATCH)
    if original.enrollment_id != eid:
        if node.nik == original.nik:
            kinds.add(VerdictKind.RECAPTURE)
            reasons.append(SAME_NIK)
        else:
            kinds.add(VerdictKind.DUPLICATE)
            reasons.append(DIFFERENT_NIK)
    owner = persons.nik_owner(node.nik) if node.nik else None
    conflict: list[dict] = []
    if owner is not None and owner.enrollment_id not in members:
        kinds.add(VerdictKind.NIK_CONFLICT)
        reasons.append(NIK_HELD_BY_OTHER_PERSON)
        owner_edge = edges.get(owner.enrollment_id)
        conflict.append(_match_entry(owner, NO_MATCH, owner_edge))
    if not kinds:
        kinds.add(VerdictKind.UNIQUE)
    verdict = min(kinds, key=_PRECEDENCE.index)
    if verdict == VerdictKind.REVIEW:
        evidence = review + matches
    elif verdict in (VerdictKind.DUPLICATE, VerdictKind.RECAPTURE):
        evidence = matches
    elif verdict == VerdictKind.NIK_CONFLICT:
        evidence = conflict
    else:
        evidence = []
    return Verdict(eid, node.nik, verdict, original.enrollment_id, _sort_matches(evidence),
                   tuple(sorted(set(reasons))))


def decide_many(store: GraphStore, eids: Iterable[str]) -> list[Verdict]:
    """Verdicts of several enrollments, sharing one cache of persons; unknown ids are skipped."""
    persons = _Persons(store)
    out = []
    for eid in sorted(set(eids)):
        v = decide(store, eid, persons)
        if v is not None:
            out.append(v)
    return out
