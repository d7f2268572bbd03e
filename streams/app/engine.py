"""The faust application: the only module that wires Kafka to the core.

Flow (see docs/architecture.md):

    enrollments --ingest--> gallery table ----> {app}-resolve (1 partition) --resolve-->
        graph tables --> {app}-decisions --write_verdicts--> verdicts (the verdict table's
        changelog: state and output are one record)
    bad input --> enrollments-dlq (+ a REJECTED decision when the id can be read)

Agents run with concurrency 1 and at-least-once delivery; every step is idempotent, so a
redelivered event changes nothing and the verdict writer emits nothing new.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import faust
import orjson
from mode import CrashingSupervisor

from streams import ENGINE
from streams.app.tables import TableGraph
from streams.decide import graph as g
from streams.decide.revisions import next_revision, verdict_content
from streams.decide.verdicts import decide_many
from streams.ingest import Admitted, Source, admit, node_of
from streams.settings import Settings

log = logging.getLogger("tunggal.engine")


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def create_app(settings: Settings) -> faust.App:
    """Build a fresh faust app with its topics, tables and agents. Nothing happens at import."""
    s = settings
    app = faust.App(
        s.app_id,
        broker=f"kafka://{s.bootstrap}",
        store="rocksdb://",
        datadir=str(s.data_dir),
        topic_partitions=s.partitions,
        topic_replication_factor=s.replication,
        topic_allow_declare=True,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=1,
        stream_wait_empty=False,
        web_enabled=True,
        web_bind=s.web_host,
        web_host=s.web_host,
        web_port=s.web_port,
        web_in_thread=False,
        producer_acks=-1,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        key_serializer="raw",
        value_serializer="raw",
        # An agent that crashes takes the worker down (non-zero exit) instead of leaving a
        # worker that looks alive but processes nothing.
        agent_supervisor=CrashingSupervisor,
    )
    t = s.topics
    enrollments = app.topic(t.enrollments, partitions=s.partitions, key_type=bytes,
                            value_type=bytes, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(t.dlq, partitions=s.partitions, key_serializer="raw", value_serializer="raw")
    verdicts = app.topic(t.verdicts, partitions=s.partitions, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", compacting=True)
    resolve_topic = app.topic(f"{s.app_id}-resolve", partitions=1, key_serializer="raw",
                              value_serializer="raw", internal=True)
    decisions = app.topic(f"{s.app_id}-decisions", partitions=s.partitions,
                          key_serializer="raw", value_serializer="raw", internal=True)

    # Valid enrollments, keyed by id, co-partitioned with `enrollments`: digest + raw event.
    # Every table holds raw bytes (keys: UTF-8 ids; values: orjson or our own framing), so the
    # bytes on the changelogs are exactly the contract's where a changelog is a contract topic.
    def table(name: str, partitions: int, **kw: Any) -> Any:
        return app.Table(name, partitions=partitions, key_type=bytes, value_type=bytes, **kw)

    gallery = table("gallery", s.partitions)  # digest (32 chars) + the raw valid event
    nodes = table("nodes", 1)  # the evidence graph, on the single resolver partition
    edges = table("edges", 1)
    niks = table("niks", 1)
    # Current verdict per enrollment; its changelog IS the contract's `verdicts` topic.
    current = table("verdict-state", s.partitions, changelog_topic=verdicts)

    def stored_digest(eid: str) -> str | None:
        raw = gallery.get(eid.encode())
        return raw[:32].decode("ascii") if raw else None

    @app.agent(enrollments, name="ingest", concurrency=1)
    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            source = Source(msg.topic, msg.partition, msg.offset, now_rfc3339())
            outcome = admit(event.key, event.value, source, stored_digest)
            if isinstance(outcome, Admitted):
                e = outcome.enrollment
                # Re-set even on a re-send, so a crash before the changelog flush is repaired.
                gallery[e.enrollment_id.encode()] = e.digest.encode("ascii") + outcome.raw
                node = node_of(e)
                await resolve_topic.send(key=e.enrollment_id.encode(),
                                         value=orjson.dumps({"type": "node", "node": node.to_dict(),
                                                             "edges": []}))
            else:
                await dlq.send(key=event.key, value=orjson.dumps(outcome.dead_letter))
                log.info("dead letter %s at %s[%d]@%d: %s", outcome.dead_letter["error"]["code"],
                         msg.topic, msg.partition, msg.offset, outcome.dead_letter["error"]["message"])
                if outcome.rejected is not None:
                    v = outcome.rejected
                    await decisions.send(key=v.enrollment_id.encode(),
                                         value=orjson.dumps(verdict_content(v)))

    graph = TableGraph(nodes, edges, niks)

    @app.agent(resolve_topic, name="resolve", concurrency=1)
    async def resolve(stream: Any) -> None:
        async for value in stream:
            msg = orjson.loads(value)
            seeds: set[str] = set()
            if msg["type"] == "node":
                node = g.Node.from_dict(msg["node"])
                g.add_node(graph, node)
                seeds.add(node.enrollment_id)
                for item in msg.get("edges", ()):
                    g.add_edge(graph, node.enrollment_id, item["other"], g.Edge.from_dict(item["edge"]))
                    seeds.add(item["other"])
            for v in decide_many(graph, g.affected(graph, seeds)):
                await decisions.send(key=v.enrollment_id.encode(), value=orjson.dumps(verdict_content(v)))

    @app.agent(decisions, name="write_verdicts", concurrency=1)
    async def write_verdicts(stream: Any) -> None:
        async for event in stream.events():
            decision = orjson.loads(event.value)
            key = decision["enrollment_id"].encode()
            old = current.get(key)
            new = next_revision(orjson.loads(old) if old else None, decision,
                                decided_at=now_rfc3339(), engine=ENGINE)
            if new is not None:
                current[key] = orjson.dumps(new)  # one record on `verdicts`: the changelog

    app.tunggal = {"settings": s, "topics": {"enrollments": enrollments, "dlq": dlq,
                                             "verdicts": verdicts, "resolve": resolve_topic,
                                             "decisions": decisions}}
    return app
