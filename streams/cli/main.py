"""``tunggal``: every command, with ``--help``, sane defaults and clear errors.

Settings come from ``TUNGGAL_*`` environment variables, read once here; options override them.
A user mistake prints one line and exits 2; a failure of the system exits 1 with its reason.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from streams import __version__
from streams.errors import ConfigError, TunggalError
from streams.settings import Settings

log = logging.getLogger("tunggal")

EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Settings], int]


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in
                 ("broker_port", "broker_dir", "data_dir", "web_port", "partitions")}
    return Settings.from_env(**overrides)


# -- broker -------------------------------------------------------------------------------------

def cmd_broker(args: argparse.Namespace, s: Settings) -> int:
    from streams.broker import local

    if s.broker is not None:
        print(f"TUNGGAL_BROKER={s.broker} names an external broker: nothing to {args.action}.")
        return 0
    if args.action == "start":
        info = local.start(port=s.broker_port, controller_port=s.broker_controller_port,
                           data_dir=s.broker_dir)
        what = "started" if info.started else "already running"
        print(f"broker {what} on {info.bootstrap} (pid {info.pid}, {info.elapsed_s:.1f} s); "
              f"log {info.log_path}")
    elif args.action == "stop":
        stopped = local.stop(s.broker_dir)
        print("broker stopped" if stopped else "broker was not running")
    else:
        st = local.status(s.broker_dir)
        print(st.describe())
        return 0 if st.running else 3
    return 0


# -- topics, worker, produce, dump ----------------------------------------------------------------

def cmd_topics(args: argparse.Namespace, s: Settings) -> int:
    from streams.app.admin import ensure_topics

    for name, n in asyncio.run(ensure_topics(s)).items():
        print(f"{name}: {n} partitions")
    return 0


def cmd_worker(args: argparse.Namespace, s: Settings) -> int:
    from streams.app.worker import run_worker

    run_worker(s)
    return 0


def cmd_produce(args: argparse.Namespace, s: Settings) -> int:
    from streams.app.admin import ensure_topics
    from streams.cli.kafka_io import produce_lines, read_jsonl_lines

    path = Path(args.file)
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    lines = read_jsonl_lines(path)
    topic = args.topic or s.topics.enrollments

    async def go() -> int:
        await ensure_topics(s)
        return await produce_lines(s.bootstrap, topic, lines, total=len(lines), rate=args.rate)

    n = asyncio.run(go())
    print(f"published {n:,} records from {path} to {topic}")
    return 0


def cmd_dump(args: argparse.Namespace, s: Settings) -> int:
    from streams.cli.kafka_io import dump_topic

    topic = s.topics.verdicts if args.group == "verdicts" else s.topics.dlq
    n = dump_topic(s.bootstrap, topic, Path(args.out), args.idle)
    print(f"wrote {n:,} records of {topic} to {args.out}")
    return 0


def cmd_tail(args: argparse.Namespace, s: Settings) -> int:
    import orjson

    from streams.cli.kafka_io import format_verdict, read_topic

    def show(rec) -> None:
        try:
            print(format_verdict(orjson.loads(rec.value)), flush=True)
        except (orjson.JSONDecodeError, TypeError, KeyError):
            print(f"(unreadable record at offset {rec.offset})", flush=True)

    try:
        asyncio.run(read_topic(s.bootstrap, s.topics.verdicts, on_record=show,
                               follow=not args.idle, idle=args.idle or 0.0,
                               from_beginning=args.from_beginning))
    except KeyboardInterrupt:
        pass
    return 0


# -- parser ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tunggal",
        description="Tunggal: streaming 1:N biometric deduplication of NIK enrollments on Kafka. "
                    "Settings come from TUNGGAL_* environment variables (e.g. TUNGGAL_BROKER, "
                    "TUNGGAL_PARTITIONS, TUNGGAL_DATA_DIR); options override them.")
    p.add_argument("--version", action="version", version=f"tunggal {__version__}")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    b = sub.add_parser("broker", help="start, stop or inspect the local single-node Kafka",
                       description="Run a single-node Apache Kafka 4 (KRaft) on 127.0.0.1, "
                                   "resolved from Maven Central on first use. Does nothing when "
                                   "TUNGGAL_BROKER names an external broker.")
    b.add_argument("action", choices=["start", "stop", "status"])
    b.add_argument("--broker-port", type=int, help="client port (default 9092)")
    b.add_argument("--broker-dir", type=Path, help="broker data directory (default .tunggal/kafka)")
    b.set_defaults(handler=cmd_broker)

    t = sub.add_parser("topics", help="create the contract topics if missing",
                       description="Declare enrollments, enrollments-dlq, verdicts (compacted) "
                                   "and adjudications with the configured partition count.")
    t.add_argument("--partitions", type=int, help="partitions per topic (default 4)")
    t.set_defaults(handler=cmd_topics)

    w = sub.add_parser("worker", help="run a worker in the foreground",
                       description="Run one stream worker (all agents). Start several with "
                                   "different --data-dir and --web-port to share the work.")
    w.add_argument("--data-dir", type=Path, help="local table state (default .tunggal/worker)")
    w.add_argument("--web-port", type=int, help="status web port on 127.0.0.1 (default 6066)")
    w.add_argument("--partitions", type=int, help="partitions of new topics (default 4)")
    w.set_defaults(handler=cmd_worker)

    pr = sub.add_parser("produce", help="publish a JSONL file of enrollment events",
                        description="Publish each line as-is to the enrollments topic, keyed by "
                                    "its enrollment_id when readable. Malformed lines are "
                                    "published too: the engine dead-letters them.")
    pr.add_argument("file", help="JSON Lines file, one enrollment event per line")
    pr.add_argument("--topic", help="target topic (default: the enrollments topic)")
    pr.add_argument("--rate", type=float, help="records per second (default: as fast as possible)")
    pr.add_argument("--partitions", type=int, help="partitions if topics must be created")
    pr.set_defaults(handler=cmd_produce)

    for group, what in (("verdicts", "the verdicts topic"), ("dlq", "the dead-letter topic")):
        g = sub.add_parser(group, help=f"read {what}")
        gs = g.add_subparsers(dest="action", metavar="ACTION", required=True)
        d = gs.add_parser("dump", help=f"write {what} to a JSONL file, in topic order",
                          description=f"Read {what} from the start and write one JSON line per "
                                      "record; exit once caught up and idle for --idle seconds.")
        d.add_argument("--out", required=True, help="output JSONL file")
        d.add_argument("--idle", type=float, default=5.0, help="seconds idle before exiting (5)")
        d.set_defaults(handler=cmd_dump, group=group)
        if group == "verdicts":
            tl = gs.add_parser("tail", help="follow verdicts, human-readable",
                               description="Print verdicts as they arrive (Ctrl-C to stop).")
            tl.add_argument("--from-beginning", action="store_true",
                            help="start at the oldest verdict instead of the newest")
            tl.add_argument("--idle", type=float, default=0.0,
                            help="exit after this many idle seconds (default: follow forever)")
            tl.set_defaults(handler=cmd_tail)

    for register in _extensions():
        register(sub)
    return p


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Commands that live beside their subsystem (simulate, evaluate, demo, ...)."""
    from streams.cli import demo, ops, replay, sim_commands

    return [sim_commands.register, ops.register, replay.register, demo.register]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        settings = _settings(args)
        return int(args.handler(args, settings) or 0)
    except ConfigError as exc:
        print(f"tunggal: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TunggalError as exc:
        print(f"tunggal: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tunggal: interrupted", file=sys.stderr)
        return 130
