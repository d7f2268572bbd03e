"""The evidence graph the verdicts are computed from.

Nodes are enrollments (a small summary, not templates); edges are pairwise comparison outcomes.
The graph is a pure function of the set of events seen, so verdicts computed from it do not
depend on arrival order. State lives behind :class:`GraphStore` so the same rules run over a dict
in tests and over faust tables in the worker.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Protocol

#: Edge decisions. Only MATCH joins two enrollments into one person.
MATCH = "MATCH"
REVIEW = "REVIEW"
NO_MATCH = "NO_MATCH"


@dataclass(frozen=True, slots=True)
class Node:
    """What the resolver needs to know of one enrollment."""

    enrollment_id: str
    captured_at: str
    captured_ts: float
    nik: str | None
    usable: bool  # at least one usable biometric modality
    reasons: tuple[str, ...] = ()  # findings of the enrollment alone (NIK vs demographics, ...)

    @property
    def order_key(self) -> tuple[float, str]:
        return (self.captured_ts, self.enrollment_id)

    def to_dict(self) -> dict:
        return {"enrollment_id": self.enrollment_id, "captured_at": self.captured_at,
                "captured_ts": self.captured_ts, "nik": self.nik, "usable": self.usable,
                "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, d: dict) -> Node:
        return cls(d["enrollment_id"], d["captured_at"], float(d["captured_ts"]), d.get("nik"),
                   bool(d["usable"]), tuple(d.get("reasons", ())))


@dataclass(frozen=True, slots=True)
class Edge:
    """One comparison outcome between two enrollments (symmetric)."""

    decision: str  # MATCH, REVIEW or NO_MATCH
    score: float
    iris: float | None = None
    finger: float | None = None
    demographic: float | None = None
    reasons: tuple[str, ...] = ()
    adjudicated: bool = False

    def to_dict(self) -> dict:
        return {"decision": self.decision, "score": self.score, "iris": self.iris,
                "finger": self.finger, "demographic": self.demographic,
                "reasons": list(self.reasons), "adjudicated": self.adjudicated}

    @classmethod
    def from_dict(cls, d: dict) -> Edge:
        return cls(d["decision"], float(d["score"]), d.get("iris"), d.get("finger"),
                   d.get("demographic"), tuple(d.get("reasons", ())), bool(d.get("adjudicated")))


class GraphStore(Protocol):
    """Where the graph lives. Implementations: :class:`MemoryGraph`, the worker's tables."""

    def node(self, eid: str) -> Node | None: ...

    def put_node(self, node: Node) -> None: ...

    def edges(self, eid: str) -> dict[str, Edge]: ...

    def put_edges(self, eid: str, edges: dict[str, Edge]) -> None: ...

    def nik_members(self, nik: str) -> frozenset[str]: ...

    def put_nik_members(self, nik: str, members: frozenset[str]) -> None: ...


class MemoryGraph:
    """A dict-backed :class:`GraphStore` (tests, benchmarks, offline evaluation)."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._edges: dict[str, dict[str, Edge]] = {}
        self._niks: dict[str, frozenset[str]] = {}

    def node(self, eid: str) -> Node | None:
        return self._nodes.get(eid)

    def put_node(self, node: Node) -> None:
        self._nodes[node.enrollment_id] = node

    def edges(self, eid: str) -> dict[str, Edge]:
        return dict(self._edges.get(eid, {}))

    def put_edges(self, eid: str, edges: dict[str, Edge]) -> None:
        self._edges[eid] = dict(edges)

    def nik_members(self, nik: str) -> frozenset[str]:
        return self._niks.get(nik, frozenset())

    def put_nik_members(self, nik: str, members: frozenset[str]) -> None:
        self._niks[nik] = members


def add_node(store: GraphStore, node: Node) -> bool:
    """Record an enrollment; returns False when the same node was already there (a replay)."""
    if store.node(node.enrollment_id) == node:
        return False
    store.put_node(node)
    if node.nik:
        members = store.nik_members(node.nik)
        if node.enrollment_id not in members:
            store.put_nik_members(node.nik, members | {node.enrollment_id})
    return True


def add_edge(store: GraphStore, a: str, b: str, edge: Edge) -> bool:
    """Record a comparison outcome on both ends. An adjudicated edge is never overwritten by a
    score; returns False when nothing changed."""
    if a == b:
        return False
    changed = False
    for x, y in ((a, b), (b, a)):
        current = store.edges(x)
        old = current.get(y)
        if old == edge or (old is not None and old.adjudicated and not edge.adjudicated):
            continue
        current[y] = edge
        store.put_edges(x, current)
        changed = True
    return changed


def retract_edges(store: GraphStore, a: str, others: Iterable[str]) -> list[str]:
    """Drop the scored edges between ``a`` and each of ``others`` (both ends): a re-evaluation
    compared them again and found nothing worth keeping. Adjudicated edges stay. Returns the
    enrollments whose edge was dropped."""
    dropped: list[str] = []
    mine = store.edges(a)
    for b in sorted(set(others)):
        old = mine.get(b)
        if b == a or old is None or old.adjudicated:
            continue
        del mine[b]
        theirs = store.edges(b)
        theirs.pop(a, None)
        store.put_edges(b, theirs)
        dropped.append(b)
    if dropped:
        store.put_edges(a, mine)
    return dropped


def component(store: GraphStore, eid: str) -> set[str]:
    """Known, usable enrollments joined to ``eid`` by MATCH edges (transitively)."""
    start = store.node(eid)
    if start is None or not start.usable:
        return {eid} if start is not None else set()
    seen = {eid}
    queue = deque([eid])
    while queue:
        x = queue.popleft()
        for y, edge in store.edges(x).items():
            if edge.decision != MATCH or y in seen:
                continue
            other = store.node(y)
            if other is None or not other.usable:
                continue
            seen.add(y)
            queue.append(y)
    return seen


def affected(store: GraphStore, seeds: Iterable[str]) -> set[str]:
    """Every enrollment whose verdict may change when ``seeds`` changed: their persons, every
    person that uses one of those persons' NIKs (NIK ownership is decided among them), and the
    direct neighbours of all of these (grey-zone and conflict evidence names them)."""
    out: set[str] = set()
    niks: set[str] = set()
    for seed in seeds:
        if seed in out:
            continue
        members = component(store, seed)
        out |= members
        for eid in members:
            n = store.node(eid)
            if n is not None and n.nik:
                niks.add(n.nik)
    for nik in sorted(niks):
        for eid in sorted(store.nik_members(nik)):
            if eid not in out:
                out |= component(store, eid)
    # A neighbour joined by REVIEW or NO_MATCH evidence reads this node's presence and order.
    for eid in list(out):
        out |= store.edges(eid).keys()
    return out
