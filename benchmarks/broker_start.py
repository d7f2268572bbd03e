"""How long the local Kafka broker takes to become usable.

Measures, with the real JVM and the real Maven:

* first-time Maven resolution of the Kafka jars into an empty (temporary) cache dir; note that
  Maven's own ~/.m2 repository may already hold the jars, in which case this is a local copy and
  not a download (the script says which);
* cold start: a fresh data dir (storage format + first broker start), libs already cached;
* warm start: the same data dir again (already formatted);
* stop: SIGTERM until the process has gone (controlled shutdown);
* the broker JVM's CPU time (user + system) at the moment it became ready, which varies much less
  than wall time on a shared machine and is what JVM options should be compared on.

Each start is timed from the ``start`` call until the broker answers a Metadata request, which is
what a user waits for. Reproduce with:

    .venv/bin/python benchmarks/broker_start.py --runs 3

The last line printed is a JSON object with the figures (seconds, medians over the runs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import socket
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from streams.broker import local
from streams.broker.classpath import resolve_classpath
from streams.broker.config import KAFKA_VERSION


def free_port() -> int:
    """An unused TCP port on 127.0.0.1, chosen by the kernel."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def maven_repo_is_warm(version: str) -> bool:
    """True when ~/.m2 already holds the Kafka jar (then "first time" is a copy, not a download)."""
    jar = Path.home() / ".m2/repository/org/apache/kafka/kafka_2.13" / version
    return jar.is_dir()


def measure_maven(version: str) -> tuple[float, bool]:
    warm = maven_repo_is_warm(version)
    with tempfile.TemporaryDirectory(prefix="tunggal-libs-") as tmp:
        began = time.monotonic()
        resolve_classpath(Path(tmp) / "libs", version=version)
        return time.monotonic() - began, warm


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far; Linux /proc only, else NaN.

    Wall-clock start times swing with the load of a shared machine; the JVM's CPU time up to
    readiness is the steadier figure for comparing JVM options.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_cycles(runs: int, jvm_opts: tuple[str, ...]) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {
        "cold_start_s": [], "warm_start_s": [], "cold_cpu_s": [], "warm_cpu_s": [], "stop_s": []
    }  # fmt: skip
    for _ in range(runs):
        port, cport = free_port(), free_port()
        with tempfile.TemporaryDirectory(prefix="tunggal-broker-") as tmp:
            data_dir = Path(tmp)
            for label in ("cold_start_s", "warm_start_s"):
                info = local.start(port, cport, data_dir, jvm_opts=jvm_opts)
                assert info.started, "a broker was unexpectedly running already"
                figures[label].append(info.elapsed_s)
                figures[label.replace("start", "cpu")].append(cpu_seconds(info.pid))
                began = time.monotonic()
                local.stop(data_dir)
                figures["stop_s"].append(time.monotonic() - began)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="start/stop cycles (default 3)")
    parser.add_argument("--skip-maven", action="store_true", help="do not time Maven resolution")
    parser.add_argument(
        "--jvm-opts", default=None, help="override the broker's JVM options (a shell-quoted string)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    jvm_opts = tuple(shlex.split(args.jvm_opts)) if args.jvm_opts else local.BROKER_JVM_OPTS

    result: dict[str, object] = {"kafka_version": KAFKA_VERSION, "runs": args.runs}
    if not args.skip_maven:
        seconds, warm = measure_maven(KAFKA_VERSION)
        source = "copy from a warm ~/.m2" if warm else "download from Maven Central"
        print(f"first-time Maven resolution ({source}): {seconds:.1f} s")
        result["maven_resolve_s"] = round(seconds, 2)
        result["maven_m2_warm"] = warm
    resolve_classpath(version=KAFKA_VERSION)  # the default cache, used by the starts below

    figures = measure_cycles(args.runs, jvm_opts)
    for label, values in figures.items():
        median = statistics.median(values)
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{label:>12}: median {median:.2f} s  (runs: {shown})")
        result[label] = round(median, 2)
    result["jvm_opts"] = " ".join(jvm_opts)
    result["machine"] = f"{platform.machine()} {platform.system()} {os.cpu_count()} cpus"
    result["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    command = f".venv/bin/python benchmarks/broker_start.py --runs {args.runs}"
    if args.jvm_opts:
        command += f" --jvm-opts {shlex.quote(args.jvm_opts)}"
    print("reproduce:", command)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
