"""Faust tables behind the core's state interfaces. No rules here: storage only."""

from __future__ import annotations

from typing import Any

import orjson

from streams.decide.graph import Edge, Node


class TableGraph:
    """:class:`streams.decide.graph.GraphStore` over three faust tables (JSON values)."""

    def __init__(self, nodes: Any, edges: Any, niks: Any) -> None:
        self._nodes, self._edges, self._niks = nodes, edges, niks

    def node(self, eid: str) -> Node | None:
        raw = self._nodes.get(eid.encode())
        return Node.from_dict(orjson.loads(raw)) if raw else None

    def put_node(self, node: Node) -> None:
        self._nodes[node.enrollment_id.encode()] = orjson.dumps(node.to_dict())

    def edges(self, eid: str) -> dict[str, Edge]:
        raw = self._edges.get(eid.encode())
        return {k: Edge.from_dict(v) for k, v in orjson.loads(raw).items()} if raw else {}

    def put_edges(self, eid: str, edges: dict[str, Edge]) -> None:
        self._edges[eid.encode()] = orjson.dumps({k: e.to_dict() for k, e in sorted(edges.items())})

    def nik_members(self, nik: str) -> frozenset[str]:
        raw = self._niks.get(nik.encode())
        return frozenset(orjson.loads(raw)) if raw else frozenset()

    def put_nik_members(self, nik: str, members: frozenset[str]) -> None:
        self._niks[nik.encode()] = orjson.dumps(sorted(members))
