"""Recovery figures on a real broker: replay of processed input, cold and warm restarts, takeover.

    .venv/bin/python benchmarks/recovery.py [--gallery 2000] [--probes 8] [--partitions 4]
        [--resend-rounds 3] [--profile] [--profile-seconds 30]

Starts a throwaway local broker on free ports unless TUNGGAL_BROKER is set. One worker loads a
gallery of ``--gallery`` people, then:

* replay: every gallery event is published again ``--resend-rounds`` times (stations
  re-sending); figure: re-sent events
  per second, first publish to the moment the group has committed the whole input topic (the
  ingest agent's fast path skips a capture already fully processed);
* topic replay: the worker stopped, ``tunggal replay --from-beginning``'s rewind (gallery and
  re-sent copies); figure: records of the replayed range per second of the rewind, which screens
  them against the workers' state (streams/screen.py) and leaves the group at the first record
  not proven processed, and how many records that skips (all of them, for processed input);
* warm restart: SIGTERM, start again on the same data dir (local RocksDB reused); figure: seconds
  from process start to the verdict of a new enrollment published at that moment;
* cold restart: SIGKILL, start again: the worker discards its local state and recovers every
  table from its changelog, and rebuilds the posting lists; same figure (it includes the wait
  for the group to drop the dead member), and, from the worker's log, the recovery itself
  (partitions assigned -> worker ready, plus posting-list rebuilds) scaled linearly to 100,000
  people (table state is linear in the gallery); the warm restart's recovery for comparison;
* takeover: a second worker joins, the group settles, the second worker is SIGKILLed and new
  enrollments for every partition are published; figure: seconds from the kill to the last of
  their verdicts (bounded below by the group's session timeout, faust's default 60 s); a
  survivor that exits (the stall watchdog) is restarted and its exit status reported.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _broker import throwaway_broker  # noqa: E402
from pipeline import Verdicts, py_spy_top  # noqa: E402

from streams.app.admin import ensure_topics  # noqa: E402
from streams.cli.demo import check_workers, expected_outcomes, start_workers, stop_workers  # noqa: E402
from streams.cli.kafka_io import produce_lines, read_jsonl_lines  # noqa: E402
from streams.cli.ops import consumer_lag  # noqa: E402
from streams.cli.progress import Progress  # noqa: E402
from streams.cli.replay import rewind  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.sim.population import simulate  # noqa: E402


async def input_caught_up(s: Settings, procs, work: Path, timeout: float) -> float:
    """Wait until the group has committed every record of the input topic; the monotonic time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in await consumer_lag(s) if r[0] == s.topics.enrollments]
        if rows and all(done >= end for _t, _p, done, end in rows):
            return time.monotonic()
        check_workers(procs, work)
        await asyncio.sleep(0.25)
    raise SystemExit(f"the input topic was not caught up after {timeout} s")


async def time_to_verdicts(s: Settings, follower: Verdicts, lines: list[bytes], procs,
                           work: Path, label: str, timeout: float) -> float:
    """Publish ``lines`` now; seconds until each has a verdict (measured from the call)."""
    t0 = time.monotonic()
    ids, _ = expected_outcomes(lines)
    await produce_lines(s.bootstrap, s.topics.enrollments, lines, total=len(lines),
                        progress=Progress(f"publish {label}", len(lines)))
    await follower.wait_for(ids, procs, work, label, timeout)
    return time.monotonic() - t0


def _stamp(line: str) -> float:
    return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def recovery_seconds(log: Path, pid: int) -> float:
    """From this process's log lines: the restore before joining the group, partitions assigned
    -> worker ready (faust's table recovery of what is left), plus the posting-list reconciliations
    (rebuilds, for a new store) that follow on first use of an index partition."""
    lines = log.read_text(errors="replace").splitlines()
    first = next(i for i, x in enumerate(lines) if f"] [{pid}] " in x)
    mine = [x for x in lines if f"] [{pid}] " in x]
    # the restore logs before faust configures logging (no pid on its lines): it stands between
    # the previous process's last faust line and this one's first
    prev = max((i for i, x in enumerate(lines[:first]) if re.match(r"\[[^]]+\] \[\d+\] ", x)),
               default=-1)
    mine += [x for x in lines[prev + 1:first] if "tables restored from changelogs before" in x]
    assigned = next(_stamp(x) for x in mine if "Setting newly assigned partitions" in x)
    ready = next(_stamp(x) for x in mine if "Worker ready" in x)
    rebuilds = [float(m.group(1)) for x in mine
                if (m := re.search(r"posting lists (?:rebuilt from|reconciled with) \d+ .*in "
                                   r"([\d.]+) s", x))]
    # tables restored before the worker joined its group (streams/app/restore.py)
    restored = [float(m.group(1)) for x in mine
                if (m := re.search(r"tables restored from changelogs before joining: .* in "
                                   r"([\d.]+) s", x))]
    return ready - assigned + sum(rebuilds) + sum(restored)


async def changelog_records(s: Settings) -> dict[str, int]:
    """Records written so far to each table changelog of the app (end offsets; what a cold
    recovery reads, before compaction removes overwritten and deleted rows)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 (no public refresh)
        names = [t for t in await consumer.topics()
                 if t.startswith(f"{s.app_id}-") and t.endswith("-changelog")]
        names.append(s.topics.verdicts)  # the verdict table's changelog
        out = {}
        for name in sorted(names):
            tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
            ends = await consumer.end_offsets(tps)
            out[name.removeprefix(f"{s.app_id}-").removesuffix("-changelog")] = sum(ends.values())
        return out
    finally:
        await consumer.stop()


async def supervise(s: Settings, procs: list, work: Path, exits: list[int]) -> None:
    """Restart worker 1 whenever it exits, recording its exit status."""
    while True:
        await asyncio.sleep(1)
        if procs[0].poll() is not None:
            exits.append(procs[0].returncode)
            procs[:] = start_workers(s, 1, work)


def kill(proc, sig=signal.SIGKILL) -> None:
    proc.send_signal(sig)
    proc.wait(timeout=120)


async def run(args: argparse.Namespace, bootstrap: str, work: Path) -> dict:
    spare = 20 + 4 * args.probes
    t0 = time.monotonic()
    simulate(args.gallery + spare, args.seed, work / "pop")
    lines = read_jsonl_lines(work / "pop" / "enrollments.jsonl")
    print(f"generated {len(lines):,} events in {time.monotonic() - t0:.0f} s")
    n_g = int(len(lines) * args.gallery / (args.gallery + spare))
    gallery = lines[:n_g]
    ids_g, _ = expected_outcomes(gallery)
    # later enrollments with new ids, valid, one batch per experiment
    probes = [x for x in lines[n_g:] if x.startswith(b"{")]
    probes = [x for x in probes if expected_outcomes([x])[0] - ids_g][:3 * args.probes + 2]
    warm_probe, cold_probe = probes[:1], probes[1:2]
    takeover_probes = probes[2:2 + args.probes]

    run_id = f"rec{int(time.time())}"
    topics = {f"TUNGGAL_TOPIC_{t.upper()}": f"{run_id}-{t}"
              for t in ("enrollments", "dlq", "verdicts", "adjudications")}
    s = Settings.from_env({"TUNGGAL_BROKER": bootstrap, "TUNGGAL_APP_ID": run_id,
                           "TUNGGAL_PARTITIONS": str(args.partitions), **topics})
    await ensure_topics(s)
    result: dict = {"gallery_people": args.gallery, "gallery_enrollments": len(ids_g),
                    "partitions": args.partitions}
    follower = Verdicts(bootstrap, s.topics.verdicts)
    await follower.start()
    procs = start_workers(s, 1, work)
    second: list = []
    try:
        await produce_lines(bootstrap, s.topics.enrollments, gallery, total=len(gallery),
                            progress=Progress("publish gallery", len(gallery)))
        g0 = time.monotonic()
        await follower.wait_for(ids_g, procs, work, "gallery verdicts", args.timeout)
        result["gallery_load_s"] = round(time.monotonic() - g0, 1)
        await input_caught_up(s, procs, work, args.timeout)

        # replay of processed input
        records_before = follower.records
        r0 = time.monotonic()
        resent = gallery * args.resend_rounds
        await produce_lines(bootstrap, s.topics.enrollments, resent, total=len(resent),
                            progress=Progress("re-send gallery", len(resent)))
        r1 = await input_caught_up(s, procs, work, args.timeout)
        result["replay_events"] = len(resent)
        result["replay_per_s"] = round(len(resent) / (r1 - r0), 1)
        await asyncio.sleep(3)
        result["replay_new_verdicts"] = follower.records - records_before

        # topic replay (tunggal replay --from-beginning) with the workers stopped: the screen
        # proves the processed records from the workers' state, the group re-reads the rest
        stop_workers(procs)
        t0 = time.monotonic()
        rewound = await rewind(s, None)
        result["topic_replay_s"] = round(time.monotonic() - t0, 2)
        scanned = sum(sc.scanned for sc in rewound.screens)
        result["topic_replay_records"] = scanned
        result["topic_replay_skipped"] = rewound.skipped
        result["topic_replay_per_s"] = round(scanned / result["topic_replay_s"], 1)
        print(rewound.text())

        # warm restart: clean stop, same data dir (any record the screen left is re-read here)
        procs = start_workers(s, 1, work)
        result["warm_restart_s"] = round(await time_to_verdicts(
            s, follower, warm_probe, procs, work, "after warm restart", args.timeout), 1)
        result["warm_recovery_s"] = round(recovery_seconds(work / "worker1.log", procs[0].pid), 2)

        # cold restart: killed, so the local state is discarded and recovered from changelogs
        kill(procs[0])
        procs = start_workers(s, 1, work)
        spy = None
        if args.profile:  # the restarted worker, from its start: recovery and posting rebuild
            spy = asyncio.get_running_loop().run_in_executor(
                None, py_spy_top, procs[0].pid, args.profile_seconds, work / "cold.txt")
        result["cold_restart_s"] = round(await time_to_verdicts(
            s, follower, cold_probe, procs, work, "after cold restart", args.timeout), 1)
        if spy is not None:
            result["profile"] = await spy
        log = (work / "worker1.log").read_text(errors="replace")
        assert "did not shut down cleanly" in log, "the cold restart reused local state"
        cold = recovery_seconds(work / "worker1.log", procs[0].pid)
        result["cold_recovery_s"] = round(cold, 2)
        result["cold_recovery_s_per_100k_people"] = round(cold * 100_000 / args.gallery)
        written = await changelog_records(s)
        result["changelog_records_per_enrollment"] = {
            k: round(v / len(ids_g), 2) for k, v in written.items()}
        result["changelog_records_per_enrollment_total"] = round(
            sum(written.values()) / len(ids_g), 1)

        # takeover: a second worker joins, settles, dies
        (work / "second").mkdir()
        second = start_workers(s, 1, work / "second")
        await asyncio.sleep(args.settle)
        check_workers(second, work / "second")
        kill(second[0])
        # A survivor that stalls exits 70 (stall watchdog); restart it as a supervisor would.
        restarts: list[int] = []
        guard = asyncio.create_task(supervise(s, procs, work, restarts))
        try:
            result["takeover_s"] = round(await time_to_verdicts(
                s, follower, takeover_probes, [], work, "after takeover", args.timeout), 1)
        finally:
            guard.cancel()
        result["takeover_survivor_exits"] = restarts
    finally:
        await follower.stop()
        stop_workers(procs + second)
        print("figures so far:", result, flush=True)
    return result


FIGURES = {
    "topic_replay_per_s": "topic replay of processed input (screened), records/s",
    "topic_replay_skipped": "  records the screen proved processed (not re-read)",
    "topic_replay_records": "  records in the replayed range",
    "replay_per_s": "processed input re-sent by stations (engine's per-record skip), events/s",
    "replay_new_verdicts": "verdict records the replay wrote (0 expected)",
    "warm_restart_s": "warm restart: process start to the next verdict, s",
    "warm_recovery_s": "warm restart: table recovery and posting rebuild, s",
    "cold_restart_s": "cold restart after SIGKILL: process start to the next verdict, s",
    "cold_recovery_s": "cold restart: table recovery and posting rebuild, s",
    "cold_recovery_s_per_100k_people": "cold recovery scaled to 100,000 people, s",
    "changelog_records_per_enrollment_total": "changelog records written per enrollment",
    "changelog_records_per_enrollment": "  of which per table",
    "takeover_s": "one of two workers killed: kill to the verdicts of new enrollments, s",
    "takeover_survivor_exits": "exit statuses of the survivor during the takeover (70: stalled)",
}


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", type=int, default=2000, help="people loaded first (2000)")
    ap.add_argument("--probes", type=int, default=8, help="new enrollments for the takeover (8)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--resend-rounds", type=int, default=3,
                    help="times the gallery is re-sent for the replay figures (3)")
    ap.add_argument("--settle", type=float, default=45.0,
                    help="seconds the two-worker group runs before the kill (45)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per phase, seconds")
    ap.add_argument("--profile", action="store_true",
                    help="py-spy the worker's cold restart and print where its time went")
    ap.add_argument("--profile-seconds", type=float, default=30.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tunggal-recovery-"))
    with throwaway_broker(work) as bootstrap:
        figures = asyncio.run(run(args, bootstrap, work))
    for line in figures.pop("profile", []):
        print(line)
    print(f"gallery: {figures['gallery_people']:,} people, {figures['gallery_enrollments']:,} "
          f"enrollments, {figures['partitions']} partitions, loaded in {figures['gallery_load_s']} s")
    for key, label in FIGURES.items():
        print(f"  {label:72s} {figures.get(key)}")
    print(f"(python benchmarks/recovery.py {' '.join(sys.argv[1:])}; files in {work})")
    print(orjson.dumps(figures).decode())
    return figures


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
