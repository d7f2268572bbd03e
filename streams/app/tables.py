"""Faust tables behind the core's state interfaces. No rules here: storage only."""

from __future__ import annotations

from typing import Any

from streams.decide.graph import Edge, Node


class TableGraph:
    """:class:`streams.decide.graph.GraphStore` over three faust tables (JSON values)."""

    def __init__(self, nodes: Any, edges: Any, niks: Any) -> None:
        self._nodes, self._edges, self._niks = nodes, edges, niks

    def node(self, eid: str) -> Node | None:
        d = self._nodes.get(eid)
        return Node.from_dict(d) if d is not None else None

    def put_node(self, node: Node) -> None:
        self._nodes[node.enrollment_id] = node.to_dict()

    def edges(self, eid: str) -> dict[str, Edge]:
        d = self._edges.get(eid)
        return {k: Edge.from_dict(v) for k, v in d.items()} if d else {}

    def put_edges(self, eid: str, edges: dict[str, Edge]) -> None:
        self._edges[eid] = {k: e.to_dict() for k, e in sorted(edges.items())}

    def nik_members(self, nik: str) -> frozenset[str]:
        return frozenset(self._niks.get(nik) or ())

    def put_nik_members(self, nik: str, members: frozenset[str]) -> None:
        self._niks[nik] = sorted(members)
