"""CPU cost of admitting an input event: ``streams.ingest.admit`` (JSON, schema, base64,
ISO/IEC 19794-2, iris, digest) and ``decode_enrollment(obj, admitted=True)`` (the decode of a
stored event), in CPU milliseconds per record (``time.process_time``: the machine may be shared).

    .venv/bin/python benchmarks/admit.py [--people 3000] [--seed 11] [--repeat 3] [--baseline HEAD]

``--baseline REV`` also measures the ``streams`` package of git revision ``REV`` (extracted with
``git archive`` into a temporary directory, run in a child process) on the same records. Prints
the figures, the command, and a final JSON line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]


def measure(path: Path, repeat: int) -> dict:
    """Best-of-``repeat`` CPU ms per record over the records of ``path`` (JSON Lines)."""
    from streams.codecs.contract import decode_enrollment
    from streams.ingest import Admitted, Source, admit

    lines = [x for x in path.read_bytes().split(b"\n") if x]
    src = Source("enrollments", 0, 0, "")
    admit(None, lines[0], src, lambda e: None)  # compile / load the numba decoder first
    best_admit = best_decode = float("inf")
    stored: list[dict] = []
    for _ in range(repeat):
        digests: dict[str, str] = {}
        admitted = []
        c0 = time.process_time()
        for line in lines:
            out = admit(None, line, src, digests.get)
            if isinstance(out, Admitted):
                digests.setdefault(out.enrollment.enrollment_id, out.enrollment.digest)
                admitted.append(line)
        best_admit = min(best_admit, time.process_time() - c0)
        stored = [orjson.loads(x) for x in admitted]
        c0 = time.process_time()
        for obj in stored:
            decode_enrollment(obj, admitted=True)
        best_decode = min(best_decode, time.process_time() - c0)
    return {"records": len(lines), "admitted": len(stored),
            "admit_ms_per_record": round(1000 * best_admit / len(lines), 4),
            "decode_admitted_ms_per_record": round(1000 * best_decode / len(stored), 4)}


def baseline(rev: str, path: Path, repeat: int, work: Path) -> dict:
    tree = work / f"rev-{rev.replace('/', '_')}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "streams", "schemas"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, __file__, "--measure", str(path), "--repeat", str(repeat)],
                         env=env, cwd=str(tree), check=True, capture_output=True, text=True).stdout
    return orjson.loads(out.strip().splitlines()[-1])


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=3000, help="people (~1.15 enrollments each)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=3, help="passes; the fastest counts")
    ap.add_argument("--baseline", metavar="REV", help="also measure this git revision")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # child process mode
    args = ap.parse_args()
    if args.measure is not None:
        print(orjson.dumps(measure(args.measure, args.repeat)).decode())
        return {}
    sys.path.insert(0, str(ROOT))
    from streams.sim.population import simulate

    work = Path(tempfile.mkdtemp(prefix="tunggal-admit-"))
    simulate(args.people, args.seed, work / "pop")
    path = work / "pop" / "enrollments.jsonl"
    result = {"people": args.people, "seed": args.seed, **measure(path, args.repeat)}
    print(f"{result['records']:,} generated records, {result['admitted']:,} admitted")
    if args.baseline:
        before = baseline(args.baseline, path, args.repeat, work)
        result["baseline"] = args.baseline
        result["before_admit_ms_per_record"] = before["admit_ms_per_record"]
        result["before_decode_admitted_ms_per_record"] = before["decode_admitted_ms_per_record"]
        print(f"admit, CPU per record:                          {before['admit_ms_per_record']} ms "
              f"({args.baseline}) -> {result['admit_ms_per_record']} ms (working tree)")
        print(f"decode_enrollment(admitted=True), CPU per record: "
              f"{before['decode_admitted_ms_per_record']} ms ({args.baseline}) -> "
              f"{result['decode_admitted_ms_per_record']} ms (working tree)")
    else:
        print(f"admit, CPU per record: {result['admit_ms_per_record']} ms")
        print(f"decode_enrollment(admitted=True), CPU per record: "
              f"{result['decode_admitted_ms_per_record']} ms")
    base = f" --baseline {args.baseline}" if args.baseline else ""
    print(f"reproduce: .venv/bin/python benchmarks/admit.py --people {args.people} --seed {args.seed} "
          f"--repeat {args.repeat}{base}")
    print(orjson.dumps(result).decode())
    return result


if __name__ == "__main__":
    main()
