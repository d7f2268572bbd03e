"""Benchmark of ``tunggal simulate``: enrollments/s of the synthetic population, and what they cost.

Usage: ``python benchmarks/simulate.py [--people 20000] [--fingers 10] [--workers N] [--out DIR]``
(workers default: one per CPU, as the command's). The 100,000-people figures of
docs/synthetic-data.md come from ``tunggal simulate --people 100000 --seed 1 --out /tmp/sim100k``
under ``/usr/bin/time -v``; this script measures the same run from the inside and adds what a
shared machine hides: the CPU time of this process and of the rendering workers (so the cost per
event holds whatever else runs), the rate two free cores would give, and the load average.
Prints the figures, the command that reproduces them, and a final JSON line with every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.cli.progress import Progress  # noqa: E402
from streams.sim.population import default_workers, simulate  # noqa: E402


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            return round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fingers", type=int, choices=(2, 4, 10), default=10)
    p.add_argument("--workers", type=int, default=None, help="default: one per CPU")
    p.add_argument("--out", help="output directory (default: a temporary one, removed)")
    args = p.parse_args()
    workers = args.workers or default_workers()
    command = (f"python benchmarks/simulate.py --people {args.people} --seed {args.seed} "
               f"--fingers {args.fingers} --workers {workers}")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tunggal-sim-") as tmp:
        out = Path(args.out or tmp)
        cpu_self, cpu_children = _cpu_seconds(resource.RUSAGE_SELF), _cpu_seconds(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        s = simulate(args.people, args.seed, out, fingers=args.fingers, workers=workers,
                     progress=Progress("simulate", None, unit="ev"))
        wall = time.monotonic() - started
        cpu_self = _cpu_seconds(resource.RUSAGE_SELF) - cpu_self
        cpu_children = _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_children
        size = sum((out / name).stat().st_size for name in ("enrollments.jsonl", "truth.json"))
        events_size = (out / "enrollments.jsonl").stat().st_size
    render_s = wall - s.plan_seconds
    cpu_ms = 1000.0 * (cpu_self + cpu_children) / s.events
    cpus = default_workers()
    figures = {
        "benchmark": "simulate", "people": args.people, "seed": args.seed, "fingers": args.fingers,
        "workers": workers, "cpus": cpus, "memory_gib": _memory_gib(),
        "enrollments": s.enrollments, "events": s.events, "seconds": round(wall, 2),
        "plan_seconds": s.plan_seconds, "enrollments_per_s": round(s.enrollments / wall, 1),
        "events_per_s": round(s.events / wall, 1), "people_per_s": round(args.people / wall, 1),
        "render_events_per_s": round(s.events / render_s, 1) if render_s > 0 else None,
        "cpu_self_s": round(cpu_self, 2), "cpu_workers_s": round(cpu_children, 2),
        "cpu_ms_per_event": round(cpu_ms, 3),
        # what `cpus` idle cores would give: the plan runs alone, the rendering on every core
        "free_cores_enrollments_per_s": round(
            s.enrollments / (s.plan_seconds + max(0.0, cpu_ms * s.events / 1000.0 - s.plan_seconds) / cpus), 1),
        "max_rss_mib_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "max_rss_mib_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "bytes": size, "bytes_per_event": round(events_size / s.events),
        "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2),
        "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"), "command": command,
    }
    print(f"{args.people:,} people: {s.enrollments:,} enrollments ({s.events:,} events) in {wall:.1f} s "
          f"(plan {s.plan_seconds:.1f} s): {figures['enrollments_per_s']:,.0f} enrollments/s, "
          f"{figures['events_per_s']:,.0f} events/s; {args.fingers} fingers, {workers} workers")
    print(f"CPU {cpu_self:.1f} s here + {cpu_children:.1f} s in the workers = {cpu_ms:.2f} ms per "
          f"event; on {cpus} free cores about {figures['free_cores_enrollments_per_s']:,.0f} "
          f"enrollments/s; load average {load_before:.1f} before, {figures['load_avg_after']:.1f} after")
    print(f"peak RSS {figures['max_rss_mib_self']:.0f} MiB here, {figures['max_rss_mib_worker']:.0f} "
          f"MiB per worker; output {size / 2**20:,.1f} MiB ({figures['bytes_per_event']:,} bytes "
          f"per event)")
    print(f"reproduce: {command}")
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
