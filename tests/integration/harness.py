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
from aiokafka.errors import KafkaError
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
        """The end of every worker's log, without faust's repeated stream-timeout explanations
        (a stalled worker's log is all of them after a few minutes)."""
        out = []
        for log in sorted(self.workdir.glob("*.log")):
            out.append(f"==== {log.name}\n" + _quiet(log.read_text(errors="replace"))[-8000:])
        return "\n".join(out)


#: faust's per-partition stream-timeout error: a log line followed by a dozen lines of advice.
_NOISE = ("Stream has not started processing", "Stream stopped processing")


def _quiet(text: str) -> str:
    """``text`` with faust's stream-timeout errors counted instead of repeated."""
    kept, skipping, dropped = [], False, 0
    for line in text.splitlines():
        if line.startswith("["):
            skipping = any(n in line for n in _NOISE)
            dropped += skipping
        if not skipping:
            kept.append(line)
    if dropped:
        kept.append(f"({dropped} faust stream-timeout errors left out)")
    return "\n".join(kept)


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


def clean_run(bootstrap: str, workdir: Path, lines: list[bytes],
              extra_env: dict[str, str] | None = None, timeout: float = 600.0) -> list:
    """The verdict records of ``lines`` processed from scratch by one worker in a namespace of
    its own (``workdir``): the reference an interrupted or re-evaluated run must equal."""
    ref = Namespace(bootstrap=bootstrap, workdir=workdir)
    ref.workdir.mkdir()
    try:
        ref.start_worker(extra_env=extra_env)
        records, _ = feed_and_collect(ref, lines, timeout=timeout)
    finally:
        ref.stop_workers()
    return records


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
        try:
            state = asyncio.run(_group_state(ns.bootstrap, ns.settings.app_id))
        except KafkaError as exc:  # a fresh broker has no group coordinator for a moment
            state = (type(exc).__name__, 0)
        if state == ("Stable", members):
            time.sleep(2.0)
            if asyncio.run(_group_state(ns.bootstrap, ns.settings.app_id)) == ("Stable", members):
                return
        time.sleep(1.0)
    raise AssertionError(f"group {ns.settings.app_id} not stable with {members} members: {state}\n"
                         + ns.worker_logs())


# ---- recovery (issue 6): crashes, restarts, rebalances -------------------------------------


def kill_worker(proc: subprocess.Popen, sig: signal.Signals = signal.SIGKILL) -> int:
    """Send ``sig`` to one worker process (SIGKILL by default: no flush, no commit) and reap it."""
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout=60)


def outcomes(records: list) -> dict[str, tuple]:
    """The current verdict of every enrollment as (verdict, person_id, sorted matched ids)."""
    return {eid: (v["verdict"], v["person_id"],
                  tuple(sorted(m["enrollment_id"] for m in v["matches"])))
            for eid, v in current_verdicts(records).items()}


def outcome_diff(reference: dict[str, tuple], got: dict[str, tuple], show: int = 5) -> list:
    """The enrollments whose current verdict differs, with both sides (first ``show``)."""
    keys = sorted(k for k in reference.keys() | got.keys() if reference.get(k) != got.get(k))
    return [(k, reference.get(k), got.get(k)) for k in keys[:show]] + (
        [f"... {len(keys)} in all"] if len(keys) > show else [])


def revision_violations(records: list) -> list[str]:
    """Every verdict record that repeats or lowers its key's revision, in topic order (a key
    always lands on one partition, so per-partition order is the key's order)."""
    last: dict[str, int] = {}
    bad = []
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        v = orjson.loads(r.value)
        eid, rev = v["enrollment_id"], v["revision"]
        if eid in last and rev <= last[eid]:
            bad.append(f"{eid}: revision {rev} after {last[eid]} at {r.partition}:{r.offset}")
        last[eid] = rev
    return bad


async def _read_to_end(bootstrap: str, topic: str) -> list:
    """Every record of ``topic`` up to its end offsets at the time of the call."""
    records: list = []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if tps:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for recs in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    records.extend(recs)
    finally:
        await consumer.stop()
    return records


def verdict_ids(ns: Namespace) -> set[str]:
    """Ids with at least one verdict so far (the topic read from the start to its end now)."""
    return {r.key.decode() for r in asyncio.run(_read_to_end(ns.bootstrap,
                                                             ns.settings.topics.verdicts))}


def _wait_for_count(ns: Namespace, measure: Callable[[], int], count: int, what: str,
                    timeout: float, alive: list[subprocess.Popen], poll: float) -> int:
    """Poll ``measure()`` every ``poll`` s until it reaches ``count``; fail early if a worker in
    ``alive`` exits. Returns the count seen."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        seen = measure()
        if seen >= count:
            return seen
        dead = [p for p in alive if p.poll() is not None]
        if dead:
            raise AssertionError(f"worker pid {dead[0].pid} exited with {dead[0].returncode} "
                                 f"at {seen} {what}\n" + ns.worker_logs())
        time.sleep(poll)
    raise AssertionError(f"{seen}/{count} {what} after {timeout:.0f} s\n" + ns.worker_logs())


def wait_for_verdicts(ns: Namespace, count: int, timeout: float, *,
                      alive: list[subprocess.Popen] = (), poll: float = 2.0) -> int:
    """Block until at least ``count`` enrollments have a verdict (reading the whole topic)."""
    return _wait_for_count(ns, lambda: len(verdict_ids(ns)), count, "verdicts", timeout, alive,
                           poll)


async def _end_total(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return sum((await consumer.end_offsets(tps)).values()) if tps else 0
    finally:
        await consumer.stop()


def verdict_records(ns: Namespace) -> int:
    """Records on the verdicts topic so far (its end offsets: cheap enough to poll often)."""
    return asyncio.run(_end_total(ns.bootstrap, ns.settings.topics.verdicts))


def wait_for_verdict_records(ns: Namespace, count: int, timeout: float, *,
                             alive: list[subprocess.Popen] = (), poll: float = 0.2) -> int:
    """Block until the verdicts topic holds at least ``count`` records, polling its end offsets
    (to act on the first verdicts of a burst)."""
    return _wait_for_count(ns, lambda: verdict_records(ns), count, "verdict records", timeout,
                           alive, poll)


def wait_for_no_lag(ns: Namespace, timeout: float = 300.0, settle: float = 5.0) -> None:
    """Block until the group has committed every record of every topic it consumes and stays
    so for ``settle`` seconds (nothing in flight between stages)."""
    from streams.cli.ops import consumer_lag

    deadline = time.monotonic() + timeout
    quiet_since = None
    rows: list = []
    while time.monotonic() < deadline:
        rows = asyncio.run(consumer_lag(ns.settings))
        if rows and all(done >= end for _t, _p, done, end in rows):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                return
        else:
            quiet_since = None
        time.sleep(1.0)
    lagging = [r for r in rows if r[2] < r[3]]
    raise AssertionError(f"lag did not reach zero in {timeout:.0f} s: {lagging}\n"
                         + ns.worker_logs())


def tunggal(ns: Namespace, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the ``tunggal`` command on this namespace's topics, as an operator would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNGGAL_")}
    env.update(ns.env)
    return subprocess.run([sys.executable, "-m", "streams", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def run_audit(ns: Namespace, idle: float = 2.0) -> tuple[int, str]:
    """``tunggal audit`` on this namespace's topics: (exit code, its report)."""
    done = tunggal(ns, "audit", "--idle", str(idle))
    return done.returncode, done.stdout + done.stderr


def all_verdicts(ns: Namespace, want_ids: set[str], timeout: float = 120.0) -> list:
    """Every verdict record, once every id in ``want_ids`` has one (plus a settle)."""
    return read_topic(ns.bootstrap, ns.settings.topics.verdicts, timeout=timeout, settle=3.0,
                      done=lambda r: want_ids <= {x.key.decode() for x in r})
