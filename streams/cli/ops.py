"""Operator commands: ``tunggal audit`` and ``tunggal status``."""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from streams.app.progress import PAGE_PATH, format_duration, format_rate
from streams.audit import InputRecord, audit
from streams.cli.kafka_io import read_topic
from streams.settings import Settings

#: Seconds to wait for a worker's progress page.
WORKER_TIMEOUT = 2.0
#: Partitions listed per recovering worker (the ones with the most records left).
STATUS_TOP = 10


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


def fetch_progress(url: str, timeout: float = WORKER_TIMEOUT) -> dict[str, Any]:
    """The progress page of the worker whose web server is at ``url`` (streams/app/progress.py);
    raises OSError (URLError, timeouts) or ValueError (not JSON)."""
    base = url if "://" in url else f"http://{url}"
    with urllib.request.urlopen(base.rstrip("/") + PAGE_PATH, timeout=timeout) as answer:
        return json.loads(answer.read())


def render_progress(url: str, doc: Mapping[str, Any], top: int = STATUS_TOP) -> list[str]:
    """Lines for one worker's progress page: its state, then, while changelog records are left,
    the total, rate, ETA and the partitions with the most left, then other recovery steps."""
    rec = doc["recovery"]
    parts = rec["partitions"]
    left = sorted((p for p in parts if p["remaining"]),
                  key=lambda p: (-p["remaining"], p["topic"], p["partition"]))
    unknown = sum(p["remaining"] is None for p in parts)
    head = f"{url}  {doc['state']}"
    if rec["remaining"]:
        head += (f": {rec['remaining']:,} changelog records left, {format_rate(rec['rate'])}, "
                 f"ETA {format_duration(rec['eta_s'])}")
    elif not parts:
        head += ", no changelog partitions assigned"
    elif not unknown:
        head += ", changelogs up to date"
    if unknown:
        head += f" ({unknown} changelog partitions not measured yet)"
    lines = [head]
    if left:
        lines.append(f"  {'kind':8s} {'topic':40s} {'part':>4s} {'offset':>10s} "
                     f"{'highwater':>10s} {'remaining':>10s}")
        for p in left[:top]:
            lines.append(f"  {p['kind']:8s} {p['topic']:40s} {p['partition']:4d} "
                         f"{p['offset']:10d} {p['highwater']:10d} {p['remaining']:10,d}")
        if len(left) > top:
            rest = sum(p["remaining"] for p in left[top:])
            lines.append(f"  ... {len(left) - top} more partitions, {rest:,} records")
    for name, step in sorted(doc.get("steps", {}).items()):
        total = step["total"]
        of = f" of {total:,}" if total is not None else ""
        lines.append(f"  {name}: {step['done']:,}{of}")
    return lines


def worker_status(url: str) -> list[str]:
    """Lines on the worker at ``url``; one saying why when it cannot tell."""
    try:
        doc = fetch_progress(url)
    except urllib.error.HTTPError as exc:
        return [f"{url}  answered HTTP {exc.code}: no progress page there"]
    except (OSError, ValueError) as exc:  # down, still starting, or no web server there
        return [f"{url}  not reachable ({getattr(exc, 'reason', exc)})"]
    return render_progress(url, doc)


def cmd_status(args: argparse.Namespace, s: Settings) -> int:
    rows = asyncio.run(consumer_lag(s))
    if rows:
        total = 0
        print(f"consumer group {s.app_id} on {s.bootstrap}")
        print(f"{'topic':40s} {'part':>4s} {'committed':>10s} {'end':>10s} {'lag':>8s}")
        for topic, part, done, end in rows:
            lag = max(0, end - done)
            total += lag
            print(f"{topic:40s} {part:4d} {done:10d} {end:10d} {lag:8d}")
        print(f"total lag {total:,}")
    else:
        print(f"consumer group {s.app_id!r} has committed nothing yet on {s.bootstrap}")
    print("workers")
    for url in args.worker or [f"http://{s.web_host}:{s.web_port}"]:
        print("\n".join(worker_status(url)))
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
    st = sub.add_parser("status", help="progress: lag per partition, each worker's recovery",
                        description="Show the worker group's committed offset, end offset and lag "
                                    "for every topic partition it consumes (the same view as "
                                    "kafka-consumer-groups --describe), then ask each worker's "
                                    "web server for its state (starting, recovering, "
                                    "rebalancing, running) and, while it recovers its tables "
                                    "from their changelogs, the records left per partition, "
                                    "the rate and the ETA. A worker that does not answer within "
                                    f"{WORKER_TIMEOUT:g} s is reported as not reachable.")
    st.add_argument("--worker", action="append", metavar="URL",
                    help="a worker's web server, e.g. http://127.0.0.1:6067; repeat for each "
                         "worker (default: http://$TUNGGAL_WEB_HOST:$TUNGGAL_WEB_PORT, "
                         "http://127.0.0.1:6066 when unset)")
    st.set_defaults(handler=cmd_status)


REGISTER = [register]

