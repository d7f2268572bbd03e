"""Blocking benchmark (pure core, no Kafka): hit rate and penetration rate of the blocking keys
per modality (iris, finger, demographic) and combined, at several gallery sizes.

What: builds a gallery of N synthetic people (one enrollment each: two irises, up to ten fingers,
demographics) in an in-memory capped index (key -> ids, at most ``POSTING_CAP`` ids per key, a
full list admits no more), then queries M probes that are genuine, independent recaptures of
gallery people (new iris captures and finger impressions of the same sources; a share of them
under another NIK and a respelled name, so only biometrics or the looser demographic keys can find
them). For each probe the candidates are the union of the posting lists of its keys.

Reports per modality, for iris and finger together ("biometric": what finds a duplicate under a new
identity) and combined: hit rate (share of probes whose true mate is a candidate),
penetration rate (candidates / gallery size), candidates per probe, keys per enrollment, and
oversized keys (keys whose posting list reached the cap, and how many ids they turned away).
The last line printed is one JSON object.

Reproduce: ``.venv/bin/python -m benchmarks.blocking --gallery 10000 --probes 1000``
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter

import numpy as np
import orjson

from streams.blocking import keys as demo_keys
from streams.blocking.biometric import MIN_SHARED_BIOMETRIC_KEYS, finger_keys_for, iris_keys_for
from streams.domain.types import Demographics, Enrollment
from streams.pipeline import POSTING_CAP
from streams.sim import finger as sf
from streams.sim import iris as si
from streams.sim.people import PeopleGenerator, respell

MODALITIES = ("iris", "finger", "demographic")
#: Share of probes sent under another NIK with a respelled name (a DUPLICATE, not a RECAPTURE).
NEW_IDENTITY_SHARE = 0.3
#: People generated per batch (iris captures are drawn a batch at a time).
BATCH = 500


def _enrollment(eid: str, nik: str, demo: Demographics, fingers, irises) -> Enrollment:
    return Enrollment(eid, "BENCH", "2017-01-01T00:00:00+07:00", 0.0, nik, demo, tuple(fingers),
                      tuple(irises))


def _keys_by_modality(e: Enrollment) -> dict[str, list[str]]:
    return {
        "iris": iris_keys_for(e),
        "finger": finger_keys_for(e),
        "demographic": demo_keys.demographic_keys(e),
    }


class CappedIndex:
    """key -> ids with at most ``cap`` ids per key, kept compactly (a Python dict of lists would
    need several GB at 100k enrollments): keys are 64-bit hashes, ``add`` appends (hash, id) in
    arrival order, ``freeze`` sorts and keeps the first ``cap`` ids of every key (what the
    engine's capped posting lists admit), counting oversized keys and the ids they turned away."""

    def __init__(self, cap: int = POSTING_CAP) -> None:
        self.cap = cap
        self._h: list[np.ndarray] = []
        self._i: list[np.ndarray] = []
        self.hashes = np.zeros(0, np.int64)
        self.ids = np.zeros(0, np.int64)
        self.distinct = self.oversized = self.turned_away = self.largest = 0

    def add(self, keys: list[str], ident: int) -> None:
        self._h.append(np.fromiter((hash(k) for k in keys), np.int64, len(keys)))
        self._i.append(np.full(len(keys), ident, np.int64))

    def freeze(self) -> None:
        h = np.concatenate(self._h) if self._h else np.zeros(0, np.int64)
        i = np.concatenate(self._i) if self._i else np.zeros(0, np.int64)
        self._h, self._i = [], []
        order = np.lexsort((i, h))  # by key, then arrival (ids arrive in increasing order)
        h, i = h[order], i[order]
        start = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
        sizes = np.diff(np.r_[start, h.size])
        rank = np.arange(h.size) - np.repeat(start, sizes)
        keep = rank < self.cap
        self.hashes, self.ids = h[keep], i[keep]
        self.distinct = int(start.size)
        self.oversized = int((sizes >= self.cap).sum())
        self.turned_away = int(np.maximum(sizes - self.cap, 0).sum())
        self.largest = int(sizes.max()) if sizes.size else 0

    def lookup(self, keys: list[str]) -> Counter:
        """Candidate id -> number of the probe's keys under which it was found."""
        q = np.fromiter((hash(k) for k in keys), np.int64, len(keys))
        lo = np.searchsorted(self.hashes, q, side="left")
        hi = np.searchsorted(self.hashes, q, side="right")
        out: Counter = Counter()
        for a, b in zip(lo.tolist(), hi.tolist()):
            if b > a:
                out.update(self.ids[a:b].tolist())
        return out


def run(gallery: int, probes: int, seed: int) -> dict:
    """Build a gallery of ``gallery`` people, query ``probes`` recaptures; return the figures."""
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    people = PeopleGenerator(seed)
    probe_ids = set(rng.choice(gallery, size=min(probes, gallery), replace=False).tolist())
    index = {m: CappedIndex() for m in MODALITIES}
    keys_per = {m: 0 for m in MODALITIES}
    probe_data: list[tuple[int, Enrollment]] = []
    t0 = time.perf_counter()
    t_keys = 0.0
    for start in range(0, gallery, BATCH):
        n = min(BATCH, gallery - start)
        folk = people.people(n)
        srcs = {eye: [si.make_iris_source(rng) for _ in range(n)] for eye in ("R", "L")}
        caps = {eye: si.capture_many(srcs[eye], rng, eye=eye) for eye in ("R", "L")}
        ids = [start + i for i in range(n)]
        wanted = [i for i, g in enumerate(ids) if g in probe_ids]
        recaps = {eye: si.capture_many([srcs[eye][i] for i in wanted], rng, eye=eye)
                  for eye in ("R", "L")} if wanted else {"R": [], "L": []}
        w = 0
        for i, g in enumerate(ids):
            masters = sf.make_person_fingers(rng)
            fingers = sf.capture_fingers(masters, rng)
            p = folk[i]
            e = _enrollment(f"G{g}", p.nik, p.demographics, fingers, (caps["R"][i], caps["L"][i]))
            tk = time.perf_counter()
            km = _keys_by_modality(e)
            t_keys += time.perf_counter() - tk
            for m in MODALITIES:
                keys_per[m] += len(km[m])
                index[m].add(km[m], g)
            if g in probe_ids:
                demo, nik = p.demographics, p.nik
                if prng.random() < NEW_IDENTITY_SHARE:
                    nik = nik[:12] + f"{(int(nik[12:]) + 7 + prng.randrange(90)) % 10000:04d}"
                    demo = Demographics(respell(demo.full_name, prng, demo.sex), demo.birth_place,
                                        demo.birth_date, demo.sex, demo.region_code)
                probe = _enrollment(f"P{g}", nik, demo, sf.capture_fingers(masters, rng),
                                    (recaps["R"][w], recaps["L"][w]))
                w += 1
                probe_data.append((g, probe))
    for idx in index.values():
        idx.freeze()
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    rows = (*MODALITIES, "biometric", "combined", "biometric_voted", "combined_voted")
    hits = {m: 0 for m in rows}
    cands = {m: 0 for m in rows}
    for g, probe in probe_data:
        km = _keys_by_modality(probe)
        union: set[int] = set()
        found = {m: index[m].lookup(km[m]) for m in MODALITIES}
        for m in MODALITIES:
            c = set(found[m])
            hits[m] += g in c
            cands[m] += len(c)
            union |= c
            if m == "finger":  # iris and finger: what finds a duplicate under a new identity
                hits["biometric"] += g in union
                cands["biometric"] += len(union)
        hits["combined"] += g in union
        cands["combined"] += len(union)
        # The engine's candidate rule (biometric.select_candidates): biometric-only candidates
        # need MIN_SHARED_BIOMETRIC_KEYS shared keys; demographic ones are kept.
        votes = found["iris"] + found["finger"]
        voted = {c for c, n in votes.items() if n >= MIN_SHARED_BIOMETRIC_KEYS}
        hits["biometric_voted"] += g in voted
        cands["biometric_voted"] += len(voted)
        voted |= set(found["demographic"])
        hits["combined_voted"] += g in voted
        cands["combined_voted"] += len(voted)
    query_s = time.perf_counter() - t1
    m_probes = max(1, len(probe_data))
    out: dict = {"gallery": gallery, "probes": len(probe_data), "seed": seed,
                 "posting_cap": POSTING_CAP, "build_s": round(build_s, 1),
                 "key_ms_per_enrollment": round(1e3 * t_keys / gallery, 2),
                 "query_s": round(query_s, 1)}
    for m in rows:
        out[m] = {
            "hit_rate": round(hits[m] / m_probes, 5),
            "candidates_per_probe": round(cands[m] / m_probes, 1),
            "penetration": round(cands[m] / m_probes / gallery, 6),
        }
        if m in index:
            idx = index[m]
            out[m].update({
                "keys_per_enrollment": round(keys_per[m] / gallery, 1),
                "distinct_keys": idx.distinct,
                "oversized_keys": idx.oversized,
                "ids_turned_away": idx.turned_away,
                "largest_posting": idx.largest,
            })
    return out


def _print(r: dict) -> None:
    print(f"gallery {r['gallery']:,}  probes {r['probes']:,}  build {r['build_s']} s  "
          f"keys {r['key_ms_per_enrollment']} ms/enrollment  query {r['query_s']} s")
    print(f"  {'modality':<16}{'hit rate':>10}{'cand/probe':>12}{'penetration':>13}"
          f"{'keys/enr':>10}{'oversized':>11}{'turned away':>13}{'largest':>9}")
    for m in (*MODALITIES, "biometric", "combined", "biometric_voted", "combined_voted"):
        d = r[m]
        print(f"  {m:<16}{100 * d['hit_rate']:>9.2f}%{d['candidates_per_probe']:>12.1f}"
              f"{100 * d['penetration']:>12.4f}%{d.get('keys_per_enrollment', ''):>10}"
              f"{d.get('oversized_keys', ''):>11}{d.get('ids_turned_away', ''):>13}"
              f"{d.get('largest_posting', ''):>9}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", type=int, nargs="+", default=[10_000])
    ap.add_argument("--probes", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    results = []
    for n in args.gallery:
        r = run(n, args.probes, args.seed)
        _print(r)
        sys.stdout.flush()
        results.append(r)
    print("reproduce: .venv/bin/python -m benchmarks.blocking --gallery "
          + " ".join(str(n) for n in args.gallery) + f" --probes {args.probes} --seed {args.seed}")
    print(orjson.dumps({"benchmark": "blocking", "results": results}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
