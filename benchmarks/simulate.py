"""Benchmark of ``tunggal simulate``: people/s and enrollments/s of the synthetic population.

Usage: ``python benchmarks/simulate.py [--people 20000] [--fingers 10] [--workers 2]``.
The 100,000-people figure of docs/benchmarks.md comes from
``tunggal simulate --people 100000 --seed 1 --out /tmp/pop100k``. Prints a human line and a
final JSON line with every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.cli.progress import Progress  # noqa: E402
from streams.sim.population import simulate  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fingers", type=int, choices=(2, 4, 10), default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", help="output directory (default: a temporary one, removed)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunggal-sim-") as tmp:
        out = Path(args.out or tmp)
        started = time.monotonic()
        s = simulate(args.people, args.seed, out, fingers=args.fingers, workers=args.workers,
                     progress=Progress("simulate", None, unit="ev"))
        wall = time.monotonic() - started
        size = (out / "enrollments.jsonl").stat().st_size
    render_s = wall - s.plan_seconds
    figures = {
        "benchmark": "simulate", "people": args.people, "fingers": args.fingers,
        "workers": args.workers, "cpus": os.cpu_count(), "enrollments": s.enrollments,
        "events": s.events, "seconds": round(wall, 2), "plan_seconds": s.plan_seconds,
        "people_per_s": round(args.people / wall, 1), "events_per_s": round(s.events / wall, 1),
        "render_events_per_s": round(s.events / render_s, 1) if render_s > 0 else None,
        "bytes_per_event": round(size / s.events), "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"{args.people:,} people, {s.events:,} events in {wall:.1f} s: "
          f"{figures['people_per_s']:,.0f} people/s, {figures['events_per_s']:,.0f} events/s "
          f"({args.fingers} fingers, {args.workers} workers; plan {s.plan_seconds:.1f} s)")
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
