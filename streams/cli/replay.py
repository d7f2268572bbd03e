"""``tunggal replay``: re-drive input after an outage.

Topic modes move the worker group's committed offsets on the enrollments topic back (to the
beginning, or to the first record at or after a time); the workers then re-read from there. The
range is first screened against the workers' durable state (the ``done`` table's changelog and
the dead letters, streams/screen.py): the group is rewound only to the first record not proven
processed, so a replay of processed input is a scan at consumer speed rather than a trip of every
record through the workers. From there on the engine skips what it already processed fully,
record by record, so a replay of processed input emits no new revision either way. File mode
publishes a station's backlog file. ``--watch`` follows the group's lag to zero with rate and ETA
and ends with a summary of what the replay changed (and what the screen skipped).

``--reevaluate`` is the deliberate other thing: after a change of engine version or thresholds,
it asks the running workers to decide every stored enrollment again (one request per enrollment
on the group's ``reevaluate`` topic, on the enrollment's own partition). Workers keep running;
only verdicts whose content changed get a new revision, and the summary says how they moved.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from streams.cli.kafka_io import key_of_line, make_producer, produce_lines, read_jsonl_lines
from streams.cli.ops import consumer_lag
from streams.cli.progress import Progress
from streams.errors import ConfigError, TunggalError
from streams.screen import PartitionScreen, parse_rid_positions
from streams.settings import Settings


#: The engine's internal stage topics ({app_id}-NAME; streams/app/engine.py): a replay or a
#: re-evaluation is done when the group has no lag on them either.
STAGES = ("reevaluate", "keys", "candidates", "compare", "scores", "resolve", "decisions")


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 (no public refresh in aiokafka)
    parts = consumer.partitions_for_topic(topic) or set()
    if not parts:
        raise TunggalError(f"topic {topic!r} does not exist")
    return [TopicPartition(topic, p) for p in sorted(parts)]


async def _behind(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                  ends: dict[TopicPartition, int]) -> bool:
    """Whether any of ``tps`` is still before its end offset."""
    for tp in tps:
        if await consumer.position(tp) < ends[tp]:
            return True
    return False


async def group_is_empty(s: Settings) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([s.app_id])
    finally:
        await admin.close()
    for resp in described:
        for group in getattr(resp, "groups", []):
            members = group[5] if isinstance(group, tuple) else getattr(group, "members", [])
            if members:
                return False
    return True


async def _each_record(s: Settings, ranges: dict[TopicPartition, tuple[int, int]],
                       each: Callable[[TopicPartition, Any], None],
                       progress: Progress | None = None) -> None:
    """Call ``each(tp, record)`` for every record of ``tp`` in ``[start, end)``, in offset order
    per partition, streaming (a replayed range can be far larger than memory)."""
    ranges = {tp: r for tp, r in ranges.items() if r[1] > r[0]}
    if not ranges:
        return
    # "earliest": a start that retention removed meanwhile reads from the first record left,
    # never from the end (which would pass over the range unread).
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        tps = list(ranges)
        consumer.assign(tps)
        for tp, (start, _end) in ranges.items():
            consumer.seek(tp, start)
        ends = {tp: end for tp, (_start, end) in ranges.items()}
        while await _behind(consumer, tps, ends):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, recs in batch.items():
                n = 0
                for r in recs:
                    if r.offset < ends[tp]:
                        each(tp, r)
                        n += 1
                if progress is not None:
                    progress.update(n)
    finally:
        await consumer.stop()


def changelog_topic(s: Settings, table: str) -> str:
    """The changelog of one of the engine's tables (faust names it ``{app}-{table}-changelog``)."""
    return f"{s.app_id}-{table}-changelog"


async def _whole_topic(s: Settings, topic: str, each: Callable[[TopicPartition, Any], None],
                       label: str | None = None) -> None:
    """Every record of ``topic`` now (nothing if it does not exist); ``label``: show progress."""
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 (no public refresh)
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    progress = Progress(label, sum(ends[tp] - starts[tp] for tp in tps)) if label else None
    await _each_record(s, {tp: (starts[tp], ends[tp]) for tp in tps}, each, progress)
    if progress is not None:
        progress.close()


@dataclass
class Rewound:
    """Where a topic replay left the group: per partition, the offset the workers re-read from,
    and (when screened) what the screen proved already processed."""
    starts: dict[int, int]
    screens: list[PartitionScreen]

    @property
    def skipped(self) -> int:
        return sum(sc.skipped for sc in self.screens)

    def text(self) -> str:
        if not self.screens:
            return "not screened: every record of the range is re-read"
        fin = sum(sc.finished for sc in self.screens)
        dead = sum(sc.dead_lettered for sc in self.screens)
        resent = sum(sc.resent for sc in self.screens)
        scanned = sum(sc.scanned for sc in self.screens)
        unproven = [f"p{sc.partition}@{sc.first_unproven}" for sc in self.screens
                    if sc.first_unproven is not None]
        return (f"screened {scanned:,} processed-range records against the workers' state: "
                f"{fin + dead + resent:,} proven processed ({fin:,} finished, {dead:,} "
                f"dead-lettered, {resent:,} identical copies); first unproven: "
                f"{', '.join(unproven) or 'none'}; {self.skipped:,} records already processed "
                "are not re-read")


async def screen(s: Settings, ranges: dict[TopicPartition, tuple[int, int]]
                 ) -> list[PartitionScreen]:
    """Screen each input partition's range ``[start, committed)`` (streams/screen.py) against
    the ``done`` table's changelog and the dead-letter topic."""
    log: list[tuple[bytes, bytes | None]] = []
    await _whole_topic(s, changelog_topic(s, "done"), lambda _tp, r: log.append((r.key, r.value)),
                       "replay: reading the done table")
    done = parse_rid_positions(log)
    dead: set[tuple[int, int]] = set()

    def letter(_tp: TopicPartition, r: Any) -> None:
        try:
            env = orjson.loads(r.value)
            if env.get("topic") == s.topics.enrollments:
                dead.add((int(env["partition"]), int(env["offset"])))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            pass  # not an envelope of ours: proves nothing

    await _whole_topic(s, s.topics.dlq, letter, "replay: reading the dead letters")
    screens = {tp: PartitionScreen(tp.partition, start, end)
               for tp, (start, end) in ranges.items()}

    def each(tp: TopicPartition, r: Any) -> None:
        screens[tp].see(r.offset, r.key, r.value, done, dead)

    total = sum(max(0, end - start) for start, end in ranges.values())
    progress = Progress("replay: screening", total)
    await _each_record(s, ranges, each, progress)
    progress.close()
    for sc in screens.values():
        sc.close()
    return list(screens.values())


async def rewind(s: Settings, since: datetime | None, *, screened: bool = True) -> Rewound:
    """Commit, for the worker group, the enrollments offsets to re-read from: the beginning (or
    the first record at ``since``), moved on past the records proven already processed unless
    ``screened`` is false."""
    if not await group_is_empty(s):
        raise TunggalError(f"workers of group {s.app_id!r} are running: stop them first (a group's "
                           "offsets can only be moved while it has no members), then replay, "
                           "then start them again")
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=s.app_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await _partitions(consumer, s.topics.enrollments)
        consumer.assign(tps)
        if since is None:
            targets = await consumer.beginning_offsets(tps)
        else:
            ms = int(since.timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: ms for tp in tps})
            ends = await consumer.end_offsets(tps)
            targets = {tp: (found[tp].offset if found[tp] is not None else ends[tp]) for tp in tps}
        screens: list[PartitionScreen] = []
        if screened:
            committed = {tp: await consumer.committed(tp) for tp in tps}
            ranges = {tp: (targets[tp], max(targets[tp], committed[tp] or 0)) for tp in tps}
            screens = await screen(s, ranges)
            for sc in screens:
                targets[TopicPartition(s.topics.enrollments, sc.partition)] = sc.resume
        await consumer.commit({tp: OffsetAndMetadata(off, "tunggal replay") for tp, off in targets.items()})
    finally:
        await consumer.stop()
    return Rewound({tp.partition: off for tp, off in targets.items()}, screens)


@dataclass
class Summary:
    read: int  #: records the workers re-read
    new: int
    revised: int
    dead_lettered: int
    skipped: int = 0  #: records the screen proved processed (not re-read)

    def text(self) -> str:
        unchanged = max(0, self.read - self.new - self.revised - self.dead_lettered)
        return (f"replay summary: read {self.read:,}  new verdicts {self.new:,}  revised "
                f"{self.revised:,}  unchanged {unchanged:,}  dead-lettered {self.dead_lettered:,}"
                f"  skipped as already processed {self.skipped:,}")


async def _end_offsets(s: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
        consumer.assign(tps)
        return await consumer.end_offsets(tps)
    finally:
        await consumer.stop()


async def _read_since(s: Settings, topic: str, since: dict[TopicPartition, int | None],
                      until: dict[TopicPartition, int] | None = None) -> list[bytes]:
    """Values of ``topic`` from the offsets ``since`` (None: the partition's beginning) to
    ``until`` (default: the end now)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    out: list[bytes] = []
    try:
        tps = list(since)
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp, off in since.items():
            consumer.seek(tp, starts[tp] if off is None else max(off, starts[tp]))
        ends = until if until is not None else await consumer.end_offsets(tps)
        while await _behind(consumer, tps, ends):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, recs in batch.items():
                out.extend(r.value for r in recs if r.offset < ends[tp])
    finally:
        await consumer.stop()
    return out


async def _follow(progress: Progress, sample: Callable[[], Awaitable[tuple[int, int, str]]], *,
                  what: str, settle: float, timeout: float) -> None:
    """Poll ``sample`` (records done so far, records left, detail) every second until nothing
    is left for ``settle`` seconds; fail after ``timeout``."""
    started = time.monotonic()
    quiet_since = None
    last_done = 0
    while True:
        done_now, left, detail = await sample()
        progress.update(max(0, done_now - last_done), extra=detail)
        last_done = max(last_done, done_now)
        if left == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                break
        else:
            quiet_since = None
        if time.monotonic() - started > timeout:
            progress.close()
            raise TunggalError(f"{what} still has {detail} after {timeout:.0f} s: are the "
                               "workers running? (`tunggal status`)")
        await asyncio.sleep(1.0)
    progress.close()


def _stage_lag(s: Settings, rows: list[tuple[str, int, int, int]]) -> int:
    """Records not yet processed on the engine's internal stage topics (work in flight)."""
    internal = {f"{s.app_id}-{name}" for name in STAGES}
    return sum(max(0, end - done) for t, _p, done, end in rows if t in internal)


async def watch(s: Settings, *, total: int, settle: float, timeout: float,
                verdicts_from: dict, dlq_from: dict, skipped: int = 0) -> Summary:
    """Follow the group's lag on the enrollments topic and the stages after it to zero, then
    summarise."""

    async def sample() -> tuple[int, int, str]:
        rows = await consumer_lag(s)
        lag = sum(max(0, end - done) for t, _p, done, end in rows if t == s.topics.enrollments)
        in_flight = _stage_lag(s, rows)
        return (max(0, total - lag) if total else 0, lag + in_flight,
                f"lag {lag:,}, in flight {in_flight:,}")

    await _follow(Progress("replay", total or None), sample, what="the replay", settle=settle,
                  timeout=timeout)
    new = revised = 0
    for raw in await _read_since(s, s.topics.verdicts, verdicts_from):
        if orjson.loads(raw)["revision"] == 1:
            new += 1
        else:
            revised += 1
    letters = len(await _read_since(s, s.topics.dlq, dlq_from))
    return Summary(total, new, revised, letters, skipped)


def reevaluate_topic(s: Settings) -> str:
    return f"{s.app_id}-reevaluate"


async def request_reevaluation(s: Settings, since: datetime | None, token: str
                               ) -> dict[int, tuple[int, int]]:
    """Publish one re-evaluation request per enrollment id on the input topic (from the start,
    or from ``since``), on the partition the enrollment was ingested from (where the worker
    stores it). Returns, per partition, the reevaluate topic's offsets before and after."""
    from streams.app.admin import ensure_topics

    await ensure_topics(s)  # the reevaluate topic exists before the first request
    topic = reevaluate_topic(s)
    before = await _end_offsets(s, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    producer = make_producer(s.bootstrap)
    await consumer.start()
    await producer.start()
    try:
        tps = await _partitions(consumer, s.topics.enrollments)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        if since is None:
            starts = await consumer.beginning_offsets(tps)
        else:
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in tps})
            starts = {tp: (found[tp].offset if found[tp] is not None else ends[tp]) for tp in tps}
        for tp in tps:
            consumer.seek(tp, starts[tp])
        progress = Progress("reevaluate: requests", sum(ends[tp] - starts[tp] for tp in tps))
        seen: set[str] = set()
        sent: list[asyncio.Future] = []
        while await _behind(consumer, tps, ends):
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, recs in batch.items():
                recs = [r for r in recs if r.offset < ends[tp]]
                for r in recs:
                    key = r.key if r.key else key_of_line(r.value or b"")
                    eid = key.decode("utf-8", "replace") if key else None
                    if eid is None or eid in seen:
                        continue  # unreadable (dead-lettered) or already requested
                    seen.add(eid)
                    sent.append(await producer.send(
                        topic, key=eid.encode(), partition=tp.partition,
                        value=orjson.dumps({"id": eid, "pass": token})))
                progress.update(len(recs), extra=f"{len(seen):,} enrollments")
            if len(sent) > 10_000:
                await asyncio.gather(*sent)
                sent.clear()
        await asyncio.gather(*sent)
        progress.close()
        print(f"requested re-evaluation of {len(seen):,} enrollments (pass {token})")
    finally:
        await producer.stop()
        await consumer.stop()
    after = await _end_offsets(s, topic)
    return {tp.partition: (before.get(tp, 0), off) for tp, off in after.items()}


def transitions(before: dict[str, dict], changed: list[dict]) -> tuple[Counter, int]:
    """How verdicts moved: ``(old verdict, new verdict)`` counts over the enrollments whose
    newest verdict in ``changed`` differs from ``before`` in its verdict (None: had none), and
    the number that kept their verdict but changed person or evidence."""
    latest: dict[str, dict] = {}
    for v in changed:
        latest[v["enrollment_id"]] = v
    moved: Counter = Counter()
    same_verdict = 0
    for eid, v in latest.items():
        old = before.get(eid)
        old_verdict = old["verdict"] if old is not None else None
        if old_verdict == v["verdict"]:
            same_verdict += 1
        else:
            moved[(old_verdict, v["verdict"])] += 1
    return moved, same_verdict


async def watch_reevaluation(s: Settings, *, requested: dict[int, tuple[int, int]],
                             verdicts_from: dict[TopicPartition, int], settle: float,
                             timeout: float) -> None:
    """Follow the group through the requests and every stage after them, then summarise what
    moved since ``verdicts_from`` (the verdict topic's end before the requests)."""
    topic = reevaluate_topic(s)

    async def sample() -> tuple[int, int, str]:
        rows = await consumer_lag(s)
        committed = {p: done for t, p, done, _end in rows if t == topic}
        pending = sum(max(0, end - max(start, committed.get(p, 0)))
                      for p, (start, end) in requested.items())
        in_flight = _stage_lag(s, rows)
        done_now = sum(max(0, min(committed.get(p, 0), end) - start)
                       for p, (start, end) in requested.items())
        return done_now, pending + in_flight, f"requests {pending:,}, in flight {in_flight:,}"

    await _follow(Progress("reevaluate", sum(end - start for start, end in requested.values())),
                  sample, what="the re-evaluation", settle=settle, timeout=timeout)
    before: dict[str, dict] = {}
    begin: dict[TopicPartition, int | None] = {tp: None for tp in verdicts_from}
    for raw in await _read_since(s, s.topics.verdicts, begin, until=verdicts_from):
        v = orjson.loads(raw)
        before[v["enrollment_id"]] = v
    changed = [orjson.loads(raw) for raw in await _read_since(s, s.topics.verdicts, verdicts_from)]
    moved, same_verdict = transitions(before, changed)
    print(f"re-evaluation summary: {len({v['enrollment_id'] for v in changed}):,} verdicts "
          f"revised, {sum(moved.values()):,} changed verdict, {same_verdict:,} kept their verdict "
          "with another person or evidence")
    for (old, new), n in sorted(moved.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        print(f"  {old or '(none)':>14s} -> {new:<14s} {n:,}")


def _since(args: argparse.Namespace) -> datetime | None:
    if args.since is None:
        return None
    try:
        since = datetime.fromisoformat(args.since)
    except ValueError:
        raise ConfigError(f"--since wants an ISO 8601 time with offset, got {args.since!r}") from None
    if since.tzinfo is None:
        raise ConfigError("--since needs a UTC offset, e.g. 2026-05-01T00:00:00+07:00")
    return since


def cmd_replay(args: argparse.Namespace, s: Settings) -> int:
    if args.reevaluate:
        if args.file is not None:
            raise ConfigError("--reevaluate re-decides what the input topic holds: use it with "
                              "--from-beginning (the default) or --since, not --file")

        async def again() -> int:
            token = f"re{int(time.time() * 1000)}"
            verdicts_from = await _end_offsets(s, s.topics.verdicts)
            requested = await request_reevaluation(s, _since(args), token)
            if args.watch:
                await watch_reevaluation(s, requested=requested, verdicts_from=verdicts_from,
                                         settle=args.settle, timeout=args.timeout)
            return 0

        return asyncio.run(again())
    modes = [bool(args.from_beginning), args.since is not None, args.file is not None]
    if sum(modes) != 1:
        raise ConfigError("choose one of --from-beginning, --since TIME, --file FILE")

    async def go() -> int:
        verdicts_from = await _end_offsets(s, s.topics.verdicts)
        dlq_from = await _end_offsets(s, s.topics.dlq)
        total = skipped = 0
        if args.file is not None:
            path = Path(args.file)
            if not path.is_file():
                raise ConfigError(f"no such file: {path}")
            lines = read_jsonl_lines(path)
            total = await produce_lines(s.bootstrap, s.topics.enrollments, lines,
                                        total=len(lines), rate=args.rate)
            print(f"published {total:,} records from {path}")
        else:
            rewound = await rewind(s, _since(args), screened=not args.reread_all)
            starts, skipped = rewound.starts, rewound.skipped
            ends = await _end_offsets(s, s.topics.enrollments)
            total = sum(max(0, ends[TopicPartition(s.topics.enrollments, p)] - off)
                        for p, off in starts.items())
            print(rewound.text())
            print(f"group {s.app_id}: enrollments rewound, {total:,} records to re-read "
                  f"({', '.join(f'p{p}@{o}' for p, o in sorted(starts.items()))}); "
                  "start the workers to process them")
        if args.watch:
            summary = await watch(s, total=total, settle=args.settle, timeout=args.timeout,
                                  verdicts_from=verdicts_from, dlq_from=dlq_from,
                                  skipped=skipped)
            print(summary.text())
        return 0

    return asyncio.run(go())


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "replay", help="re-drive input after an outage (topic from start/time, or a file)",
        description="Replay enrollments. --from-beginning or --since rewinds the worker group on "
                    "the enrollments topic (stop the workers first, start them after) to the first record "
                    "the workers' state does not prove processed; --file "
                    "publishes a station's backlog. Records already processed change nothing. "
                    "--watch follows the lag to zero and prints what changed. --reevaluate (after "
                    "an engine or threshold change; workers keep running) decides every stored "
                    "enrollment again and revises only the verdicts that change.")
    r.add_argument("--from-beginning", action="store_true", help="re-read the whole topic")
    r.add_argument("--since", metavar="TIME", help="re-read from this time (ISO 8601 with offset)")
    r.add_argument("--file", help="publish this JSONL file of captures")
    r.add_argument("--rate", type=float, help="records per second for --file (default: max)")
    r.add_argument("--reread-all", action="store_true",
                   help="topic modes: rewind to the start of the range even where the workers' "
                        "state proves records already processed (they are then re-read and "
                        "skipped one by one, at about 2,000 records/s per worker)")
    r.add_argument("--reevaluate", action="store_true",
                   help="decide stored enrollments again with the running engine (all, or "
                        "--since TIME); only changed verdicts get a new revision")
    r.add_argument("--watch", action="store_true", help="follow progress and print a summary")
    r.add_argument("--settle", type=float, default=5.0, help="seconds at zero lag before done (5)")
    r.add_argument("--timeout", type=float, default=3600.0, help="give up after this long (3600)")
    r.set_defaults(handler=cmd_replay)
