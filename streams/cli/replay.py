"""``tunggal replay``: re-drive input after an outage.

Topic modes move the worker group's committed offsets on the enrollments topic back (to the
beginning, or to the first record at or after a time); the workers then re-read from there. The
engine skips records it already processed fully, so a replay of processed input emits no new
revision. File mode publishes a station's backlog file. ``--watch`` follows the group's lag to
zero with rate and ETA and ends with a summary of what the replay changed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from streams.cli.kafka_io import produce_lines, read_jsonl_lines
from streams.cli.ops import consumer_lag
from streams.cli.progress import Progress
from streams.errors import ConfigError, TunggalError
from streams.settings import Settings


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 (no public refresh in aiokafka)
    parts = consumer.partitions_for_topic(topic) or set()
    if not parts:
        raise TunggalError(f"topic {topic!r} does not exist")
    return [TopicPartition(topic, p) for p in sorted(parts)]


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


async def rewind(s: Settings, since: datetime | None) -> dict[int, int]:
    """Commit, for the worker group, the enrollments offsets to re-read from."""
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
        await consumer.commit({tp: OffsetAndMetadata(off, "tunggal replay") for tp, off in targets.items()})
    finally:
        await consumer.stop()
    return {tp.partition: off for tp, off in targets.items()}


@dataclass
class Summary:
    read: int
    new: int
    revised: int
    dead_lettered: int

    def text(self) -> str:
        unchanged = max(0, self.read - self.new - self.revised - self.dead_lettered)
        return (f"replay summary: read {self.read:,}  new verdicts {self.new:,}  revised "
                f"{self.revised:,}  unchanged {unchanged:,}  dead-lettered {self.dead_lettered:,}")


async def _end_offsets(s: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
        consumer.assign(tps)
        return await consumer.end_offsets(tps)
    finally:
        await consumer.stop()


async def _read_since(s: Settings, topic: str, since: dict[TopicPartition, int]) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    out: list[bytes] = []
    try:
        tps = list(since)
        consumer.assign(tps)
        for tp, off in since.items():
            consumer.seek(tp, off)
        ends = await consumer.end_offsets(tps)
        while any(await consumer.position(tp) < ends[tp] for tp in tps):
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                out.extend(r.value for r in recs)
    finally:
        await consumer.stop()
    return out


async def watch(s: Settings, *, total: int, settle: float, timeout: float,
                verdicts_from: dict, dlq_from: dict) -> Summary:
    """Follow the group's lag on the enrollments topic to zero, then summarise."""
    progress = Progress("replay", total or None)
    started = time.monotonic()
    quiet_since = None
    last_done = 0
    while True:
        rows = [r for r in await consumer_lag(s) if r[0] == s.topics.enrollments]
        lag = sum(max(0, end - done) for _t, _p, done, end in rows)
        done_now = max(0, total - lag) if total else 0
        progress.update(done_now - last_done, extra=f"lag {lag:,}")
        last_done = done_now
        if lag == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                break
        else:
            quiet_since = None
        if time.monotonic() - started > timeout:
            progress.close()
            raise TunggalError(f"replay still has lag {lag:,} after {timeout:.0f} s: are the "
                               "workers running? (`tunggal status`)")
        await asyncio.sleep(1.0)
    progress.close()
    new = revised = 0
    for raw in await _read_since(s, s.topics.verdicts, verdicts_from):
        if orjson.loads(raw)["revision"] == 1:
            new += 1
        else:
            revised += 1
    letters = len(await _read_since(s, s.topics.dlq, dlq_from))
    return Summary(total, new, revised, letters)


def cmd_replay(args: argparse.Namespace, s: Settings) -> int:
    modes = [bool(args.from_beginning), args.since is not None, args.file is not None]
    if sum(modes) != 1:
        raise ConfigError("choose one of --from-beginning, --since TIME, --file FILE")

    async def go() -> int:
        verdicts_from = await _end_offsets(s, s.topics.verdicts)
        dlq_from = await _end_offsets(s, s.topics.dlq)
        total = 0
        if args.file is not None:
            path = Path(args.file)
            if not path.is_file():
                raise ConfigError(f"no such file: {path}")
            lines = read_jsonl_lines(path)
            total = await produce_lines(s.bootstrap, s.topics.enrollments, lines,
                                        total=len(lines), rate=args.rate)
            print(f"published {total:,} records from {path}")
        else:
            since = None
            if args.since is not None:
                try:
                    since = datetime.fromisoformat(args.since)
                except ValueError:
                    raise ConfigError(f"--since wants an ISO 8601 time with offset, got {args.since!r}") from None
                if since.tzinfo is None:
                    raise ConfigError("--since needs a UTC offset, e.g. 2026-05-01T00:00:00+07:00")
            starts = await rewind(s, since)
            ends = await _end_offsets(s, s.topics.enrollments)
            total = sum(max(0, ends[TopicPartition(s.topics.enrollments, p)] - off)
                        for p, off in starts.items())
            print(f"group {s.app_id}: enrollments rewound, {total:,} records to re-read "
                  f"({', '.join(f'p{p}@{o}' for p, o in sorted(starts.items()))}); "
                  "start the workers to process them")
        if args.watch:
            summary = await watch(s, total=total, settle=args.settle, timeout=args.timeout,
                                  verdicts_from=verdicts_from, dlq_from=dlq_from)
            print(summary.text())
        return 0

    return asyncio.run(go())


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "replay", help="re-drive input after an outage (topic from start/time, or a file)",
        description="Replay enrollments. --from-beginning or --since rewinds the worker group on "
                    "the enrollments topic (stop the workers first, start them after); --file "
                    "publishes a station's backlog. Records already processed change nothing. "
                    "--watch follows the lag to zero and prints what changed.")
    r.add_argument("--from-beginning", action="store_true", help="re-read the whole topic")
    r.add_argument("--since", metavar="TIME", help="re-read from this time (ISO 8601 with offset)")
    r.add_argument("--file", help="publish this JSONL file of captures")
    r.add_argument("--rate", type=float, help="records per second for --file (default: max)")
    r.add_argument("--watch", action="store_true", help="follow progress and print a summary")
    r.add_argument("--settle", type=float, default=5.0, help="seconds at zero lag before done (5)")
    r.add_argument("--timeout", type=float, default=3600.0, help="give up after this long (3600)")
    r.set_defaults(handler=cmd_replay)
