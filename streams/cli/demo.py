"""``tunggal demo``: the whole engine on this machine in a few minutes.

Starts a fresh local broker (unless TUNGGAL_BROKER names one), generates a synthetic population
with known truth, starts the workers, feeds the enrollments as recording stations would, shows
the verdicts as they arrive, then evaluates them against the truth and audits the topics.
Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

from streams.cli.kafka_io import format_verdict, produce_lines, read_jsonl_lines, read_topic
from streams.errors import TunggalError
from streams.settings import Settings

NOTABLE = {"DUPLICATE", "NIK_CONFLICT", "REVIEW", "RECAPTURE", "REJECTED"}


def _banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_workers(procs: list[subprocess.Popen], workdir: Path) -> None:
    """Fail fast, with the log tail, when a worker died."""
    for i, p in enumerate(procs):
        if p.poll() is not None:
            log = workdir / f"worker{i + 1}.log"
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            raise TunggalError(f"worker {i + 1} exited with code {p.returncode}; last lines of "
                               f"{log}:\n" + "\n".join(tail))


def start_workers(s: Settings, n: int, workdir: Path) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUNGGAL_")}
        env.update({"TUNGGAL_BROKER": s.bootstrap, "TUNGGAL_APP_ID": s.app_id,
                    "TUNGGAL_PARTITIONS": str(s.partitions),
                    "TUNGGAL_DATA_DIR": str(workdir / f"worker{i + 1}"),
                    "TUNGGAL_WEB_PORT": str(_free_port()),
                    "TUNGGAL_TOPIC_ENROLLMENTS": s.topics.enrollments,
                    "TUNGGAL_TOPIC_DLQ": s.topics.dlq, "TUNGGAL_TOPIC_VERDICTS": s.topics.verdicts,
                    "TUNGGAL_TOPIC_ADJUDICATIONS": s.topics.adjudications,
                    "TUNGGAL_STANDBY_REPLICAS": str(s.standby_replicas)})
        log = (workdir / f"worker{i + 1}.log").open("ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "streams", "worker"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        print(f"worker {i + 1}: pid {procs[-1].pid}, log {workdir / f'worker{i + 1}.log'}")
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _run(cmd: list[str], env_settings: Settings | None = None) -> None:
    env = dict(os.environ)
    if env_settings is not None:
        env["TUNGGAL_BROKER"] = env_settings.bootstrap
        env["TUNGGAL_TOPIC_ENROLLMENTS"] = env_settings.topics.enrollments
        env["TUNGGAL_PARTITIONS"] = str(env_settings.partitions)
    subprocess.run([sys.executable, "-m", "streams", *cmd], check=True, env=env)


def expected_outcomes(lines: list[bytes]) -> tuple[set[str], int]:
    """What the engine must produce for ``lines``, by the engine's own ingestion rules: the ids
    that must get a verdict, and how many dead letters."""
    from streams.ingest import Admitted, Source, admit
    from streams.codecs.contract import read_enrollment_id

    digests: dict[str, str] = {}
    ids: set[str] = set()
    letters = 0
    for i, line in enumerate(lines):
        try:
            key_id = read_enrollment_id(orjson.loads(line))
        except orjson.JSONDecodeError:
            key_id = None
        key = key_id.encode() if key_id else None
        out = admit(key, line, Source("demo", 0, i, ""), digests.get)
        if isinstance(out, Admitted):
            digests.setdefault(out.enrollment.enrollment_id, out.enrollment.digest)
            ids.add(out.enrollment.enrollment_id)
        else:
            letters += 1
            if out.rejected is not None:
                ids.add(out.rejected.enrollment_id)
    return ids, letters


async def _feed_and_watch(s: Settings, lines: list[bytes], rate: float | None, timeout: float,
                          show: int, procs: list[subprocess.Popen], workdir: Path) -> Counter:
    """Publish the enrollments while printing notable verdicts; return when every input has its
    outcome (verdict or dead letter) or the timeout passes."""
    want_ids, want_letters = expected_outcomes(lines)
    seen: dict[str, str] = {}
    letters = 0
    shown = 0
    started = time.monotonic()

    def on_verdict(rec) -> None:
        nonlocal shown
        v = orjson.loads(rec.value)
        seen[v["enrollment_id"]] = v["verdict"]
        if v["verdict"] in NOTABLE and shown < show:
            shown += 1
            print("  " + format_verdict(v), flush=True)

    def on_letter(rec) -> None:
        nonlocal letters
        letters += 1

    async def follow(topic: str, handler) -> None:
        await read_topic(s.bootstrap, topic, on_record=handler, follow=True)

    tasks = [asyncio.create_task(follow(s.topics.verdicts, on_verdict)),
             asyncio.create_task(follow(s.topics.dlq, on_letter))]
    try:
        await produce_lines(s.bootstrap, s.topics.enrollments, lines, total=len(lines), rate=rate)
        last = 0.0
        while True:
            missing = len(want_ids - seen.keys())
            if not missing and letters >= want_letters:
                break
            check_workers(procs, workdir)
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise TunggalError(f"timed out after {timeout:.0f} s: {missing:,} enrollments "
                                   f"still without a verdict, {letters:,}/{want_letters:,} dead "
                                   "letters; see the worker logs")
            if elapsed - last >= 5:
                last = elapsed
                print(f"  ... {len(seen):,}/{len(want_ids):,} enrollments decided, "
                      f"{letters:,}/{want_letters:,} dead letters ({elapsed:.0f} s)", flush=True)
            await asyncio.sleep(0.5)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    kinds: Counter = Counter(seen.values())
    kinds["dead letters"] = letters
    return kinds


def _terminate(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt  # run the `finally` blocks: stop what the demo started


def cmd_demo(args: argparse.Namespace, s: Settings) -> int:
    from streams.broker import local

    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started_broker = False
    run = time.strftime("%Y%m%d%H%M%S")
    if s.broker is None:
        _banner("1. Kafka: a fresh single-node broker on 127.0.0.1")
        broker_dir = workdir / "kafka"
        local.stop(broker_dir)
        local.reset(broker_dir)
        info = local.start(port=s.broker_port, controller_port=s.broker_controller_port,
                           data_dir=broker_dir)
        started_broker = True
        print(f"broker up on {info.bootstrap} in {info.elapsed_s:.1f} s (pid {info.pid})")
        s = s.with_(app_id="tunggal-demo", data_dir=workdir / "workers")
        shutil.rmtree(s.data_dir, ignore_errors=True)  # table state of an earlier broker
    else:
        _banner(f"1. Kafka: using {s.broker} (TUNGGAL_BROKER); topics of this run: demo{run}-*")
        s = s.with_(app_id=f"tunggal-demo{run}", data_dir=workdir / f"workers-{run}",
                    topic_enrollments=f"demo{run}-enrollments", topic_dlq=f"demo{run}-dlq",
                    topic_verdicts=f"demo{run}-verdicts",
                    topic_adjudications=f"demo{run}-adjudications")
    procs: list[subprocess.Popen] = []
    try:
        _banner(f"2. A synthetic population of {args.people:,} people (seed {args.seed})")
        pop = workdir / "population"
        _run(["simulate", "--people", str(args.people), "--seed", str(args.seed), "--out", str(pop)])
        lines = read_jsonl_lines(pop / "enrollments.jsonl")
        print(f"{len(lines):,} enrollment events in arrival order, truth in {pop / 'truth.json'}")

        _banner(f"3. {args.workers} worker(s), {s.partitions} partitions")
        from streams.app.admin import ensure_topics
        asyncio.run(ensure_topics(s))
        s.data_dir.mkdir(parents=True, exist_ok=True)
        procs = start_workers(s, args.workers, s.data_dir)

        rate = None if args.rate <= 0 else args.rate
        _banner(f"4. Stations publishing {'as fast as possible' if rate is None else f'{rate:.0f} enrollments/s'}"
                "; notable verdicts as they arrive")
        t0 = time.monotonic()
        kinds = asyncio.run(_feed_and_watch(s, lines, rate, args.timeout, args.show, procs,
                                            s.data_dir))
        elapsed = time.monotonic() - t0
        print(f"every input has its outcome after {elapsed:.0f} s "
              f"({len(lines) / elapsed:,.0f} enrollments/s end to end): "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())))

        _banner("5. Evaluation against the truth")
        from streams.cli.kafka_io import dump_topic
        dump_topic(s.bootstrap, s.topics.verdicts, workdir / "verdicts.jsonl", 2.0)
        dump_topic(s.bootstrap, s.topics.dlq, workdir / "dlq.jsonl", 2.0)
        _run(["evaluate", "--truth", str(pop / "truth.json"), "--verdicts",
              str(workdir / "verdicts.jsonl"), "--dlq", str(workdir / "dlq.jsonl")])

        _banner("6. Audit: every input has an outcome, revisions in order")
        from streams.cli.ops import cmd_audit
        code = cmd_audit(argparse.Namespace(idle=2.0, limit=10, json=False), s)
        return code
    finally:
        _banner("7. Stopping what the demo started")
        stop_workers(procs)
        if started_broker:
            local.stop(workdir / "kafka")
        print("done. Files: " + str(workdir))


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "demo", help="the whole engine end to end on this machine, in a few minutes",
        description="Start a fresh local Kafka (unless TUNGGAL_BROKER is set), generate a "
                    "synthetic population with known truth, run the workers, publish the "
                    "enrollments as stations would, show verdicts as they arrive, evaluate them "
                    "against the truth and audit the topics. Stops everything it started.")
    d.add_argument("--people", type=int, default=1500, help="people in the population (1500)")
    d.add_argument("--seed", type=int, default=2017, help="population seed (2017)")
    d.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    d.add_argument("--rate", type=float, default=0,
                   help="enrollments per second from the stations (default 0: as fast as possible)")
    d.add_argument("--show", type=int, default=25, help="notable verdicts printed live (25)")
    d.add_argument("--timeout", type=float, default=900, help="seconds to wait for outcomes (900)")
    d.add_argument("--workdir", default=".tunggal/demo", help="files of the run (.tunggal/demo)")
    d.set_defaults(handler=cmd_demo)
