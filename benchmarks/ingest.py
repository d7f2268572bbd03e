"""Ingestion rate: `tunggal produce` into a real broker, and validation (the engine's `admit`:
JSON, schema, base64, ISO/IEC 19794-2, iris shapes, digest) on one core, over generated
enrollments.

    .venv/bin/python benchmarks/ingest.py [--people 8700] [--seed 5]

Starts a throwaway local broker on free ports unless TUNGGAL_BROKER is set. Prints the figures,
the command, and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _broker import throwaway_broker  # noqa: E402

from streams.app.admin import ensure_topics  # noqa: E402
from streams.cli.kafka_io import produce_lines, read_jsonl_lines  # noqa: E402
from streams.cli.progress import Progress  # noqa: E402
from streams.ingest import Admitted, Source, admit  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.sim.population import simulate  # noqa: E402


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=8700, help="people (~1.15 enrollments each)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tunggal-ingest-"))
    t0 = time.monotonic()
    simulate(args.people, args.seed, work / "pop")
    gen_s = time.monotonic() - t0
    lines = read_jsonl_lines(work / "pop" / "enrollments.jsonl")
    mb = sum(len(x) for x in lines) / 1e6

    src = Source("enrollments", 0, 0, "")
    admit(None, lines[0], src, lambda e: None)  # compile the numba decoder first
    digests: dict[str, str] = {}
    c0 = time.process_time()
    valid = 0
    for line in lines:
        out = admit(None, line, src, digests.get)
        if isinstance(out, Admitted):
            valid += 1
            digests.setdefault(out.enrollment.enrollment_id, out.enrollment.digest)
    validate_s = time.process_time() - c0

    with throwaway_broker(work) as bootstrap:
        s = Settings.from_env({"TUNGGAL_BROKER": bootstrap, "TUNGGAL_TOPIC_ENROLLMENTS":
                               f"bench-{int(time.time())}-enrollments"})
        asyncio.run(ensure_topics(s))
        p0 = time.monotonic()
        asyncio.run(produce_lines(bootstrap, s.topics.enrollments, lines, total=len(lines),
                                  progress=Progress("produce", len(lines))))
        produce_s = time.monotonic() - p0
    result = {
        "enrollments": len(lines), "valid": valid, "megabytes": round(mb, 1),
        "generate_s": round(gen_s, 1),
        "validate_per_s_one_core": round(len(lines) / validate_s),
        "validate_ms_per_record": round(1000 * validate_s / len(lines), 3),
        "produce_per_s": round(len(lines) / produce_s),
        "produce_mb_per_s": round(mb / produce_s, 1),
    }
    print(f"{len(lines):,} generated enrollments ({mb:.0f} MB), {valid:,} valid")
    print(f"validation (admit) on one core: {result['validate_per_s_one_core']:,}/s "
          f"({result['validate_ms_per_record']} ms per record)")
    print(f"tunggal produce into Kafka: {result['produce_per_s']:,}/s "
          f"({result['produce_mb_per_s']} MB/s)")
    print(f"reproduce: .venv/bin/python benchmarks/ingest.py --people {args.people} --seed {args.seed}")
    print(orjson.dumps(result).decode())
    return result


if __name__ == "__main__":
    main()
