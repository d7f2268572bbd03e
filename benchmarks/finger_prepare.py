"""Finger indexing and fused-pair cost: CPU ms per view of ``streams.matching.finger.prepare``
(before: ``prepare_reference``, the cylinders as first written; after: ``prepare``), per
enrollment (its usable views, as ``fusion.Prepared.fingers`` indexes them), and per enrollment
pair of ``fuse_enrollments`` (before: through ``score``, which packs each candidate finger into a
one-row block; after: the pair kernel called directly), on one core.

What: renders a population with the simulator (``streams.sim.population.simulate``), decodes the
valid enrollments as the engine does (``streams.codecs.contract``), warms the compiled kernels
up, then times each function with ``time.process_time`` (CPU, not wall time: the figures hold on
a shared machine), best of ``--repeat`` runs. The run also checks that before and after give
equal arrays for every view and equal fused scores for every timed pair, and splits a fused
pair's time into the compiled pair score and the rest. The last line printed is one JSON object.

    .venv/bin/python benchmarks/finger_prepare.py [--people 400] [--seed 5] [--pairs 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.codecs.contract import decode_enrollment, parse_json
from streams.errors import InputError
from streams.matching import finger as F
from streams.matching.quality import finger_usable
from streams.sim.population import simulate

FIELDS = ("bits", "mask", "x", "y", "theta", "tie")


def fuse_via_score(a, b) -> F.FusedFingerScore:
    """``fuse_enrollments`` as it was: one ``score`` (pack + block kernel) per shared position."""
    bmap = {f.position: f for f in b}
    return F.fuse_scores({f.position: F.score(f, bmap[f.position]) for f in a if f.position in bmap})


def kernel_only(a, b) -> None:
    """The compiled pair scores of a fused pair, nothing else: the floor of ``fuse_enrollments``."""
    bmap = {f.position: f for f in b}
    for f in a:
        g = bmap.get(f.position)
        if g is not None:
            F._score_pair(f.bits, f.mask, f.x, f.y, f.theta, f.tie, g.bits, g.mask, g.x, g.y, g.theta, g.tie)


def _cpu_ms(fn, items, repeat: int) -> float:
    """Best of ``repeat`` runs of ``fn`` over ``items``: CPU ms per item."""
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        for it in items:
            fn(*it)
        best = min(best, time.process_time() - c0)
    return round(1000 * best / len(items), 4)


def same(f, g) -> bool:
    return (f.position, f.quality) == (g.position, g.quality) and all(
        getattr(f, n).dtype == getattr(g, n).dtype and getattr(f, n).shape == getattr(g, n).shape
        and getattr(f, n).tobytes() == getattr(g, n).tobytes() for n in FIELDS)  # fmt: skip


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=400, help="people (~1.15 enrollments each)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=1000, help="random enrollment pairs fused")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tunggal-finger-"))
    simulate(args.people, args.seed, work / "pop", workers=1)
    seen = {}
    for line in (work / "pop" / "enrollments.jsonl").read_bytes().splitlines():
        try:
            e = decode_enrollment(parse_json(line))
        except InputError:
            continue  # the population's malformed events: the engine refuses them
        seen.setdefault(e.enrollment_id, e)  # re-sent events once
    enrollments = [e for e in seen.values() if any(finger_usable(v) for v in e.fingers)]
    usable = [tuple(v for v in e.fingers if finger_usable(v)) for e in enrollments]
    views = [(v,) for vs in usable for v in vs]

    c0 = time.process_time()
    F.prepare(views[0][0])
    F.prepare_reference(views[0][0])
    warm_s = time.process_time() - c0
    equal_views = sum(same(F.prepare(v), F.prepare_reference(v)) for (v,) in views)
    prepare_ms = {
        "before": _cpu_ms(F.prepare_reference, views, args.repeat),
        "after": _cpu_ms(F.prepare, views, args.repeat),
    }
    per_view = len(views) / len(usable)
    per_enrollment = {k: round(v * per_view, 4) for k, v in prepare_ms.items()}

    feats = [tuple(F.prepare(v) for v in vs) for vs in usable]
    rng = np.random.default_rng(args.seed)
    pairs = [(feats[a], feats[b]) for a, b in rng.integers(0, len(feats), (args.pairs, 2))]
    fuse_via_score(*pairs[0])
    F.fuse_enrollments(*pairs[0])
    equal_pairs = sum(F.fuse_enrollments(a, b) == fuse_via_score(a, b) for a, b in pairs)
    fingers = sum(F.fuse_enrollments(a, b).fingers for a, b in pairs) / len(pairs)
    fuse_ms = {
        "before": _cpu_ms(fuse_via_score, pairs, args.repeat),
        "after": _cpu_ms(F.fuse_enrollments, pairs, args.repeat),
        "pair_kernels_only": _cpu_ms(kernel_only, pairs, args.repeat),
    }
    result = {
        "enrollments": len(enrollments), "views": len(views), "views_per_enrollment": round(per_view, 2),
        "equal_views": equal_views, "pairs": len(pairs), "equal_pairs": equal_pairs,
        "fingers_per_pair": round(fingers, 2), "warmup_cpu_s": round(warm_s, 3),
        "prepare_cpu_ms_per_view": prepare_ms, "prepare_cpu_ms_per_enrollment": per_enrollment,
        "fuse_cpu_ms_per_pair": fuse_ms,
        "prepare_speedup": round(prepare_ms["before"] / prepare_ms["after"], 2),
        "fuse_speedup": round(fuse_ms["before"] / fuse_ms["after"], 2),
    }  # fmt: skip
    print(f"{len(enrollments):,} enrollments with usable fingers, {len(views):,} views "
          f"({per_view:.2f} per enrollment); first calls (kernels compiled or loaded) {warm_s:.3f} s CPU")
    print(f"prepare equal to prepare_reference (every array, bit for bit): {equal_views:,} of {len(views):,} views")
    print(f"fuse_enrollments equal to the score-based fusion: {equal_pairs:,} of {len(pairs):,} pairs "
          f"({fingers:.2f} fingers compared per pair)")
    print(f"CPU ms (best of {args.repeat}):       before      after")
    print(f"  prepare, per view        {prepare_ms['before']:9.4f}  {prepare_ms['after']:9.4f}"
          f"   ({result['prepare_speedup']}x)")
    print(f"  prepare, per enrollment  {per_enrollment['before']:9.4f}  {per_enrollment['after']:9.4f}")
    print(f"  fuse, per pair           {fuse_ms['before']:9.4f}  {fuse_ms['after']:9.4f}"
          f"   ({result['fuse_speedup']}x; compiled pair scores alone {fuse_ms['pair_kernels_only']:.4f})")
    print(f"reproduce: .venv/bin/python benchmarks/finger_prepare.py --people {args.people} "
          f"--seed {args.seed} --pairs {args.pairs} --repeat {args.repeat}")
    print(orjson.dumps(result).decode())
    return result


if __name__ == "__main__":
    main()
