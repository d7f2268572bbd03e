"""Helpers for tests against the real broker: isolated namespaces, worker processes, topic I/O."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Namespace:
    """One test's own app id and topics on the shared broker."""

    bootstrap: str
    workdir: Path
    partitions: int = 4
    prefix: str = field(default_factory=lambda: "t" + uuid.uuid4().hex[:8])
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        p = self.prefix
        return {"TUNGGAL_BROKER": self.bootstrap, "TUNGGAL_APP_ID": f"{p}-tunggal",
                "TUNGGAL_PARTITIONS": str(self.partitions),
                "TUNGGAL_TOPIC_ENROLLMENTS": f"{p}-enrollments",
                "TUNGGAL_TOPIC_DLQ": f"{p}-enrollments-dlq",
                "TUNGGAL_TOPIC_VERDICTS": f"{p}-verdicts",
                "TUNGGAL_TOPIC_ADJUDICATIONS": f"{p}-adjudications"}

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def start_worker(self, name: str = "w1", extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        data_dir = self.workdir / name
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUNGGAL_")}
        env.update(self.env)
        env.update({"TUNGGAL_DATA_DIR": str(data_dir), "TUNGGAL_WEB_PORT": str(free_port())})
        env.update(extra_env or {})
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "streams", "worker"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = self.workdir / f"{name}.log"  # type: ignore[attr-defined]
        self.workers.append(proc)
        return proc

    def stop_workers(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(sig)
        for proc in self.workers:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()

    def worker_logs(self) -> str:
        out = []
        for log in sorted(self.workdir.glob("*.log")):
            out.append(f"==== {log.name}\n" + log.read_text(errors="replace")[-6000:])
        return "\n".join(out)


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]],
                   settings: Settings | None) -> None:
    if settings is not None:
        from streams.app.admin import ensure_topics
        await ensure_topics(settings)  # or the broker auto-creates the topic with 1 partition
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_request_size=8 << 20)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]],
            settings: Settings | None = None) -> None:
    asyncio.run(_produce(bootstrap, topic, records, settings))


async def _read(bootstrap: str, topic: str, done: Callable[[list], bool], timeout: float,
                settle: float) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        tps: list[TopicPartition] = []
        while not tps and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not tps:
                await asyncio.sleep(0.5)
        if not tps:
            return records
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        satisfied_at = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for _tp, recs in batch.items():
                records.extend(recs)
            if done(records):
                satisfied_at = satisfied_at or time.monotonic()
                if time.monotonic() - satisfied_at >= settle:
                    break
            else:
                satisfied_at = None
    finally:
        await consumer.stop()
    return records


def read_topic(bootstrap: str, topic: str, *, done: Callable[[list], bool] = lambda r: False,
               timeout: float = 60.0, settle: float = 2.0) -> list:
    """Every record of ``topic`` from the start, until ``done(records)`` has held for ``settle``
    seconds (to catch anything extra) or ``timeout`` passes."""
    return asyncio.run(_read(bootstrap, topic, done, timeout, settle))


def values(records: list) -> list[dict]:
    return [orjson.loads(r.value) for r in records]


def current_verdicts(records: list) -> dict[str, dict]:
    """The newest verdict per key, as a compacted topic's reader sees it."""
    out: dict[str, dict] = {}
    for r in records:
        v = orjson.loads(r.value)
        out[v["enrollment_id"]] = v
    return out


def feed_and_collect(ns: Namespace, lines: list[bytes], *, timeout: float = 600.0,
                     settle: float = 3.0) -> tuple[list, list]:
    """Publish ``lines`` (keyed by id) and read verdicts and dead letters until every input has
    its outcome by the engine's own ingestion rules. Returns (verdict records, dlq records)."""
    from streams.cli.demo import expected_outcomes
    from streams.cli.kafka_io import key_of_line

    s = ns.settings
    want_ids, want_letters = expected_outcomes(lines)
    produce(s.bootstrap, s.topics.enrollments, [(key_of_line(x), x) for x in lines], s)
    letters = read_topic(s.bootstrap, s.topics.dlq, timeout=timeout, settle=0.5,
                         done=lambda r: len(r) >= want_letters) if want_letters else []
    verdicts = read_topic(
        s.bootstrap, s.topics.verdicts, timeout=timeout, settle=settle,
        done=lambda r: want_ids <= {x.key.decode() for x in r})
    return verdicts, letters


def write_lines(path: Path, records: list) -> Path:
    path.write_bytes(b"".join(r.value + b"\n" for r in records))
    return path


async def _group_state(bootstrap: str, group: str) -> tuple[str, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    for resp in described:
        for g in resp.groups:
            return str(g[2]), len(g[5])
    return "Dead", 0


def wait_for_group(ns: Namespace, members: int, timeout: float = 120.0) -> None:
    """Block until the worker group is Stable with ``members`` members (all workers assigned)."""
    deadline = time.monotonic() + timeout
    state = ("?", 0)
    while time.monotonic() < deadline:
        state = asyncio.run(_group_state(ns.bootstrap, ns.settings.app_id))
        if state == ("Stable", members):
            time.sleep(2.0)
            if asyncio.run(_group_state(ns.bootstrap, ns.settings.app_id)) == ("Stable", members):
                return
        time.sleep(1.0)
    raise AssertionError(f"group {ns.settings.app_id} not stable with {members} members: {state}\n"
                         + ns.worker_logs())
