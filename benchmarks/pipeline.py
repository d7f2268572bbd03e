"""The whole engine on a real broker: a gallery loaded first, then a backlog of probes, then a
steady real-time stream; beside it, a raw aiokafka consume-and-produce loop over the same bytes
as the ceiling.

    .venv/bin/python benchmarks/pipeline.py [--gallery 5000] [--backlog 2000] [--rate 20]
        [--steady-seconds 60] [--workers 1] [--partitions 4] [--standby 1] [--profile]

Starts a throwaway local broker on free ports unless TUNGGAL_BROKER is set. Figures:
enrollments/s end to end (first probe published to last verdict written, from record
timestamps), capture-to-verdict latency percentiles at the steady rate (verdict record time minus
enrollment record time), candidates per probe (the engine's own blocking stages replayed in
process over the same events), local state bytes per enrolled person, peak RSS per worker, and
the raw loop's records/s. With --profile, py-spy samples the worker during the backlog and the
top functions are printed. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _broker import throwaway_broker  # noqa: E402

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from aiokafka.structs import TopicPartition  # noqa: E402

from streams.app.admin import ensure_topics  # noqa: E402
from streams.blocking.keys import keys_for  # noqa: E402
from streams.cli.demo import check_workers, expected_outcomes, start_workers, stop_workers  # noqa: E402
from streams.cli.kafka_io import produce_lines, read_jsonl_lines  # noqa: E402
from streams.cli.progress import Progress  # noqa: E402
from streams.ingest import Admitted, Source, admit  # noqa: E402
from streams.pipeline import DictPostings, index_probe, select_candidates, tally_hits  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.sim.population import simulate  # noqa: E402


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (robust to a shared machine, unlike wall)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Verdicts:
    """Follows the verdicts topic from the start: first verdict time per enrollment id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.first_ms: dict[str, int] = {}
        self.records = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                          enable_auto_commit=False, auto_offset_reset="earliest",
                                          max_partition_fetch_bytes=8 << 20)
        await self._consumer.start()
        await assign_all(self._consumer, self.topic)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for recs in batch.values():
                for r in recs:
                    self.records += 1
                    self.first_ms.setdefault(r.key.decode(), r.timestamp)

    async def wait_for(self, ids: set[str], procs, workdir: Path, label: str,
                       timeout: float) -> None:
        bar = Progress(label, len(ids))
        deadline = time.monotonic() + timeout
        done = 0
        while True:
            now_done = sum(1 for i in ids if i in self.first_ms) if done < len(ids) else done
            bar.update(now_done - done)
            done = now_done
            if done >= len(ids):
                break
            check_workers(procs, workdir)
            if time.monotonic() > deadline:
                raise SystemExit(f"{label}: only {done}/{len(ids)} verdicts after {timeout} s")
            await asyncio.sleep(0.5)
        bar.close()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()


async def assign_all(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of ``topic`` and seek to its start."""
    parts = None
    while not parts:
        await consumer._client.force_metadata_update()  # noqa: SLF001 (no public API)
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await asyncio.sleep(0.5)
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return tps


async def behind(consumer: AIOKafkaConsumer, tps: list[TopicPartition], ends: dict) -> bool:
    for tp in tps:
        if await consumer.position(tp) < ends[tp]:
            return True
    return False


async def record_times(bootstrap: str, topic: str) -> dict[str, int]:
    """Enrollment id -> append time (ms) of its first record on the input topic."""
    out: dict[str, int] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    try:
        tps = await assign_all(consumer, topic)
        ends = await consumer.end_offsets(tps)
        while await behind(consumer, tps, ends):
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for recs in batch.values():
                for r in recs:
                    if r.key is not None:
                        out.setdefault(r.key.decode(), r.timestamp)
    finally:
        await consumer.stop()
    return out


async def raw_ceiling(bootstrap: str, src: str, dst: str) -> tuple[int, float]:
    """A bare aiokafka loop: consume every record of ``src`` and produce its bytes to ``dst``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=1 << 20, max_request_size=8 << 20)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        parts = len((await admin.describe_topics([src]))[0]["partitions"])
        await admin.create_topics([NewTopic(dst, parts, 1)])
    finally:
        await admin.close()
    await consumer.start()
    await producer.start()
    n = 0
    try:
        tps = await assign_all(consumer, src)
        ends = await consumer.end_offsets(tps)
        t0 = time.monotonic()
        pending = []
        while await behind(consumer, tps, ends):
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, recs in batch.items():
                for r in recs:
                    pending.append(await producer.send(dst, key=r.key, value=r.value,
                                                       partition=tp.partition))
                    n += 1
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        elapsed = time.monotonic() - t0
    finally:
        await producer.stop()
        await consumer.stop()
    return n, elapsed


def candidates_per_probe(lines: list[bytes]) -> dict:
    """The engine's blocking stages, in process and in one partition, over the same events."""
    store = DictPostings()
    seen: set[str] = set()
    digests: dict[str, str] = {}
    counts = []
    src = Source("bench", 0, 0, "")
    for line in lines:
        out = admit(None, line, src, digests.get)
        if not isinstance(out, Admitted) or out.enrollment.enrollment_id in seen:
            continue
        e = out.enrollment
        seen.add(e.enrollment_id)
        digests[e.enrollment_id] = e.digest
        keys = sorted(set(keys_for(e)))
        hits = index_probe(store, e.enrollment_id, 0, keys, already_indexed=False).hits
        counts.append(len(select_candidates(tally_hits(hits))))
    a = np.array(counts or [0])
    return {"mean": round(float(a.mean()), 2), "p99": int(np.percentile(a, 99)),
            "max": int(a.max())}


def py_spy_top(pid: int, seconds: float, out: Path) -> list[str]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return ["py-spy not installed"]
    subprocess.run([spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "50", "-f",
                    "raw", "-o", str(out), "--nonblocking"], capture_output=True, check=False)
    if not out.exists():
        return ["py-spy produced nothing"]
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        total += int(n)
        for f in set(frames):
            own[f] = own.get(f, 0) + int(n)
    top = sorted(own.items(), key=lambda kv: -kv[1])[:40]
    return [f"{100 * n / total:5.1f}%  {f}" for f, n in top]


async def run(args: argparse.Namespace, bootstrap: str, work: Path) -> dict:
    people = args.gallery + args.backlog + int(args.rate * args.steady_seconds) + 50
    t0 = time.monotonic()
    simulate(people, args.seed, work / "pop")
    lines = read_jsonl_lines(work / "pop" / "enrollments.jsonl")
    print(f"generated {len(lines):,} events for {people:,} people in {time.monotonic() - t0:.0f} s")
    # Per person-count share of the lines: gallery first, then the backlog, then the steady tail.
    frac_g = args.gallery / people
    frac_b = args.backlog / people
    n_g, n_b = int(len(lines) * frac_g), int(len(lines) * frac_b)
    gallery, backlog = lines[:n_g], lines[n_g:n_g + n_b]
    steady = lines[n_g + n_b:n_g + n_b + int(args.rate * args.steady_seconds)]

    stamp = int(time.time())
    s = Settings.from_env({"TUNGGAL_BROKER": bootstrap, "TUNGGAL_APP_ID": f"bench{stamp}",
                           "TUNGGAL_PARTITIONS": str(args.partitions),
                           "TUNGGAL_STANDBY_REPLICAS": str(args.standby),
                           "TUNGGAL_TOPIC_ENROLLMENTS": f"bench{stamp}-enrollments",
                           "TUNGGAL_TOPIC_DLQ": f"bench{stamp}-dlq",
                           "TUNGGAL_TOPIC_VERDICTS": f"bench{stamp}-verdicts",
                           "TUNGGAL_TOPIC_ADJUDICATIONS": f"bench{stamp}-adjudications"})
    await ensure_topics(s)
    procs = start_workers(s, args.workers, work)
    follower = Verdicts(bootstrap, s.topics.verdicts)
    await follower.start()
    result: dict = {"workers": args.workers, "partitions": args.partitions,
                    "standby_replicas": args.standby}
    try:
        ids_g, _ = expected_outcomes(gallery)
        await produce_lines(bootstrap, s.topics.enrollments, gallery, total=len(gallery),
                            progress=Progress("publish gallery", len(gallery)))
        g0 = time.monotonic()
        await follower.wait_for(ids_g, procs, work, "gallery verdicts", args.timeout)
        result["gallery"] = len(ids_g)
        result["gallery_load_per_s"] = round(len(ids_g) / (time.monotonic() - g0), 1)

        ids_b, _ = expected_outcomes(gallery + backlog)
        ids_b -= ids_g
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        await produce_lines(bootstrap, s.topics.enrollments, backlog, total=len(backlog),
                            progress=Progress("publish backlog", len(backlog)))
        spy = None
        if args.profile:
            spy = asyncio.get_running_loop().run_in_executor(
                None, py_spy_top, procs[0].pid, args.profile_seconds, work / "profile.txt")
        await follower.wait_for(ids_b, procs, work, "backlog verdicts", args.timeout)
        times = await record_times(bootstrap, s.topics.enrollments)
        first_in = min(times[i] for i in ids_b)
        last_out = max(follower.first_ms[i] for i in ids_b)
        result["backlog"] = len(ids_b)
        result["backlog_worker_cpu_ms_per_enrollment"] = round(
            1000 * (sum(cpu_seconds(p.pid) for p in procs) - cpu0) / len(ids_b), 1)
        result["backlog_per_s"] = round(len(ids_b) / max((last_out - first_in) / 1000, 1e-3), 1)
        if spy is not None:
            result["profile"] = await spy

        ids_s, _ = expected_outcomes(gallery + backlog + steady)
        ids_s -= ids_g | ids_b
        if steady:
            await produce_lines(bootstrap, s.topics.enrollments, steady, total=len(steady),
                                rate=args.rate, progress=Progress("steady stream", len(steady)))
            await follower.wait_for(ids_s, procs, work, "steady verdicts", args.timeout)
            times = await record_times(bootstrap, s.topics.enrollments)
            lat = np.array([follower.first_ms[i] - times[i] for i in ids_s], dtype=float) / 1000
            result.update({"steady_rate": args.rate,
                           "latency_p50_s": round(float(np.percentile(lat, 50)), 3),
                           "latency_p95_s": round(float(np.percentile(lat, 95)), 3),
                           "latency_p99_s": round(float(np.percentile(lat, 99)), 3)})
        persons = len(ids_g | ids_b | ids_s)
        result["peak_rss_mib_per_worker"] = [round(peak_rss_mib(p.pid), 1) for p in procs]
        result["local_state_bytes_per_person"] = round(
            sum(dir_bytes(work / f"worker{i + 1}") for i in range(args.workers)) / persons)
    finally:
        await follower.stop()
        stop_workers(procs)
    n, secs = await raw_ceiling(bootstrap, s.topics.enrollments, f"bench{stamp}-raw")
    result["raw_aiokafka_per_s"] = round(n / secs, 1)
    result["candidates_per_probe"] = candidates_per_probe(gallery + backlog)
    return result


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", type=int, default=5000, help="people loaded before the backlog")
    ap.add_argument("--backlog", type=int, default=2000, help="people in the backlog")
    ap.add_argument("--rate", type=float, default=20.0, help="steady enrollments/s")
    ap.add_argument("--steady-seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--standby", type=int, default=1,
                    help="TUNGGAL_STANDBY_REPLICAS of the workers (matters with --workers 2+)")
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--timeout", type=float, default=7200.0, help="per phase, seconds")
    ap.add_argument("--profile", action="store_true", help="py-spy the first worker")
    ap.add_argument("--profile-seconds", type=float, default=30.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tunggal-pipeline-"))
    with throwaway_broker(work) as bootstrap:
        result = asyncio.run(run(args, bootstrap, work))
    for line in result.pop("profile", []):
        print(line)
    for k, v in result.items():
        print(f"{k}: {v}")
    print("reproduce: .venv/bin/python benchmarks/pipeline.py " + " ".join(sys.argv[1:]))
    print(orjson.dumps(result).decode())
    return result


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
