"""Comparators benchmark (issue 3): speed per core of every kernel, and the accuracy figures.

Speed (per CPU second of this single-threaded process, ``time.process_time``):

* ``iris_cmp_per_s`` / ``iris_limit_cmp_per_s``: from ``bench_iris.run`` (full 33-rotation search
  vs one numpy XOR-AND-popcount pass over the same bytes).
* ``finger_cmp_per_s`` and ``finger_eer``: from ``bench_finger.run`` (smaller sample).
* ``demographic_pairs_per_s``: from ``bench_demographic.run`` (smaller gallery).
* ``fused_pairs_per_s``: full enrollment pairs (2 irises + 10 fingers + demographics) through
  ``fusion.compare`` with a candidate block of ``FUSED_BLOCK`` enrollments, with the split of
  ``fusion.evidence_many``'s time into iris, demographics and fingers.

Accuracy (the pipeline of tests/unit/matching/test_fusion_accuracy.py, same seed and sizes):
fused FNMR and REVIEW rates over 3,000 genuine pairs, false MATCH / REVIEW counts over >= 10^6
impostor pairs, and the extrapolated per-pair fused false-match rate (docs/calibration.md): the
per-eye impostor tail fitted log-linearly, the fingers' fused LLR tail by convolving the measured
per-finger impostor LLR distribution (one pseudo-count at the clip maximum), routes combined as
independent modalities; then FPIR = 1 - (1 - FMR)^N for N = 10^7.

Reproduce (under 5 minutes on the 2-core machine):

    .venv/bin/python benchmarks/comparators.py

The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from datetime import datetime, timezone

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]

import numpy as np  # noqa: E402

import bench_demographic  # noqa: E402
import bench_finger  # noqa: E402
import bench_iris  # noqa: E402
from streams.decide.graph import MATCH, REVIEW  # noqa: E402
from streams.matching import demographic, fusion, iris  # noqa: E402
from streams.matching import finger as F  # noqa: E402
from streams.matching import thresholds as T  # noqa: E402
from tests.unit.matching import test_fusion_accuracy as A  # noqa: E402

REPRODUCE = ".venv/bin/python benchmarks/comparators.py"
FUSED_BLOCK = 180  # candidates per probe in the fused speed run (a realistic blocked block)
FUSED_PROBES = 5
N_SEARCH = 10_000_000
#: LLR grid step of the finger convolution; values are rounded UP to it (conservative).
LLR_STEP = 0.1
#: Iris tail fit: levels with at least this many impostors enter the log-linear fit.
TAIL_LEVELS = np.round(np.arange(0.33, 0.401, 0.01), 2)
TAIL_MIN_COUNT = 10


def iris_tail(hd: np.ndarray) -> dict[float, float]:
    """Per-eye FMR at the iris thresholds by a line through log10(empirical FMR) of the tail."""
    counts = np.array([np.sum(hd <= x) for x in TAIL_LEVELS])
    use = counts >= TAIL_MIN_COUNT
    slope, icpt = np.polyfit(TAIL_LEVELS[use], np.log10(counts[use] / hd.size), 1)
    return {x: float(10 ** (icpt + slope * x)) for x in (0.30, T.IRIS_HD_AT_FMR_1E8, T.IRIS_HD_AT_FMR_4E6)}


def llr_pmf(pool: np.ndarray) -> np.ndarray:
    """Per-finger impostor LLR pmf of the usable outcomes of ``pool`` on the grid
    LLR_MIN..LLR_MAX (step LLR_STEP, values rounded up), with one pseudo-count at LLR_MAX."""
    llr = F.finger_llr(pool[~np.isnan(pool)])
    idx = np.ceil((llr - F.LLR_MIN) / LLR_STEP - 1e-9).astype(int)
    size = int(round((F.LLR_MAX - F.LLR_MIN) / LLR_STEP)) + 1
    pmf = np.bincount(idx, minlength=size).astype(float)
    pmf[-1] += 1.0
    return pmf / pmf.sum()


def finger_tail(pmf: np.ndarray, k: int, at: float) -> float:
    """P(sum of k independent per-finger LLRs >= at)."""
    dist = np.array([1.0])
    for _ in range(k):
        dist = np.convolve(dist, pmf)
    grid = k * F.LLR_MIN + LLR_STEP * np.arange(dist.size)
    return float(dist[grid >= at - 1e-9].sum())


def mixture_tail(pmf: np.ndarray, compared: np.ndarray, at: float, min_fingers: int = 1) -> float:
    """P(fused LLR >= at) over impostor pairs with the measured mix of fingers compared."""
    share = np.bincount(compared, minlength=11) / compared.size
    return float(sum(share[k] * finger_tail(pmf, k, at) for k in range(max(1, min_fingers), 11)))


def fused_fmr(p_eye: float, p_eye_grey: float, eye_not_miss: float, pmf: np.ndarray,
              compared: np.ndarray, fingers_not_miss: float) -> dict:
    """Per-pair false-MATCH estimate by route, modalities independent for impostors (docs).
    ``eye_not_miss``: P(an impostor's eye is absent or <= IRIS_HD_CLEARLY_DIFFERENT);
    ``fingers_not_miss``: measured P(no finger evidence or fused LLR >= FINGER_LLR_CLEARLY_DIFFERENT)."""
    f_match = mixture_tail(pmf, compared, T.FINGER_LLR_MATCH, T.FINGER_MIN_FOR_MATCH)
    f_grey = mixture_tail(pmf, compared, T.FINGER_LLR_REVIEW)
    routes = {
        "iris": 2 * p_eye * eye_not_miss * fingers_not_miss,  # an eye matches, nothing differs
        "finger": f_match * eye_not_miss**2,  # fingers match, neither eye clearly differs
        "grey_with_twin_demographics": (2 * p_eye_grey * eye_not_miss * fingers_not_miss
                                        + f_grey * eye_not_miss**2),
    }
    return {"routes": routes, "fmr": sum(routes.values()), "finger_match_mix": f_match,
            "finger_match_3": finger_tail(pmf, T.FINGER_MIN_FOR_MATCH, T.FINGER_LLR_MATCH),
            "finger_match_10": finger_tail(pmf, 10, T.FINGER_LLR_MATCH),
            "finger_grey_3": finger_tail(pmf, 3, T.FINGER_LLR_REVIEW),
            "finger_grey_10": finger_tail(pmf, 10, T.FINGER_LLR_REVIEW),
            "finger_grey_mix": f_grey,
            # REVIEW: any grey, or a MATCH that something contradicts
            "review": 2 * p_eye_grey + f_grey + 2 * p_eye * (1 - eye_not_miss * fingers_not_miss),
            "single_eye_alone": p_eye}  # one eye, no other eye, no fingers: the worst probe


def fpir(fmr: float, n: int = N_SEARCH) -> float:
    return -math.expm1(n * math.log1p(-fmr))


def fused_speed(pop: A.Pop) -> dict:
    """fusion.compare over a block of FULL candidates (10 fingers + 2 irises each)."""
    full = [i for i in range(pop.full) if len(pop.b[i].fingers) >= 9 and len(pop.b[i].irises) == 2]
    probes = [pop.a[i] for i in full[:FUSED_PROBES]]
    cands = [pop.b[i] for i in full[FUSED_PROBES:FUSED_PROBES + FUSED_BLOCK]]
    fusion.compare(probes[0], cands[:4])
    c0 = time.process_time()
    for p in probes:
        fusion.compare(p, cands)
    cpu = time.process_time() - c0
    parts = {"iris": 0.0, "demographic": 0.0, "finger": 0.0}
    for p in probes:
        t = time.process_time()
        fusion._iris_scores(p, cands)  # noqa: SLF001 - the split of evidence_many's time
        parts["iris"] += time.process_time() - t
        t = time.process_time()
        demographic.score_many(p.demo, [c.demo for c in cands], model=demographic.MODEL_WITHOUT_NIK)
        parts["demographic"] += time.process_time() - t
        t = time.process_time()
        for c in cands:
            F.fuse_enrollments(p.fingers, c.fingers)
        parts["finger"] += time.process_time() - t
    total = sum(parts.values())
    n = len(probes) * len(cands)
    return {"fused_pairs_per_s": n / cpu, "fused_block": len(cands),
            "fused_time_share": {k: v / total for k, v in parts.items()}}


def accuracy() -> tuple[dict, A.Pop]:
    rng = np.random.default_rng(A.SEED + 1)
    pop = A.build_population()
    full = A.full_pairs(pop)
    gen = A.genuine_evidence(pop, full, rng)
    imp = A.impostor_scores(pop, A.IMPOSTOR_PAIRS, full["impostor_pool"], rng)
    dec = [fusion.decide_pair(e)[0] for e in gen]
    counts = A.decide_all(imp)
    twin_counts = A.decide_all(imp, demo_override=1.0)
    hd = np.concatenate([imp["R"], imp["L"]])
    hd = hd[~np.isnan(hd)]
    ghd = np.array([v for e in gen for v in e.iris_hd.values()])
    tail = iris_tail(hd)
    pmf = llr_pmf(full["impostor_pool"])
    both = np.concatenate([imp["R"], imp["L"]])
    eye_not_miss = float(np.mean(~(both > T.IRIS_HD_CLEARLY_DIFFERENT)))  # NaN (absent) counts
    fingers_not_miss = float(np.mean((imp["fingers"] == 0) | (imp["llr"] >= T.FINGER_LLR_CLEARLY_DIFFERENT)))
    est = fused_fmr(tail[T.IRIS_HD_AT_FMR_1E8], tail[T.IRIS_HD_AT_FMR_4E6], eye_not_miss, pmf,
                    imp["fingers"], fingers_not_miss)
    held = full["held"]
    ks_llr, _ = A.sample_fingers(full["impostor_pool"], np.repeat(held[:, 1].astype(int), A.KS_SAMPLES),
                                 np.random.default_rng(A.SEED + 2))
    ks = A.ks_statistic(held[:, 0], ks_llr)
    ks_crit = A.KS_ALPHA_C * math.sqrt((held.shape[0] + ks_llr.size) / (held.shape[0] * ks_llr.size))
    ipool = full["impostor_pool"][~np.isnan(full["impostor_pool"])]
    gpool = full["genuine_pool"][~np.isnan(full["genuine_pool"])]
    gllr = np.array([e.finger.llr for e in gen if e.finger is not None])
    n_imp = int(imp["R"].size)
    out = {
        "fused_genuine_pairs": len(dec),
        "fused_fnmr": sum(d != MATCH for d in dec) / len(dec),
        "fused_genuine_review_rate": sum(d == REVIEW for d in dec) / len(dec),
        "fused_impostor_pairs": n_imp,
        "fused_false_matches": counts[MATCH],
        "fused_impostor_review_rate": counts[REVIEW] / n_imp,
        "fused_false_matches_twin_demographics": twin_counts[MATCH],
        "fused_fmr_observed_bound_95": 3.0 / n_imp,  # rule of three: 0 of n
        "fused_fmr_extrapolated": est["fmr"],
        "fused_fmr_routes": est["routes"],
        "fpir_at_1e7_extrapolated": fpir(est["fmr"]),
        "single_eye_alone_fmr": est["single_eye_alone"],
        "fpir_at_1e7_single_eye_alone": fpir(est["single_eye_alone"]),
        "fused_impostor_review_extrapolated": est["review"],
        "finger_fused_fmr_10_at_match": est["finger_match_10"],
        "finger_fused_fmr_3_at_match": est["finger_match_3"],
        "finger_fused_fmr_mix_at_match": est["finger_match_mix"],
        "finger_fused_grey": {"3": est["finger_grey_3"], "10": est["finger_grey_10"], "mix": est["finger_grey_mix"]},
        "finger_not_clearly_different_share": fingers_not_miss,
        "iris_eye_not_clearly_different_share": eye_not_miss,
        "iris_eye_missing_share": float(np.mean(np.isnan(both))),
        "finger_ks_statistic": ks, "finger_ks_critical": ks_crit,
        "finger_ks_p99": [float(np.percentile(held[:, 0], 99)), float(np.percentile(ks_llr, 99))],
        "finger_impostor_llr_percentiles": {p: float(np.percentile(F.finger_llr(ipool), p)) for p in (50, 99, 99.9)},
        "finger_impostor_llr_max_single": float(F.finger_llr(ipool).max()),
        "finger_genuine_pool": int(gpool.size),
        "finger_genuine_llr_single_percentiles": {p: float(np.percentile(F.finger_llr(gpool), p)) for p in (1, 5, 50)},
        "iris_impostor_eyes": int(hd.size), "iris_impostor_mean": float(hd.mean()),
        "iris_impostor_sd": float(hd.std()), "iris_impostor_min": float(hd.min()),
        "iris_fmr_tail_per_eye": {f"{k:.2f}": v for k, v in tail.items()},
        "iris_genuine_eyes": int(ghd.size),
        "iris_fnmr": float(np.mean(ghd > T.IRIS_HD_AT_FMR_1E8)),
        "iris_genuine_grey_share": float(np.mean((ghd > T.IRIS_HD_AT_FMR_1E8) & (ghd <= T.IRIS_HD_AT_FMR_4E6))),
        "iris_genuine_percentiles": {p: float(np.percentile(ghd, p)) for p in (50, 90, 99, 99.9)},
        "finger_impostor_pool": int(full["impostor_pool"].size),
        "finger_impostor_llr_max_computed": float(max(e.finger.llr for e in full["impostor_ev"] if e.finger)),
        "finger_impostor_llr_max_sampled": float(imp["llr"][imp["fingers"] > 0].max()),
        "finger_genuine_llr_min": float(gllr.min()),
        "finger_genuine_llr_p1": float(np.percentile(gllr, 1)),
        "demographic_impostor_at_support": int(np.sum(imp["demo"] >= T.DEMOGRAPHIC_SUPPORT)),
        "demographic_genuine_at_support": float(np.mean([e.demographic >= T.DEMOGRAPHIC_SUPPORT for e in gen])),
    }
    return out, pop


def main() -> dict:
    wall0 = time.perf_counter()
    result: dict = {}
    acc, pop = accuracy()
    result.update(fused_speed(pop))
    result.update(acc)
    ir = bench_iris.run(seconds_budget=20.0)
    result.update({k: ir[k] for k in ("iris_cmp_per_s", "iris_limit_cmp_per_s", "iris_rotation_cmp_per_s")})
    result["iris_over_limit"] = ir["iris_cmp_per_s"] / ir["iris_limit_cmp_per_s"]
    fr = bench_finger.run(n_fingers=500, n_probes=100, n_persons=40)
    result.update({"finger_cmp_per_s": fr["finger_cmp_per_s"], "finger_eer": fr["eer"],
                   "finger_prepare_ms": fr["prepare_ms"]})
    dr = bench_demographic.run(gallery=10_000, probes=10, people=2000, repeats=1)
    result["demographic_pairs_per_s"] = dr["demographic_pairs_per_s"]
    result.update({"wall_s": time.perf_counter() - wall0, "load_average": os.getloadavg()[0],
                   "machine": f"{os.uname().machine} {os.cpu_count()} cpu",
                   "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "reproduce": REPRODUCE})
    return result


if __name__ == "__main__":
    r = main()
    print(f"iris {r['iris_cmp_per_s']:.0f}/s (naive limit {r['iris_limit_cmp_per_s']:.0f}/s); finger "
          f"{r['finger_cmp_per_s']:.0f}/s; demographic {r['demographic_pairs_per_s']:.0f}/s; fused "
          f"{r['fused_pairs_per_s']:.0f} pairs/s (time share {r['fused_time_share']})")
    print(f"fused FNMR {r['fused_fnmr']:.4%} of {r['fused_genuine_pairs']}; false MATCH "
          f"{r['fused_false_matches']} of {r['fused_impostor_pairs']}; REVIEW genuine "
          f"{r['fused_genuine_review_rate']:.4%} impostor {r['fused_impostor_review_rate']:.2e}; FMR "
          f"extrapolated {r['fused_fmr_extrapolated']:.2e}, FPIR at 1e7 {r['fpir_at_1e7_extrapolated']:.2e}")
    print(f"reproduce: {REPRODUCE}")
    print(json.dumps(r))
