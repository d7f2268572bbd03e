"""The faust application: the only module that wires Kafka to the core.

Stages (docs/architecture.md has the diagram and the message counts):

    enrollments --ingest--> gallery[p]            (validate, store, derive blocking keys)
        --{app}-keys[k]--> index                  (look up and extend posting lists)
        --{app}-candidates[p]--> gather           (all key partitions answered?)
        --{app}-compare[c]--> compare             (score the probe against local gallery rows)
        --{app}-scores[p]--> collect              (all compare partitions answered?)
        --{app}-resolve[0]--> resolve             (evidence graph -> affected verdicts)
        --{app}-decisions[h(id)]--> write_verdicts --> verdicts (the verdict table's changelog)
    bad input --> enrollments-dlq (+ a REJECTED decision when the id can be read)
    {app}-reevaluate[p] --reevaluate--> (as after ingest, with the stored event: `replay
        --reevaluate` re-decides stored enrollments after an engine change)

p is the probe's own partition, k a key's, c a candidate's. Agents run with concurrency 1 and
at-least-once delivery; every step is idempotent, so a redelivered event changes nothing and
the verdict writer emits nothing new.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import logging
import weakref
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Iterator

import faust
import numpy as np
import orjson
from faust.streams import _current_event
from mode import CrashingSupervisor

from streams import ENGINE
from streams.app import commits, durable, failpoints, flow, progress, restore, watchdog
from streams.app.tables import TableGraph
from streams.blocking.keys import keys_for
from streams.codecs.contract import decode_enrollment, parse_json
from streams.decide import graph as g
from streams.decide.revisions import next_revision, verdict_content
from streams.decide.verdicts import decide_many
from streams.ingest import Admitted, Source, admit, node_of, resend_identity
from streams.matching import fusion
from streams.app.postings import (
    POSTINGS_DIR,
    PartitionedPostings,
    index_changes,
    table_partition_items,
)
from streams.pipeline import (
    Gather,
    Indexed,
    RecentProbes,
    index_probe,
    pack_items,
    reindex_probe,
    route_keys,
    route_refs,
    select_candidates,
    tally_hits,
    unpack_items,
    voting_fingerprint,
    whole_tallies,
)
from streams.routing import partition_for
from streams.settings import Settings

log = logging.getLogger("tunggal.engine")

#: RocksDB per table partition: faust's defaults (64 MB write buffers x 3, a 2 GiB block cache
#: per partition database) let a worker's memory grow to gigabytes with a few thousand people.
ROCKSDB_OPTIONS = {"write_buffer_size": 8 << 20, "max_write_buffer_number": 2,
                   "block_cache_size": 64 << 20}
#: Changelog topics are compacted; Kafka compacts only closed segments, and by default a segment
#: closes after 7 days or 1 GiB, so overwritten and deleted rows would stay in every cold
#: recovery. Hourly segments let the cleaner keep a changelog near its live rows.
CHANGELOG_CONFIGS = {"segment.ms": str(3600_000)}
#: ``pending`` rows live for one request (a few writes, then a delete): minute segments and an
#: eager cleaner keep its changelog to the requests in flight.
TRANSIENT_CHANGELOG_CONFIGS = {"segment.ms": str(60_000), "min.cleanable.dirty.ratio": "0.1",
                               "delete.retention.ms": str(600_000)}


#: Nodes of requests in flight kept between the start and the end of their matching.
NODE_CACHE = 50_000
#: Per index partition, the voting-key fingerprints of the probes it indexed last, so that two
#: captures in flight together are answered with their whole shared keys
#: (``pipeline.RecentProbes``): ~1.5 KB each.
RECENT_PROBES = 10_000


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class _Prepared:
    """An LRU of prepared enrollments keyed by (id, digest)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str], fusion.Prepared] = OrderedDict()

    def get(self, eid: str, stored: bytes) -> fusion.Prepared:
        digest = stored[:32].decode("ascii")
        key = (eid, digest)
        hit = self._data.get(key)
        if hit is not None:
            self._data.move_to_end(key)
            return hit
        prepared = fusion.prepare(decode_enrollment(parse_json(stored[32:]), admitted=True))
        self._data[key] = prepared
        if len(self._data) > self.size:
            self._data.popitem(last=False)
        return prepared


def bind(event: Any) -> None:
    """Make ``event`` the one the tables act for. faust picks a table's RocksDB partition and
    changelog partition from the current event, which it sets per event in ``stream.events()``
    but not for the events of a step (``noack_take``); a step names each event before it
    touches the tables for it."""
    _current_event.set(weakref.ref(event))


#: Probes whose rotated iris codes (~260 KB each) a compare step keeps for reuse at most.
STEP_PROBES = 64


class Outbox:
    """The stage records of one agent step: items gathered per (topic, partition), sent at the
    end of the step as one record per partition (:func:`streams.pipeline.pack_items`); and the
    table writes that must follow them (``done`` marks, ``pending`` deletes), applied after."""

    def __init__(self) -> None:
        self._items: dict[tuple[Any, int], list[bytes]] = {}
        #: fan-out states touched in this step: key -> [Gather, stored in `pending`, last event]
        self.gathers: dict[bytes, list] = {}
        #: probes compared in this step, sharing their rotated iris codes
        self.probes: dict[str, fusion.Prepared] = {}
        #: ``done`` marks of this step (key -> value, event), written once its output is sent
        self.done: dict[bytes, tuple[bytes, Any]] = {}
        #: ``pending`` rows to delete (key, event) once its output is sent
        self.drops: list[tuple[bytes, Any]] = []

    def add(self, topic: Any, partition: int, item: dict) -> None:
        self._items.setdefault((topic, partition), []).append(orjson.dumps(item))

    def hold_probe(self, eid: str, probe: fusion.Prepared) -> None:
        if eid not in self.probes and len(self.probes) >= STEP_PROBES:
            self.release_probes()
        self.probes[eid] = probe

    def release_probes(self) -> None:
        """Drop the held probes' rotated iris codes: rarely needed after this step."""
        for probe in self.probes.values():
            probe.release_probe()
        self.probes.clear()

    async def flush(self) -> None:
        for (topic, partition), items in self._items.items():
            for record in pack_items(items):
                await topic.send(key=None, partition=partition, value=record)
        self._items.clear()


def create_app(settings: Settings) -> faust.App:
    """Build a fresh faust app with its topics, tables and agents. Nothing happens at import."""
    s = settings
    P = s.partitions
    app = faust.App(
        s.app_id,
        broker=f"kafka://{s.bootstrap}",
        store="rocksdb://",
        datadir=str(s.data_dir),
        topic_partitions=P,
        topic_replication_factor=s.replication,
        topic_allow_declare=True,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=s.standby_replicas,
        stream_wait_empty=False,
        web_enabled=True,
        web_bind=s.web_host,
        web_host=s.web_host,
        web_port=s.web_port,
        web_in_thread=False,
        producer_acks=-1,
        producer_max_request_size=8 << 20,
        consumer_max_fetch_size=8 << 20,
        broker_commit_every=1000,
        broker_session_timeout=s.session_timeout,
        broker_commit_interval=1.0,
        key_serializer="raw",
        value_serializer="raw",
        # An agent that crashes takes the worker down (non-zero exit) instead of leaving a
        # worker that looks alive but processes nothing.
        agent_supervisor=CrashingSupervisor,
    )
    # Offsets commit only once every record the committed events caused is acknowledged
    # (faust's own flush can give up with table writes still buffered: streams/app/durable.py).
    durable.install(app)
    flow.install()  # resuming streams after recovery must not drop queued input records
    watchdog.install(app, s.stall_timeout, s.hole_patience)  # commit holes; stalls: exit
    failpoints.install(app)  # tests only: FAILPOINT_DROP_RECORDS
    commits.install(app)  # no commit past a record handed to a stream and never acknowledged
    t = s.topics

    def topic(name: str, partitions: int = P, **kw: Any) -> Any:
        return app.topic(name, partitions=partitions, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", **kw)

    enrollments = topic(t.enrollments)
    dlq = topic(t.dlq)
    # Only a changelog here (no agent reads it): acks off, as on faust's own changelog topics,
    # or faust counts it among the streams' topics and logs "Stream has not started processing"
    # errors for it once a worker has run 5 min.
    verdicts = topic(t.verdicts, compacting=True, acks=False)
    stage = {name: topic(f"{s.app_id}-{name}", internal=True)
             for name in ("keys", "candidates", "compare", "scores", "decisions", "reevaluate")}
    resolve_topic = topic(f"{s.app_id}-resolve", partitions=1, internal=True)

    # Every table holds raw bytes (keys: UTF-8; values: orjson or our own framing), so the bytes
    # on a changelog that is a contract topic are exactly the contract's.
    def table(name: str, partitions: int = P, configs: dict = CHANGELOG_CONFIGS, **kw: Any) -> Any:
        return app.Table(name, partitions=partitions, key_type=bytes, value_type=bytes,
                         options=dict(ROCKSDB_OPTIONS), extra_topic_configs=dict(configs), **kw)

    gallery = table("gallery")  # id -> digest (32 chars) + the raw valid event
    done = table("done")  # id -> request id whose evidence reached the resolver
    # probe id -> {"pp": gallery partition, "keys": keys it was admitted under}, per index
    # partition; the posting lists are a local projection of these rows (streams/app/postings.py)
    index_rows = table("index-rows")
    pending = table("pending", configs=TRANSIENT_CHANGELOG_CONFIGS)  # probe \0 request \0 stage -> Gather
    graph = TableGraph(table("nodes", 1), table("edges", 1), table("niks", 1))
    current = table("verdict-state", changelog_topic=verdicts)  # id -> current verdict
    prepared = _Prepared(s.prepared_cache)
    # The resolver's node of each request in flight, from start_matching to finish (an id's
    # stored event never changes, so neither does its node; a miss decodes the stored event).
    nodes: OrderedDict[str, g.Node] = OrderedDict()
    recent: dict[int, RecentProbes] = {}  # index partition -> its recently indexed probes

    postings = PartitionedPostings(
        s.data_dir / POSTINGS_DIR,
        lambda partition: table_partition_items(index_rows, partition),
        lambda partition: index_changes(index_rows, partition),
        on_progress=lambda partition, done, total: progress.report_step(
            app, f"posting lists of index partition {partition}", done, total))
    atexit.register(postings.invalidate)  # a clean close: the next start may reuse the lists

    @app.on_partitions_revoked.connect
    async def _forget_postings(sender: Any, revoked: Any, **kwargs: Any) -> None:
        postings.invalidate()

    @app.on_partitions_assigned.connect
    async def _remember_assignment(sender: Any, assigned: Any, **kwargs: Any) -> None:
        # what the next start restores before it joins the group (streams/app/restore.py)
        restore.save_assignment(s.data_dir, restore.assignment_parts(app, assigned))

    def stored_digest(eid: str) -> str | None:
        raw = gallery.get(eid.encode())
        return raw[:32].decode("ascii") if raw else None

    def still_ours(event: Any) -> bool:
        """Whether ``event`` still belongs to this worker's assignment. faust drops a record of an
        older consumer generation, or one taken while its flow is stopped (a rebalance, table
        recovery), when it leaves the stream queue, and seeks the partition to its committed
        offset afterwards; a step's buffer was filled before, so it is checked again here."""
        return (app.flow_control.is_active()
                and event.message.generation_id == app.consumer_generation_id)

    async def run_steps(stream: Any, handle: Any, end: Any = None) -> None:
        """The stream in agent steps: every event already waiting, up to ``batch_size``
        (waiting at most ``batch_wait`` s for more). Under a backlog a step holds many events
        and its output is one record per target partition; caught up, a step is one event.

        ``handle(out, event)`` runs for each event still ours (:func:`still_ours`), its table
        work bound to that event's partition; ``end(out)`` once all ran. Then the output is
        sent, the writes that must follow it are applied, and only then are the events acked:
        a step cut short (a crash, a stop) acks nothing, so its input is read again."""
        async for events in stream.noack_take(s.batch_size, s.batch_wait):
            out = Outbox()
            handled = []
            for event in events:
                if not still_ours(event):
                    continue
                bind(event)
                await handle(out, event)
                handled.append(event)
                await asyncio.sleep(0)  # a long step still lets commits and timers run
            if end is not None:
                end(out)
            keep_gathers(out)
            out.release_probes()
            await out.flush()
            for key, (value, event) in out.done.items():
                bind(event)
                done[key] = value
            for key, event in out.drops:
                bind(event)
                if pending.get(key) is not None:
                    del pending[key]
            for event in handled:
                if still_ours(event):
                    await stream.ack(event)

    def item_agent(topic: Any, name: str) -> Any:
        """An agent that runs the decorated ``handle(out, event, item)`` for every item of every
        stage record of a step (:func:`run_steps`)."""
        def wrap(handle: Any) -> Any:
            async def each(out: Outbox, event: Any) -> None:
                for item in unpack_items(orjson.loads(event.value)):
                    await handle(out, event, item)

            async def run(stream: Any) -> None:
                await run_steps(stream, each)
            run.__doc__, run.__qualname__ = handle.__doc__, handle.__qualname__
            return app.agent(topic, name=name, concurrency=1)(run)
        return wrap

    def is_done(out: Outbox, key: bytes) -> bytes | None:
        """The request id that finished ``key``'s matching, counting this step's marks."""
        staged = out.done.get(key)
        return staged[0] if staged is not None else done.get(key)

    def to_resolver(out: Outbox, node: g.Node, edges: list,
                    compared: list[str] | None = None) -> None:
        """The node and its new edges; ``compared`` (a re-evaluation) also names every
        candidate compared, so the resolver drops edges the new comparison no longer gives."""
        msg = {"type": "node", "node": node.to_dict(), "edges": edges}
        if compared is not None:
            msg["compared"] = compared
        out.add(resolve_topic, 0, msg)

    def send_decision(out: Outbox, v: Any) -> None:
        # One writer per enrollment id: the partition Kafka's default partitioner gives its key.
        out.add(stage["decisions"], partition_for(v.enrollment_id.encode(), P),
                verdict_content(v))

    @app.agent(enrollments, name="ingest", concurrency=1)
    async def ingest(stream: Any) -> None:
        await run_steps(stream, ingest_one)

    async def ingest_one(out: Outbox, event: Any) -> None:
        msg = event.message
        if event.key is not None and is_done(out, event.key) is not None:
            # A replayed capture already fully processed: nothing can change. The stored bytes
            # are the record as received, so a byte-identical replay (a re-read topic) costs one
            # comparison; a re-serialised one costs a parse and a digest.
            stored = gallery.get(event.key)
            if stored is not None and stored[32:] == event.value:
                return
            same = resend_identity(event.value)
            if same is not None and same[0].encode() == event.key and \
                    same[1] == (stored[:32].decode("ascii") if stored else None):
                return
        source = Source(msg.topic, msg.partition, msg.offset, now_rfc3339())
        outcome = admit(event.key, event.value, source, stored_digest)
        if not isinstance(outcome, Admitted):
            await dlq.send(key=event.key, value=orjson.dumps(outcome.dead_letter))
            log.info("dead letter %s at %s[%d]@%d: %s", outcome.dead_letter["error"]["code"],
                     msg.topic, msg.partition, msg.offset,
                     outcome.dead_letter["error"]["message"])
            if outcome.rejected is not None:
                send_decision(out, outcome.rejected)
            return
        e = outcome.enrollment
        key = e.enrollment_id.encode()
        if outcome.resend and is_done(out, key) is not None:
            return  # the same capture, already fully processed: nothing can change
        # Re-set even on a re-send, so a crash before the changelog flush is repaired.
        gallery[key] = e.digest.encode("ascii") + outcome.raw
        start_matching(out, event, e, f"{msg.partition}:{msg.offset}", again=False)

    def start_matching(out: Outbox, event: Any, e: Any, rid: str, *, again: bool) -> None:
        """Send a stored enrollment's blocking keys to the index partitions (or an unusable one
        straight to the resolver). ``again``: a re-evaluation of an enrollment already decided."""
        key = e.enrollment_id.encode()
        node = node_of(e)
        nodes[e.enrollment_id] = node
        if len(nodes) > NODE_CACHE:
            nodes.popitem(last=False)
        if not node.usable:
            to_resolver(out, node, [], [] if again else None)
            out.done[key] = (rid.encode(), event)  # finished: nothing to match
            return
        keys = keys_for(e)
        routed = route_keys(keys, P)
        # every index partition gets the probe's voting keys in full, as a fingerprint, to
        # answer a member in flight with it by their whole shared keys (RecentProbes)
        vk = base64.b64encode(voting_fingerprint(keys).astype("<u8").tobytes()).decode("ascii")
        # A re-evaluation asks every index partition: one that held keys the engine no longer
        # derives takes the probe out of their lists.
        for kp in range(P) if again else routed:
            m = {"rid": rid, "probe": e.enrollment_id, "pp": event.message.partition,
                 "keys": routed.get(kp, []),
                 "n": P if again else len(routed), "vk": vk}
            if again:
                m["again"] = 1
            out.add(stage["keys"], kp, m)

    @item_agent(stage["reevaluate"], "reevaluate")
    async def reevaluate(out: Outbox, event: Any, m: dict) -> None:
        """Re-decide a stored enrollment (``tunggal replay --reevaluate``): its keys, candidates
        and comparisons run again with this engine; the verdict writer emits a revision only
        where the outcome changed. The request sits on the enrollment's gallery partition."""
        key = m["id"].encode()
        rid = f"{m['pass']}:{event.message.partition}:{event.message.offset}"
        stored = gallery.get(key)
        if stored is None or is_done(out, key) in (None, rid.encode()):
            return  # never stored (dead-lettered), still in flight, or done in this pass
        e = decode_enrollment(parse_json(stored[32:]), admitted=True)
        start_matching(out, event, e, rid, again=True)

    @item_agent(stage["keys"], "index")
    async def index_keys(out: Outbox, event: Any, m: dict) -> None:
        part = event.message.partition
        store = await postings.store(part)
        probe = m["probe"].encode()
        row = index_rows.get(probe)
        if row is not None and m.get("again"):
            # A re-evaluation: the probe's lists follow the keys this engine derives.
            old_keys = orjson.loads(row)["keys"]
            result = reindex_probe(store, m["probe"], m["pp"], m["keys"], old_keys)
            if result.admitted != old_keys:
                # "v" counts the row's re-keyings, so the rows' changes add up to what the
                # posting lists must have applied (postings.index_changes), in one record
                v = int(orjson.loads(row).get("v", 0)) + 1
                row = orjson.dumps({"pp": m["pp"], "keys": result.admitted, "v": v})
                index_rows[probe] = row
                store.apply_row(probe, row)
                log.debug("%s: re-keyed on index partition %d", m["probe"], part)
        elif row is None and not m["keys"]:
            result = Indexed([], [], 0)  # a re-evaluation asking a partition with nothing to do
        else:
            seen = row is not None  # a redelivery: already indexed here
            result = index_probe(store, m["probe"], m["pp"], m["keys"], already_indexed=seen)
            if not seen:
                row = orjson.dumps({"pp": m["pp"], "keys": result.admitted})
                index_rows[probe] = row
                store.apply_row(probe, row)
        if result.oversized:
            log.debug("%s: %d oversized blocks demoted (neither indexed nor answered)",
                      m["probe"], result.oversized)
        fingerprint = None
        if m.get("vk") is not None:  # absent from a key message of an earlier version
            fingerprint = np.frombuffer(base64.b64decode(m["vk"]), dtype="<u8")
        mine = recent.setdefault(part, RecentProbes(RECENT_PROBES))
        whole = whole_tallies(mine, fingerprint, result.hits)
        if fingerprint is not None and m["keys"]:
            mine.add(m["probe"], fingerprint)
        reply = {k: v for k, v in m.items() if k != "vk"}  # the fingerprint goes no further
        reply.update(keys=None, part=part, cands=tally_hits(result.hits, whole))
        out.add(stage["candidates"], m["pp"], reply)

    def gather(out: Outbox, event: Any, m: dict, what: str, payload: list) -> list | None:
        """Add one reply to its fan-out; the merged replies once all arrived, else None. The
        state lives in the step until it ends (:func:`keep_gathers`): replies that complete a
        fan-out within one step never touch the ``pending`` table."""
        if is_done(out, m["probe"].encode()) == m["rid"].encode():
            return None  # a redelivered reply of a request that already finished
        pkey = f"{m['probe']}\0{m['rid']}\0{what}".encode()
        staged = out.gathers.get(pkey)
        if staged is None:
            old = pending.get(pkey)
            state = Gather.from_dict(orjson.loads(old)) if old else Gather(m["rid"], m["n"])
            staged = out.gathers[pkey] = [state, old is not None, event]
        staged[2] = event
        complete = staged[0].add(m["part"], payload)
        return staged[0].merged() if complete else None

    def keep_gathers(out: Outbox) -> None:
        """At the end of a step, store the fan-outs it left incomplete. One already stored is
        kept even once complete, until finish(): a replayed reply (a crash after that state
        reached the changelog, before the sends it triggered did) completes it again."""
        for pkey, (state, stored, event) in out.gathers.items():
            if (stored or not state.complete) and still_ours(event):
                bind(event)  # the partition of the probe, where its replies arrive
                pending[pkey] = orjson.dumps(state.to_dict())
        out.gathers.clear()

    def finish(out: Outbox, event: Any, probe: str, rid: str, edges: list,
               compared: list[str] | None = None) -> None:
        """The probe's node and edges to the resolver; once they are sent, its request is marked
        done and its fan-out states are deleted (not before: a crash in between must leave the
        request to be finished again, not marked done without its evidence sent)."""
        node = nodes.pop(probe, None)
        if node is None:  # started before a restart or a rebalance: from the stored event
            stored = gallery.get(probe.encode())
            node = node_of(decode_enrollment(parse_json(stored[32:]), admitted=True))
        to_resolver(out, node, edges, compared)
        out.done[probe.encode()] = (rid.encode(), event)
        for what in ("cand", "score"):  # the request's fan-out states are no longer needed
            pkey = f"{probe}\0{rid}\0{what}".encode()
            out.gathers.pop(pkey, None)
            out.drops.append((pkey, event))

    @item_agent(stage["candidates"], "gather")
    async def gather_candidates(out: Outbox, event: Any, m: dict) -> None:
        tallies = gather(out, event, m, "cand", m["cands"])
        if tallies is None:
            return
        refs = route_refs(select_candidates(tallies))
        if not refs:
            finish(out, event, m["probe"], m["rid"], [], [] if m.get("again") else None)
            return
        raw = gallery.get(m["probe"].encode()).decode("utf-8")
        for cp, ids in refs.items():
            out.add(stage["compare"], cp,
                    {"rid": m["rid"], "probe": m["probe"], "pp": m["pp"], "n": len(refs),
                     "cands": ids, "again": m.get("again"), "raw": raw})

    @item_agent(stage["compare"], "compare")
    async def compare(out: Outbox, event: Any, m: dict) -> None:
        probe = prepared.get(m["probe"], m["raw"].encode("utf-8"))
        rows = [(eid, gallery.get(eid.encode())) for eid in m["cands"]]  # each read once
        found = [(eid, row) for eid, row in rows if row is not None]
        ids = [eid for eid, _row in found]
        cands = [prepared.get(eid, row) for eid, row in found]
        # A re-evaluation keeps "nothing found" too ([id, None]): the resolver drops the edges
        # the earlier engine gave those pairs.
        edges = [[eid, edge.to_dict() if edge is not None else None]
                 for eid, edge in zip(ids, fusion.compare(probe, cands))
                 if edge is not None or m.get("again")]
        out.hold_probe(m["probe"], probe)
        out.add(stage["scores"], m["pp"],
                {"rid": m["rid"], "probe": m["probe"], "n": m["n"], "edges": edges,
                 "again": m.get("again"), "part": event.message.partition})

    @item_agent(stage["scores"], "collect")
    async def collect(out: Outbox, event: Any, m: dict) -> None:
        edges = gather(out, event, m, "score", m["edges"])
        if edges is not None:
            finish(out, event, m["probe"], m["rid"],
                   [{"other": o, "edge": e} for o, e in edges if e is not None],
                   [o for o, _e in edges] if m.get("again") else None)

    @app.agent(resolve_topic, name="resolve", concurrency=1)
    async def resolve(stream: Any) -> None:
        """Apply a step's nodes and edges to the evidence graph, then decide every affected
        enrollment once: the verdicts are a function of the graph, so deciding after the whole
        step gives the same current verdicts as deciding after each node, with fewer revisions."""
        seeds: set[str] = set()

        async def apply(out: Outbox, event: Any) -> None:
            for msg in unpack_items(orjson.loads(event.value)):
                if msg["type"] != "node":
                    continue
                node = g.Node.from_dict(msg["node"])
                g.add_node(graph, node)
                seeds.add(node.enrollment_id)
                for item in msg.get("edges", ()):
                    g.add_edge(graph, node.enrollment_id, item["other"],
                               g.Edge.from_dict(item["edge"]))
                    seeds.add(item["other"])
                if "compared" in msg:  # a re-evaluation: what it no longer finds goes
                    kept = {item["other"] for item in msg.get("edges", ())}
                    seeds.update(g.retract_edges(graph, node.enrollment_id,
                                                 set(msg["compared"]) - kept))

        def decide(out: Outbox) -> None:
            for v in decide_many(graph, g.affected(graph, seeds)):
                send_decision(out, v)
            seeds.clear()

        await run_steps(stream, apply, decide)

    @item_agent(stage["decisions"], "write_verdicts")
    async def write_verdicts(out: Outbox, event: Any, decision: dict) -> None:
        key = decision["enrollment_id"].encode()
        old = current.get(key)
        new = next_revision(orjson.loads(old) if old else None, decision,
                            decided_at=now_rfc3339(), engine=ENGINE)
        if new is not None:
            current[key] = orjson.dumps(new)  # one record on `verdicts`: the changelog

    app.tunggal = {"settings": s, "stages": stage, "resolve": resolve_topic}
    return app
