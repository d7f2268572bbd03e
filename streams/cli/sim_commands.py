"""``tunggal simulate`` and ``tunggal evaluate``: the synthetic population and the instrument.

``register(sub)`` adds both subcommands to the ``tunggal`` parser (see ``streams.cli.main``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from dataclasses import fields
from pathlib import Path
from typing import AsyncIterator

import orjson

from streams.errors import ConfigError
from streams.settings import Settings

#: --to-kafka pacing: each gap is the mean gap times a uniform factor in [1 - J, 1 + J].
RATE_JITTER = 0.5


def cmd_simulate(args: argparse.Namespace, s: Settings) -> int:
    from streams.cli.progress import Progress
    from streams.sim.population import simulate
    from streams.sim.scenarios import Shares

    if args.people < 1 or args.seed < 0 or (args.workers is not None and args.workers < 1):
        raise ConfigError("--people and --workers must be at least 1, --seed at least 0")
    try:
        shares = Shares(**{f.name: getattr(args, f"share_{f.name}") for f in fields(Shares)})
        shares.story_weights()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    out = Path(args.out)
    print(f"planning {args.people:,} people (seed {args.seed}) ...", file=sys.stderr, flush=True)
    progress = Progress("simulate", None, unit="ev")
    summary = simulate(args.people, args.seed, out, shares=shares, fingers=args.fingers,
                       workers=args.workers, progress=progress)
    print(f"wrote {summary.events:,} events ({summary.enrollments:,} enrollments of "
          f"{args.people:,} people) to {out / 'enrollments.jsonl'} and the truth to "
          f"{out / 'truth.json'} in {summary.seconds:.1f} s: "
          f"{summary.enrollments / summary.seconds:,.0f} enrollments/s, "
          f"{summary.events_per_s:,.0f} events/s, {args.people / summary.seconds:,.0f} people/s")
    if args.to_kafka:
        n = asyncio.run(_publish(s, out / "enrollments.jsonl", summary.events, args.rate, args.seed))
        print(f"published {n:,} records to {s.topics.enrollments}")
    return 0


async def _paced(path: Path, rate: float | None, seed: int) -> AsyncIterator[bytes]:
    """The file's lines in order; with ``rate``, at that mean rate with jittered gaps (many
    stations sending independently). Outages and backlog bursts are already in the order."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    due = loop.time()
    with path.open("rb") as fh:
        for line in fh:
            if rate:
                due += rng.uniform(1 - RATE_JITTER, 1 + RATE_JITTER) / rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield line.rstrip(b"\r\n")


async def _publish(s: Settings, path: Path, total: int, rate: float | None, seed: int) -> int:
    from streams.app.admin import ensure_topics
    from streams.cli.kafka_io import produce_lines

    await ensure_topics(s)
    return await produce_lines(s.bootstrap, s.topics.enrollments, _paced(path, rate, seed),
                               total=total, rate=None)


def cmd_evaluate(args: argparse.Namespace, s: Settings) -> int:
    from streams.errors import InputError
    from streams.sim.evaluate import evaluate_files

    try:
        report = evaluate_files(Path(args.truth), Path(args.verdicts),
                                Path(args.dlq) if args.dlq else None)
    except InputError as exc:  # an unreadable input is the user's mistake: exit 2
        raise ConfigError(str(exc)) from None
    if args.json:
        sys.stdout.write(orjson.dumps(report.as_dict()).decode() + "\n")
    else:
        print(report.text())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``simulate`` and ``evaluate`` to the ``tunggal`` subcommands."""
    from streams.sim.scenarios import Shares

    p = sub.add_parser(
        "simulate", help="write a synthetic population with ground truth (optionally publish it)",
        description="Plan PEOPLE stories (unique people, re-captures, duplicates under a second "
                    "NIK, NIK conflicts, twins, chains, records without usable biometrics, "
                    "malformed records), then write OUT/enrollments.jsonl (contract events in "
                    "arrival order, station outages and re-sends included), OUT/truth.json "
                    "(JSON Lines: one object per enrollment id with its expected verdict) and "
                    "OUT/summary.json. Deterministic for a seed. See docs/synthetic-data.md.")
    p.add_argument("--people", type=int, required=True, help="number of stories (people slots)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--fingers", type=int, choices=(2, 4, 10), default=10,
                   help="fingers a station captures: 10 (e-KTP, default), 4 (thumbs and index "
                        "fingers) or 2 (index fingers); fewer makes smaller events")
    p.add_argument("--workers", type=int, default=None,
                   help="rendering processes (default: one per CPU); the output does not depend "
                        "on it")
    defaults = Shares()
    for f in fields(Shares):
        p.add_argument(f"--share-{f.name.replace('_', '-')}", dest=f"share_{f.name}", type=float,
                       default=getattr(defaults, f.name), metavar="X",
                       help=f"share of {f.name.replace('_', ' ')} (default {getattr(defaults, f.name)})")
    p.add_argument("--to-kafka", action="store_true",
                   help="also publish the events to the enrollments topic (TUNGGAL_BROKER etc.)")
    p.add_argument("--rate", type=float,
                   help="with --to-kafka: mean records per second, jittered (default: as fast "
                        "as possible)")
    p.add_argument("--partitions", type=int, help="partitions if topics must be created")
    p.set_defaults(handler=cmd_simulate)

    e = sub.add_parser(
        "evaluate", help="score verdicts and dead letters against a simulation's truth",
        description="Read the truth file, the verdicts (topic order, e.g. from `tunggal verdicts "
                    "dump`) and optionally the dead letters; keep the highest revision per "
                    "enrollment and report missing answers, the confusion matrix, duplicate "
                    "recall and precision, false matches among true uniques, NIK_CONFLICT recall, "
                    "REVIEW rate, person_id agreement, dead-letter coverage and revision-order "
                    "violations. Exit code 0 whatever the figures; 2 if an input is unreadable.")
    e.add_argument("--truth", required=True, help="truth.json written by `tunggal simulate`")
    e.add_argument("--verdicts", required=True, help="verdicts JSONL, in topic order")
    e.add_argument("--dlq", help="dead letters JSONL, in topic order")
    e.add_argument("--json", action="store_true", help="print one JSON line with every figure")
    e.set_defaults(handler=cmd_evaluate)
