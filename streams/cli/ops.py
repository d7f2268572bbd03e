"""Operator commands: ``tunggal audit`` and ``tunggal status``."""

from __future__ import annotations

import argparse
import asyncio

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from streams.audit import InputRecord, audit
from streams.cli.kafka_io import read_topic
from streams.settings import Settings


def cmd_audit(args: argparse.Namespace, s: Settings) -> int:
    inputs: list[InputRecord] = []
    verdicts: list[bytes] = []
    letters: list[bytes] = []
    t = s.topics
    asyncio.run(read_topic(s.bootstrap, t.enrollments, idle=args.idle,
                           on_record=lambda r: inputs.append(
                               InputRecord(r.partition, r.offset, r.key, r.value))))
    asyncio.run(read_topic(s.bootstrap, t.verdicts, idle=args.idle,
                           on_record=lambda r: verdicts.append(r.value)))
    asyncio.run(read_topic(s.bootstrap, t.dlq, idle=args.idle,
                           on_record=lambda r: letters.append(r.value)))
    report = audit(inputs, verdicts, letters)
    if args.json:
        import orjson
        print(orjson.dumps(report.as_dict()).decode())
    else:
        print(report.text(limit=args.limit))
    return 0 if report.clean else 1


async def consumer_lag(s: Settings) -> list[tuple[str, int, int, int]]:
    """(topic, partition, committed, end) for every partition the app's group consumes."""
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(s.app_id)
    finally:
        await admin.close()
    tps = sorted(committed, key=lambda tp: (tp.topic, tp.partition))
    if not tps:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)  # aiokafka 0.14 cancels noisily on stop without an assignment
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return [(tp.topic, tp.partition, committed[tp].offset, ends[tp]) for tp in tps]


def cmd_status(args: argparse.Namespace, s: Settings) -> int:
    rows = asyncio.run(consumer_lag(s))
    if not rows:
        print(f"consumer group {s.app_id!r} has committed nothing yet on {s.bootstrap}")
        return 0
    total = 0
    print(f"consumer group {s.app_id} on {s.bootstrap}")
    print(f"{'topic':40s} {'part':>4s} {'committed':>10s} {'end':>10s} {'lag':>8s}")
    for topic, part, done, end in rows:
        lag = max(0, end - done)
        total += lag
        print(f"{topic:40s} {part:4d} {done:10d} {end:10d} {lag:8d}")
    print(f"total lag {total:,}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("audit", help="check every input has an outcome and verdicts are sound",
                       description="Read the enrollments, verdicts and dead-letter topics and list "
                                   "every enrollment without a verdict or dead letter, every "
                                   "revision-order anomaly and every verdict naming an unknown "
                                   "enrollment. Exits 1 when any exists.")
    a.add_argument("--idle", type=float, default=3.0, help="seconds idle before a topic is read (3)")
    a.add_argument("--limit", type=int, default=20, help="items listed per finding (20)")
    a.add_argument("--json", action="store_true", help="one JSON line with the counts")
    a.set_defaults(handler=cmd_audit)
    st = sub.add_parser("status", help="progress: committed offsets and lag per partition",
                        description="Show the worker group's committed offset, end offset and lag "
                                    "for every topic partition it consumes (the same view as "
                                    "kafka-consumer-groups --describe).")
    st.set_defaults(handler=cmd_status)


REGISTER = [register]

