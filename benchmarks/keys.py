"""Blocking key derivation cost: CPU ms per enrollment of ``streams.blocking.keys.keys_for`` (what
the engine runs once per enrollment) and of its parts (demographic, iris, indexed fingers), over
generated enrollments, on one core.

What: renders a population with the simulator (``streams.sim.population.simulate``), decodes the
valid enrollments as the engine does (``streams.codecs.contract``), warms the compiled kernels up,
then times each function over every enrollment with ``time.process_time`` (CPU, not wall time:
the figures hold on a shared machine). The "numpy" rows time the numpy formulations the kernels
replaced (``finger_keys_reference``, ``iris_keys_vectorised``; the keys are equal, tested in
tests/unit/blocking), so one run gives the before and after figures; the run also checks that
both give the same keys. The last line printed is one JSON object.

    .venv/bin/python benchmarks/keys.py [--people 1000] [--seed 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.blocking import biometric
from streams.blocking.finger_keys import finger_key_set, finger_keys_reference
from streams.blocking.iris_keys import iris_keys_vectorised
from streams.blocking.keys import INDEXED_FINGERS, demographic_keys, keys_for
from streams.codecs.contract import decode_enrollment, parse_json
from streams.errors import InputError
from streams.sim.population import simulate


def _indexed(e):
    return [f for f in e.fingers if f.position in INDEXED_FINGERS]


def numpy_keys_for(e) -> list[str]:
    """``keys_for`` through the numpy formulations (the cost before the compiled kernels)."""
    keys = {k for f in _indexed(e) for k in finger_keys_reference(f)}
    keys.update(k for t in e.irises for k in iris_keys_vectorised(t))
    keys.update(demographic_keys(e))
    return sorted(keys)


def _cpu_ms(fn, enrollments, repeat: int) -> float:
    """Best of ``repeat`` runs over every enrollment: CPU ms per enrollment."""
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        for e in enrollments:
            fn(e)
        best = min(best, time.process_time() - c0)
    return round(1000 * best / len(enrollments), 4)


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=1000, help="people (~1.15 enrollments each)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tunggal-keys-"))
    simulate(args.people, args.seed, work / "pop", workers=1)
    enrollments = []
    for line in (work / "pop" / "enrollments.jsonl").read_bytes().splitlines():
        try:
            enrollments.append(decode_enrollment(parse_json(line)))
        except InputError:
            pass  # the population's malformed events: the engine refuses them before blocking
    c0 = time.process_time()
    keys_for(enrollments[0])  # compile or load the kernels from numba's cache
    warm_s = time.process_time() - c0
    equal = sum(keys_for(e) == numpy_keys_for(e) for e in enrollments)
    parts = {
        "keys_for": keys_for,
        "demographic": demographic_keys,
        "iris": biometric.iris_key_set_for,
        "finger_indexed": lambda e: finger_key_set(_indexed(e)),
        "numpy_keys_for": numpy_keys_for,
        "numpy_iris": lambda e: [iris_keys_vectorised(t) for t in e.irises],
        "numpy_finger_indexed": lambda e: [finger_keys_reference(f) for f in _indexed(e)],
    }
    ms = {name: _cpu_ms(fn, enrollments, args.repeat) for name, fn in parts.items()}
    result = {"enrollments": len(enrollments), "equal_to_numpy": equal, "warmup_cpu_s":
              round(warm_s, 3), "cpu_ms_per_enrollment": ms,
              "speedup": round(ms["numpy_keys_for"] / ms["keys_for"], 1)}
    print(f"{len(enrollments):,} generated enrollments; keys_for equal to the numpy formulation "
          f"for {equal:,}; first call (kernels compiled or loaded) {warm_s:.3f} s CPU")
    print(f"CPU ms per enrollment (best of {args.repeat}):")
    for name, v in ms.items():
        print(f"  {name:22s} {v:8.4f}")
    print(f"keys_for speed-up over the numpy formulation: {result['speedup']}x")
    print(f"reproduce: .venv/bin/python benchmarks/keys.py --people {args.people} "
          f"--seed {args.seed} --repeat {args.repeat}")
    print(orjson.dumps(result).decode())
    return result


if __name__ == "__main__":
    main()
