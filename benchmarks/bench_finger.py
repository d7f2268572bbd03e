"""Finger matcher benchmark: speed per core, single-finger accuracy, multi-finger fusion.

Data come from ``streams.sim.finger`` (known ground truth): ``N_FINGERS`` fingers of one position,
two impressions each. Genuine pairs: the two impressions of each finger. Impostor pairs: each of
``N_PROBES`` probes against every other finger's gallery impression (all pattern classes; the
same-class subset is reported apart). Speed is CPU time of one process (``time.process_time``),
so figures stay meaningful on a shared machine; the wall-clock rate is reported too.

Run: ``.venv/bin/python -m benchmarks.bench_finger`` (prints figures, then one JSON line).
"""

from __future__ import annotations

import json
import platform
import time

import numpy as np

from streams.matching import finger as F
from streams.sim.finger import capture_fingers, impression, make_finger, make_person_fingers

N_FINGERS = 1000
N_PROBES = 200
N_PERSONS = 150
SEED = 20261129
FMRS = (1e-2, 1e-3, 1e-4)


def error_rates(gen: np.ndarray, imp: np.ndarray) -> dict:
    """EER and, per target FMR, the smallest threshold meeting it and the FNMR there."""
    imp_sorted = np.sort(imp)
    out: dict = {}
    for fmr in FMRS:
        k = int(np.floor(fmr * imp.size))  # at most k impostors may reach the threshold
        thr = float(np.nextafter(imp_sorted[imp.size - k - 1], np.inf)) if k < imp.size else 0.0
        out[f"thr_at_fmr_{fmr:g}"] = thr
        out[f"fnmr_at_fmr_{fmr:g}"] = float((gen < thr).mean())
        out[f"fmr_resolvable_{fmr:g}"] = bool(imp.size * fmr >= 1.0)
    ths = np.unique(np.concatenate([gen, imp]))
    fnmr = np.searchsorted(np.sort(gen), ths, side="left") / gen.size
    fmr = 1.0 - np.searchsorted(imp_sorted, ths, side="left") / imp.size
    i = int(np.argmin(np.abs(fmr - fnmr)))
    out["eer"] = float((fmr[i] + fnmr[i]) / 2)
    return out


#: Bin edges (score) of the LLR calibration: dense where impostor and genuine scores overlap.
LLR_EDGES = (0.0, 0.012, 0.013, 0.014, 0.015, 0.016, 0.017, 0.018, 0.02, 0.022, 0.025, 0.03, 0.04, 0.06, 0.1, 1.0)


def calibrate_llr(gen: np.ndarray, imp: np.ndarray) -> list[tuple[float, float]]:
    """A monotone piecewise-linear score -> log-likelihood-ratio table from binned densities.

    Each bin's LLR is log of the genuine share over the impostor share (add-half smoothing),
    made non-decreasing, clipped to [LLR_MIN, LLR_MAX]; the knot sits at the bin's median score.
    """
    edges = np.array(LLR_EDGES)
    g, _ = np.histogram(gen, edges)
    m, _ = np.histogram(imp, edges)
    llr = np.log((g + 0.5) / gen.size) - np.log((m + 0.5) / imp.size)
    llr = np.clip(np.maximum.accumulate(llr), F.LLR_MIN, F.LLR_MAX)
    pooled = np.concatenate([gen, imp])
    knots = []
    for k in range(len(edges) - 1):
        inside = pooled[(pooled >= edges[k]) & (pooled < edges[k + 1])]
        centre = float(np.median(inside)) if inside.size else float((edges[k] + edges[k + 1]) / 2)
        knots.append((round(centre, 5), round(float(llr[k]), 3)))
    return knots


def run(n_fingers: int = N_FINGERS, n_probes: int = N_PROBES, n_persons: int = N_PERSONS, seed: int = SEED) -> dict:
    rng = np.random.default_rng(seed)
    masters = [make_finger(rng, 2) for _ in range(n_fingers)]
    t0 = time.process_time()
    gallery = [F.prepare(impression(m, rng)) for m in masters]
    probes = [F.prepare(impression(m, rng)) for m in masters]
    prepare_ms = (time.process_time() - t0) / (2 * n_fingers) * 1e3
    gen = np.array([F.score(a, b) for a, b in zip(probes, gallery)])
    block = F.pack(gallery)
    F.score_many(probes[0], block)  # compiled already; warm the caches
    c0, w0 = time.process_time(), time.perf_counter()
    rows = np.stack([F.score_many(p, block) for p in probes[:n_probes]])
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    off = ~np.eye(n_fingers, dtype=bool)[:n_probes]
    imp = rows[off]
    cls = np.array([m.pattern for m in masters])
    same = (cls[:n_probes, None] == cls[None, :])[off]
    single = error_rates(gen, imp)
    same_class = error_rates(gen, imp[same])

    # multi-finger fusion: two capture sessions per person, same-position pairs only
    people = [make_person_fingers(rng) for _ in range(n_persons)]
    sessions = [[tuple(F.prepare(v) for v in capture_fingers(p, rng)) for p in people] for _ in range(2)]
    # (pairs with no finger position in common carry no evidence and are left out)
    fused_gen = np.array([r.llr for r in (F.fuse_enrollments(a, b) for a, b in zip(*sessions)) if r.fingers])
    pairs = [(i, j) for i in range(n_persons) for j in range(i + 1, min(i + 11, n_persons))]
    fused = (F.fuse_enrollments(sessions[0][i], sessions[1][j]) for i, j in pairs)
    fused_imp = np.array([r.llr for r in fused if r.fingers])
    return {
        "finger_cmp_per_s": float(rows.size / cpu),
        "finger_cmp_per_s_wall": float(rows.size / wall),
        "prepare_ms": float(prepare_ms),
        "genuine_pairs": int(gen.size),
        "impostor_pairs": int(imp.size),
        "same_class_impostor_pairs": int(same.sum()),
        "eer": single["eer"],
        "fnmr_at_fmr_1e-3": single["fnmr_at_fmr_0.001"],
        "fnmr_at_fmr_1e-4": single["fnmr_at_fmr_0.0001"],
        "single": single,
        "same_class": same_class,
        "genuine_percentiles": {p: float(np.percentile(gen, p)) for p in (1, 5, 10, 25, 50, 75)},
        "impostor_percentiles": {p: float(np.percentile(imp, p)) for p in (50, 90, 99, 99.9, 99.99)},
        "impostor_max": float(imp.max()),
        "llr_table": calibrate_llr(gen, imp),
        "fused_genuine_llr_min": float(fused_gen.min()),
        "fused_genuine_llr_p1": float(np.percentile(fused_gen, 1)),
        "fused_impostor_llr_max": float(fused_imp.max()),
        "fused_pairs": [int(fused_gen.size), int(fused_imp.size)],
        "machine": f"{platform.machine()} {platform.python_version()}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


if __name__ == "__main__":
    r = run()
    print(f"finger comparisons/s, one core (CPU time): {r['finger_cmp_per_s']:.0f} (wall {r['finger_cmp_per_s_wall']:.0f})")
    print(f"prepare: {r['prepare_ms']:.2f} ms per finger")
    print(f"pairs: {r['genuine_pairs']} genuine, {r['impostor_pairs']} impostor ({r['same_class_impostor_pairs']} same class)")
    print(f"EER {r['eer']:.4f}; FNMR at FMR 1e-3 {r['fnmr_at_fmr_1e-3']:.4f}; at 1e-4 {r['fnmr_at_fmr_1e-4']:.4f}")
    for name in ("single", "same_class"):
        s = r[name]
        print(f"  {name}: EER {s['eer']:.4f}; " + "; ".join(f"FMR {f:g}: thr {s[f'thr_at_fmr_{f:g}']:.4f} FNMR {s[f'fnmr_at_fmr_{f:g}']:.4f}" for f in FMRS))
    print(f"genuine percentiles {r['genuine_percentiles']}")
    print(f"impostor percentiles {r['impostor_percentiles']} max {r['impostor_max']:.4f}")
    print(f"llr table {r['llr_table']}")
    print(f"fused LLR: genuine min {r['fused_genuine_llr_min']:.2f} (p1 {r['fused_genuine_llr_p1']:.2f}), impostor max {r['fused_impostor_llr_max']:.2f}")
    print("reproduce: .venv/bin/python -m benchmarks.bench_finger")
    print(json.dumps(r))
