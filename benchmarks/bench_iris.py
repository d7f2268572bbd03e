"""Throughput and accuracy of the 1:N iris matcher, and speed of the synthetic iris generator.

* ``iris_cmp_per_s``: probe-candidate comparisons per second, one core, default shape, full
  rotation search (33 rotations), each probe against a gallery of ``GALLERY`` templates walked in
  ``CHUNK``-row blocks (the worker's batch size).
* ``iris_limit_cmp_per_s``: the naive limit over the same bytes in the same run: one numpy
  XOR-AND-``bitwise_count`` pass over code and mask, no rotations (what one rotation would cost
  with plain numpy); ``iris_rotation_cmp_per_s`` is the matcher's rate times its 33 rotations.
* ``capture_us`` / ``capture_single_us`` / ``source_us``: microseconds per synthetic capture (in
  batches of ``CAPTURE_BATCH`` / one by one) and per synthetic eye.
* Accuracy on synthetic eyes: impostor (best rotation, normalised) mean, sd and fitted binomial
  degrees of freedom, the unrotated impostor figures (Daugman's 0.499 / 0.0317 / 249), counts at
  or below each threshold, the false-match rate extrapolated by the fitted binomial, and the
  genuine false non-match rate at ``IRIS_HD_MATCH`` and ``IRIS_HD_REVIEW``.

Rates are per CPU second of this process (``time.process_time``; every kernel here is
single-threaded), which is what a dedicated core delivers and varies far less than wall time on a
shared machine; ``*_wall`` figures are wall-clock. Reproduce with:

    .venv/bin/python benchmarks/bench_iris.py

The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import json
import math
import os

# One core: keep BLAS (used by the generator's batched inverse transform) single-threaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import platform
import time
from datetime import datetime, timezone

import numpy as np

from streams.domain.types import DEFAULT_IRIS_SHAPE
from streams.matching.iris import (
    IRIS_HD_MATCH,
    IRIS_HD_REVIEW,
    IrisBlock,
    IrisGallery,
    prepare_probe,
    score_many,
)
from streams.matching.iris_reference import reference_hd_at
from streams.sim.iris import capture, capture_many, make_iris_source

GALLERY = 20_000
CHUNK = 4096
SPEED_PROBES = 20
GENUINE = 3000
CAPTURE_BATCH = 64
#: Fewest impostors at a level for it to enter the tail extrapolation.
TAIL_MIN_COUNT = 10
REPRODUCE = ".venv/bin/python benchmarks/bench_iris.py"
#: Daugman's table: threshold -> odds of a false match in one comparison (REFERENCE.md section 1).
DAUGMAN_FMR = {0.29: 1 / 13e9, 0.30: 1 / 1.5e9, 0.31: 1 / 185e6, 0.32: 1 / 26e6, 0.33: 1 / 4e6}


def binomial_cdf(x: float, dof: float, p: float) -> float:
    """P(fraction <= x) for a binomial of ``dof`` trials with success rate ``p`` (Daugman's fit)."""
    n = max(1, int(round(dof)))
    k_max = int(math.floor(x * n + 1e-12))
    logs = [
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        + k * math.log(p) + (n - k) * math.log1p(-p)
        for k in range(k_max + 1)
    ]  # fmt: skip
    top = max(logs)
    return math.exp(top) * sum(math.exp(v - top) for v in logs)


def tail_extrapolation(impostors: np.ndarray, thresholds) -> dict[float, float]:
    """Per-comparison FMR at ``thresholds`` by a straight line through log10(empirical FMR) over
    the measured tail (levels 0.33-0.40 holding at least ``TAIL_MIN_COUNT`` impostors): no
    binomial assumption, since the synthetic tail turned out heavier than the fitted binomial."""
    levels = np.round(np.arange(0.33, 0.401, 0.01), 2)
    counts = np.array([np.sum(impostors <= x) for x in levels])
    use = counts >= TAIL_MIN_COUNT
    if use.sum() < 2:
        return {t: float("nan") for t in thresholds}
    slope, icpt = np.polyfit(levels[use], np.log10(counts[use] / impostors.size), 1)
    return {t: float(10 ** (icpt + slope * t)) for t in thresholds}


def _population(rng, people: int, keep: int):
    """``people`` eyes captured twice (in batches, as a population builder would): the second
    captures go into a gallery as packed words (the templates are not kept, to save memory), the
    first ``keep`` of both captures are kept."""
    gallery = IrisGallery("R", DEFAULT_IRIS_SHAPE, capacity=people)
    a, b = [], []
    source_cpu = capture_cpu = 0.0
    for start in range(0, people, CAPTURE_BATCH):
        size = min(CAPTURE_BATCH, people - start)
        t0 = time.process_time()
        sources = [make_iris_source(rng) for _ in range(size)]
        t1 = time.process_time()
        first = capture_many(sources, rng, eye="R")
        second = capture_many(sources, rng, eye="R")
        t2 = time.process_time()
        source_cpu, capture_cpu = source_cpu + (t1 - t0), capture_cpu + (t2 - t1)
        for i, t in enumerate(second):
            gallery.add(t)
            if start + i < keep:
                a.append(first[i])
                b.append(t)
    single = time.process_time()
    for s in sources:
        capture(s, rng, eye="R")
    single = (time.process_time() - single) / len(sources) * 1e6
    return a, b, gallery.block(), source_cpu / people * 1e6, capture_cpu / (2 * people) * 1e6, single


def _speed(probes, block: IrisBlock) -> dict:
    prepared = [prepare_probe(p) for p in probes]
    score_many(prepared[0], block.rows(0, 8))  # compile / load the kernel outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    for p in prepared:
        for start in range(0, len(block), CHUNK):
            score_many(p, block.rows(start, start + CHUNK))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = len(prepared) * len(block)
    # the naive limit: one XOR-AND-popcount pass over the same bytes, no rotations
    lim_wall, lim_cpu = time.perf_counter(), time.process_time()
    for p in prepared:
        pc, pm = p.codes[0], p.masks[0]
        for start in range(0, len(block), CHUNK):
            gc, gm = block.codes[start : start + CHUNK], block.masks[start : start + CHUNK]
            joint = gm & pm
            np.bitwise_count((gc ^ pc) & joint).sum(axis=1)
            np.bitwise_count(joint).sum(axis=1)
    lim_cpu, lim_wall = time.process_time() - lim_cpu, time.perf_counter() - lim_wall
    rotations = int(prepared[0].shifts.size)
    return {
        "iris_cmp_per_s": n / cpu,
        "iris_cmp_per_s_wall": n / wall,
        "iris_rotations": rotations,
        "iris_rotation_cmp_per_s": n * rotations / cpu,
        "iris_limit_cmp_per_s": n / lim_cpu,
        "iris_limit_cmp_per_s_wall": n / lim_wall,
        "iris_gallery": len(block),
    }


def _accuracy(a, b, block: IrisBlock, impostor_probes: int) -> dict:
    imp, gen = [], []
    for i in range(len(a)):
        if i < impostor_probes:
            s = score_many(a[i], block)
            imp.append(np.delete(s.hd_norm, i))
            gen.append(s.hd_norm[i])
        else:
            gen.append(score_many(a[i], block.rows(i, i + 1)).hd_norm[0])
    imp, gen = np.concatenate(imp), np.array(gen)
    imp = imp[~np.isnan(imp)]
    mean, sd = float(imp.mean()), float(imp.std())
    dof = mean * (1 - mean) / sd**2
    raw0 = np.array([d / n for d, n in (reference_hd_at(a[i], b[i - 1], 0) for i in range(2000))])
    m0, s0 = float(raw0.mean()), float(raw0.std())
    out = {
        "impostor_comparisons": int(imp.size),
        "impostor_mean": mean,
        "impostor_sd": sd,
        "impostor_dof": dof,
        "impostor_min": float(imp.min()),
        "unrotated_mean": m0,
        "unrotated_sd": s0,
        "unrotated_dof": m0 * (1 - m0) / s0**2,
        "genuine_pairs": int(gen.size),
        "genuine_median": float(np.nanmedian(gen)),
        "genuine_unscorable": float(np.mean(np.isnan(gen))),
    }
    levels = sorted(set(DAUGMAN_FMR) | {IRIS_HD_MATCH, IRIS_HD_REVIEW})
    tail = tail_extrapolation(imp, levels)
    for th in levels:
        key = f"{th:.2f}"
        out[f"fmr_tail_extrapolated_{key}"] = tail[th]
        out[f"impostors_at_or_below_{key}"] = int(np.sum(imp <= th))
        out[f"fmr_binomial_fit_{key}"] = binomial_cdf(th, dof, mean)
        out[f"fnmr_{key}"] = float(np.mean(~(gen <= th)))
    return out


def run(seconds_budget: float = 90.0, seed: int = 20261129) -> dict:
    """Measure everything; ``seconds_budget`` (CPU seconds, roughly) sizes the impostor sample."""
    rng = np.random.default_rng(seed)
    people = max(GALLERY, GENUINE)
    a, b, block, source_us, capture_us, single_us = _population(rng, people, keep=GENUINE)
    result = {"source_us": source_us, "capture_us": capture_us, "capture_single_us": single_us}
    result.update(_speed(a[:SPEED_PROBES], block))
    spent = time.process_time()
    budget_left = max(5.0, seconds_budget - spent)
    probes = int(min(len(a), max(10, 0.7 * budget_left * result["iris_cmp_per_s"] / len(block))))
    result.update(_accuracy(a, b, block, impostor_probes=min(probes, GENUINE)))
    result.update(
        {
            "iris_hd_match": IRIS_HD_MATCH,
            "iris_hd_review": IRIS_HD_REVIEW,
            "load_average": os.getloadavg()[0],
            "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    )
    return result


if __name__ == "__main__":
    r = run()
    print(f"iris 1:N, full search {r['iris_cmp_per_s']:>12,.0f} cmp/s per CPU s "
          f"({r['iris_cmp_per_s_wall']:,.0f} wall), {r['iris_rotations']} rotations, "
          f"gallery {r['iris_gallery']:,}")
    print(f"naive limit, 1 rotation {r['iris_limit_cmp_per_s']:>12,.0f} cmp/s per CPU s "
          f"(matcher: {r['iris_rotation_cmp_per_s']:,.0f} rotation-cmp/s)")
    print(f"generator               {r['capture_us']:.0f} us/capture in batches of {CAPTURE_BATCH}, "
          f"{r['capture_single_us']:.0f} us one by one, {r['source_us']:.0f} us/eye")
    print(f"impostors ({r['impostor_comparisons']:,}): mean {r['impostor_mean']:.4f} "
          f"sd {r['impostor_sd']:.4f} dof {r['impostor_dof']:.0f} min {r['impostor_min']:.4f}; "
          f"unrotated mean {r['unrotated_mean']:.4f} sd {r['unrotated_sd']:.4f} "
          f"dof {r['unrotated_dof']:.0f}")
    for th in sorted(DAUGMAN_FMR):
        k = f"{th:.2f}"
        print(f"  HD {k}: impostors <= {r[f'impostors_at_or_below_{k}']}, "
              f"FMR binomial fit {r[f'fmr_binomial_fit_{k}']:.1e}, "
              f"tail line {r[f'fmr_tail_extrapolated_{k}']:.1e}, Daugman {DAUGMAN_FMR[th]:.1e}, "
              f"FNMR {r[f'fnmr_{k}']:.4f}")
    print(f"genuine ({r['genuine_pairs']:,}): median {r['genuine_median']:.3f}, "
          f"unscorable {r['genuine_unscorable']:.4f}")
    print(f"load average {r['load_average']:.2f} on {r['machine']}, {r['date']}")
    print(f"reproduce: {REPRODUCE}")
    print(json.dumps(r))
