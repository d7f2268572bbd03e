"""Blocking benchmark (pure core, no Kafka): hit rate and penetration rate of the blocking keys
per modality (iris, finger, demographic) and combined, at several gallery sizes.

What: builds a gallery of N synthetic people (one enrollment each: two irises, up to ten fingers,
demographics) in an in-memory capped index (key -> ids, at most ``POSTING_CAP`` ids per key; a
list that reaches the cap is demoted, as in ``streams.pipeline.index_probe``: it admits no more
ids and answers no lookup from a non-member), then queries M probes that are genuine, independent
recaptures of gallery people (new iris captures and finger impressions of the same sources; a
share of them under another NIK, with the name respelled, the birth date mistyped and the
region moved as the simulator's DUPLICATE stories are, so only biometrics or the looser
demographic keys can find them). For each probe the candidates are the union of the posting
lists of its keys.

Biometrics come from the simulator's compiled kernels, the ones ``tunggal simulate`` renders
with (``streams.sim.events.person_fingers`` / ``person_irises``, then
``finger_sets.capture_session`` and ``iris.capture_eyes`` on a keyed stream per capture): the
same model as the numpy reference of ``streams.sim.finger`` / ``streams.sim.iris``, about 1.4 ms
of CPU per person instead of ~18 ms, so the key derivation (~3.7 ms) is now most of the cost.
People are built in chunks by ``--workers`` forked processes; every person and capture is a
function of (seed, person) alone, so the figures do not depend on the number of workers.

Reports per modality, for iris and finger together ("biometric": what finds a duplicate under a new
identity) and combined: hit rate (share of probes whose true mate is a candidate),
penetration rate (candidates / gallery size), candidates per probe, keys per enrollment, and
oversized keys (keys whose posting list reached the cap, and how many ids they turned away).
"voted" rows apply the two-shared-keys rule (``MIN_SHARED_BIOMETRIC_KEYS``) to biometric-only
candidates. The engine indexes the finger positions of ``keys.INDEXED_FINGERS`` only: row
"finger_indexed" is the finger modality restricted to them, and "combined_engine" is exactly what
the engine does (the probe's ``streams.blocking.keys.keys_for``, demoted lists skipped, then
``pipeline.tally_hits`` and ``pipeline.select_candidates``); "biometric_engine" is the same with
only its biometric keys (a duplicate under a fully false identity). The gallery side of the
engine rows uses the modality indexes, whose posting lists are the engine's for every key of
``keys_for`` (keys name their modality and finger position); a sample of gallery enrollments
checks that the composed key set equals ``keys_for``. "combined_engine_before" is the engine's
rule before 2026-12-08: every demographic key admitted a candidate alone, weak ones (a name token
with a birth year or day/month) included, and any two biometric keys did, even of one finger or
one eye. "voting keys shared" gives the histograms behind the current rule; "engine impostor
candidates by source" splits the engine's impostor candidates per probe by the keys that
brought them. The last line printed is one JSON object.

Reproduce: ``.venv/bin/python -m benchmarks.blocking --gallery 10000 100000 --probes 2000``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import sys
import time
from collections import Counter
from datetime import date

import numpy as np
import orjson

from streams.blocking import keys as bkeys
from streams.blocking.biometric import BIOMETRIC_PREFIXES, MIN_SHARED_BIOMETRIC_KEYS, iris_keys_for
from streams.blocking.finger_keys import finger_keys
from streams.domain.types import Demographics, Enrollment
from streams.pipeline import POSTING_CAP, select_candidates, tally_hits
from streams.sim import finger as sf
from streams.sim import finger_sets, rand
from streams.sim import iris as si
from streams.sim.events import EYES, person_fingers, person_irises
from streams.sim.people import PeopleGenerator, perturb_birth_date, respell
from streams.sim.scenarios import DUP_OTHER_BIRTH_DATE, DUP_OTHER_REGION, DUP_RESPELL

MODALITIES = ("iris", "finger", "demographic")
ROWS = (*MODALITIES, "finger_indexed", "biometric", "combined", "biometric_voted",
        "combined_voted", "biometric_engine", "combined_engine", "combined_engine_before")
#: Share of probes sent under another NIK (a DUPLICATE, not a RECAPTURE), with the name respelled,
#: the birth date mistyped and the region moved at the simulator's DUPLICATE rates.
NEW_IDENTITY_SHARE = 0.3
#: People per unit of work handed to a worker process.
CHUNK = 500
#: Stream tag of the benchmark's captures: (seed, tag, person, 0) the gallery capture,
#: (seed, tag, person, 1) the probe (the population renderer uses other tags).
_CAPTURE_TAG = 7
#: Gallery enrollments per chunk whose composed engine key set is checked against keys_for.
_CHECKED_PER_CHUNK = 2
_INDEXED_PREFIXES = tuple(f"fp:{p}:" for p in sorted(bkeys.INDEXED_FINGERS))


def _enrollment(eid: str, nik: str, demo: Demographics, fingers, irises) -> Enrollment:
    return Enrollment(eid, "BENCH", "2017-01-01T00:00:00+07:00", 0.0, nik, demo, tuple(fingers),
                      tuple(irises))


def _capture(seed: int, person: int, attempt: int, masters, which, sources):
    """One capture of a person's fingers and eyes, from its own keyed stream."""
    stream = rand.stream(seed, _CAPTURE_TAG, person, attempt)
    irises = si.capture_eyes(sources, stream, EYES)
    views = finger_sets.capture_session(masters, stream, which=which).views() if which else ()
    return views, irises


def _keys_by_modality(e: Enrollment) -> dict[str, list[str]]:
    return {
        "iris": iris_keys_for(e),
        "finger": sorted({k for f in e.fingers for k in finger_keys(f)}),
        "demographic": bkeys.demographic_keys(e),
    }


def _engine_keys(km: dict[str, list[str]]) -> list[str]:
    """``keys_for`` composed from the modality keys (checked against it on a sample)."""
    indexed = [k for k in km["finger"] if k.startswith(_INDEXED_PREFIXES)]
    return sorted(set(km["demographic"]) | set(km["iris"]) | set(indexed))


def _hashes(keys: list[str]) -> np.ndarray:
    return np.fromiter((hash(k) for k in keys), np.int64, len(keys))


def build_chunk(job: tuple) -> dict:
    """A worker's unit: gallery people ``start..start+len(people)-1`` (their key hashes per
    modality) and the keys of the probes among them."""
    seed, start, people, probes = job
    h: dict[str, list[np.ndarray]] = {m: [] for m in MODALITIES}
    counts = Counter()
    t_keys = 0.0
    probe_keys = []
    checked = 0
    for i, (nik, demo) in enumerate(people):
        g = start + i
        masters, which = person_fingers(seed, g, sf.FINGER_POSITIONS)
        sources = person_irises(seed, g)
        views, irises = _capture(seed, g, 0, masters, which, sources)
        e = _enrollment(f"G{g}", nik, demo, views, irises)
        tk = time.perf_counter()
        km = _keys_by_modality(e)
        t_keys += time.perf_counter() - tk
        for m in MODALITIES:
            counts[m] += len(km[m])
            h[m].append(_hashes(km[m]))
        counts["finger_indexed"] += sum(k.startswith(_INDEXED_PREFIXES) for k in km["finger"])
        counts["engine"] += len(_engine_keys(km))
        if checked < _CHECKED_PER_CHUNK:
            if _engine_keys(km) != bkeys.keys_for(e):
                raise AssertionError(f"composed engine keys differ from keys_for for G{g}")
            checked += 1
        if g in probes:
            pnik, pdemo = probes[g]
            pviews, pirises = _capture(seed, g, 1, masters, which, sources)
            p = _enrollment(f"P{g}", pnik, pdemo, pviews, pirises)
            probe_keys.append((g, _keys_by_modality(p), bkeys.keys_for(p)))
    return {"start": start, "n": len(people), "t_keys": t_keys, "counts": counts,
            "hashes": {m: np.concatenate(h[m]) if h[m] else np.zeros(0, np.int64)
                       for m in MODALITIES},
            "sizes": {m: np.array([a.size for a in h[m]], np.int64) for m in MODALITIES},
            "probes": probe_keys}


class CappedIndex:
    """key -> ids with at most ``cap`` ids per key, kept compactly (a Python dict of lists would
    need several GB at 100k enrollments): keys are 64-bit hashes, ``add`` appends (hash, id) in
    arrival order, ``freeze`` sorts and keeps the first ``cap`` ids of every key (what the
    engine's capped posting lists admit), counting oversized keys and the ids they turned away.
    A key whose list reached the cap is demoted (``pipeline.index_probe``): ``lookup``, always
    on behalf of a non-member probe here, gets nothing from it."""

    def __init__(self, cap: int = POSTING_CAP) -> None:
        self.cap = cap
        self._h: list[np.ndarray] = []
        self._i: list[np.ndarray] = []
        self.hashes = np.zeros(0, np.int64)
        self.ids = np.zeros(0, np.int64)
        self.demoted = np.zeros(0, np.int64)
        self.distinct = self.oversized = self.turned_away = self.largest = 0

    def add(self, keys: list[str], ident: int) -> None:
        self.add_hashes(_hashes(keys), np.full(len(keys), ident, np.int64))

    def add_hashes(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        self._h.append(hashes)
        self._i.append(ids)

    def freeze(self) -> None:
        h = np.concatenate(self._h) if self._h else np.zeros(0, np.int64)
        i = np.concatenate(self._i) if self._i else np.zeros(0, np.int64)
        self._h, self._i = [], []
        order = np.lexsort((i, h))  # by key, then arrival (ids arrive in increasing order)
        h, i = h[order], i[order]
        del order
        start = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
        sizes = np.diff(np.r_[start, h.size])
        full = sizes >= self.cap
        self.demoted = h[start[full]]  # sorted
        keep = ~np.repeat(full, sizes)  # a demoted list answers no non-member: drop it whole
        self.hashes, self.ids = h[keep], i[keep]
        self.distinct = int(start.size)
        self.oversized = int(full.sum())
        self.turned_away = int(np.maximum(sizes - self.cap, 0).sum())
        self.largest = int(sizes.max()) if sizes.size else 0

    def lookup_pairs(self, keys: list[str]) -> list[tuple[str, int]]:
        """``(key, id)`` hits of the probe's keys; demoted keys answer nothing."""
        q = _hashes(keys)
        lo = np.searchsorted(self.hashes, q, side="left").tolist()
        hi = np.searchsorted(self.hashes, q, side="right").tolist()
        return [(k, g) for k, a, b in zip(keys, lo, hi) if b > a for g in self.ids[a:b].tolist()]

    def lookup(self, keys: list[str]) -> Counter:
        """Candidate id -> number of the probe's keys under which it was found."""
        return Counter(g for _, g in self.lookup_pairs(keys))


def _attribute(pairs: list[tuple[str, str, int]], chosen: set[int], mate: int,
               sources: Counter) -> None:
    """Count, per probe, where the engine's chosen impostor candidates came from: ``biometric``
    if they share two or more biometric keys with the probe, else ``with_demographic`` once and
    the prefix of each demographic key that found them. The true mate is left out: these are the
    comparisons blocking could save."""
    bio: Counter = Counter()
    demo: dict[int, set[str]] = {}
    for key, eid, _ in pairs:
        c = int(eid[1:])
        if c == mate or c not in chosen:
            continue
        if key.startswith(BIOMETRIC_PREFIXES):
            bio[c] += 1
        else:
            demo.setdefault(c, set()).add(key.split(":", 1)[0])
    for c in chosen - {mate}:
        if bio[c] >= MIN_SHARED_BIOMETRIC_KEYS:
            sources["biometric"] += 1
        else:
            sources["with_demographic"] += 1
            for prefix in demo.get(c, ()):
                sources[prefix] += 1


def _votes(pairs: list[tuple[str, str, int]], chosen: set[int], mate: int, mates: Counter,
           impostors: Counter) -> None:
    """Histograms of the voting keys (biometric and weak demographic) shared with the probe
    (``k<n>``, up to 10) and of their sources (``s<n>``: iris tables, finger positions, weak
    demographic keys), as the engine's ``tally_hits`` counts them: the true mate's, whether or
    not it was chosen, and the chosen impostors'."""
    votes = {int(eid[1:]): (n, bits.bit_count() + weak)
             for eid, _part, n, _d, bits, weak, _whole in tally_hits(pairs)}
    for c, hist in [(mate, mates)] + [(c, impostors) for c in chosen - {mate}]:
        n, sources = votes.get(c, (0, 0))
        hist[f"k{min(n, 10)}"] += 1
        hist[f"s{min(sources, 10)}"] += 1


def _earlier_rule(pairs: list[tuple[str, str, int]]) -> set[int]:
    """The engine's candidate rule before 2026-12-08, for comparison: every demographic key,
    weak ones included, admits a candidate alone; two biometric keys of any sources do. It is
    ``select_candidates`` on tallies of that version's form (``[id, partition, biometric keys,
    1 if any demographic key]``), which it still reads as that rule."""
    old: dict[str, list] = {}
    for key, eid, part in pairs:
        t = old.setdefault(eid, [eid, part, 0, 0])
        if key.startswith(BIOMETRIC_PREFIXES):
            t[2] += 1
        else:
            t[3] = 1
    return {int(eid[1:]) for eid, _ in select_candidates(old.values())}


def _modality_of(key: str) -> str:
    return "iris" if key.startswith("ir:") else "finger" if key.startswith("fp:") else "demographic"


def run(gallery: int, probes: int, seed: int, workers: int = 2) -> dict:
    """Build a gallery of ``gallery`` people, query ``probes`` recaptures; return the figures."""
    load0 = os.getloadavg()
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    people = PeopleGenerator(seed).people(gallery)
    probe_ids = sorted(rng.choice(gallery, size=min(probes, gallery), replace=False).tolist())
    probe_ident: dict[int, tuple[str, Demographics]] = {}
    for g in probe_ids:  # in id order, so the draws do not depend on the chunking
        p = people[g]
        demo, nik = p.demographics, p.nik
        if prng.random() < NEW_IDENTITY_SHARE:
            # a second registration, varied as the simulator's DUPLICATE stories are
            nik = nik[:12] + f"{(int(nik[12:]) + 7 + prng.randrange(90)) % 10000:04d}"
            name = respell(demo.full_name, prng, demo.sex) if prng.random() < DUP_RESPELL \
                else demo.full_name
            born = demo.birth_date
            if prng.random() < DUP_OTHER_BIRTH_DATE:
                born = perturb_birth_date(date.fromisoformat(born), prng).isoformat()
            region = people[prng.randrange(gallery)].demographics.region_code \
                if prng.random() < DUP_OTHER_REGION else demo.region_code
            demo = Demographics(name, demo.birth_place, born, demo.sex, region)
        probe_ident[g] = (nik, demo)
    jobs = [(seed, s, [(p.nik, p.demographics) for p in people[s:s + CHUNK]],
             {g: probe_ident[g] for g in probe_ids if s <= g < s + CHUNK})
            for s in range(0, gallery, CHUNK)]
    del people
    index = {m: CappedIndex() for m in MODALITIES}
    counts: Counter = Counter()
    t_keys = 0.0
    probe_data: list = []
    cpu0 = _cpu()
    t0 = time.perf_counter()
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(build_chunk, jobs, chunksize=1) if pool else map(build_chunk, jobs)
        for r in results:
            t_keys += r["t_keys"]
            counts.update(r["counts"])
            ids = np.arange(r["start"], r["start"] + r["n"], dtype=np.int64)
            for m in MODALITIES:
                index[m].add_hashes(r["hashes"][m], np.repeat(ids, r["sizes"][m]))
            probe_data.extend(r["probes"])
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    for idx in index.values():
        idx.freeze()
    build_s = time.perf_counter() - t0
    build_cpu = _cpu() - cpu0

    t1 = time.perf_counter()
    sources: Counter = Counter()
    lost: Counter = Counter()
    mate_votes: Counter = Counter()
    impostor_votes: Counter = Counter()
    hits = {m: 0 for m in ROWS}
    cands = {m: 0 for m in ROWS}

    def score(row: str, found, g: int) -> None:
        hits[row] += g in found
        cands[row] += len(found)

    for g, km, engine_keys in probe_data:
        found = {m: index[m].lookup(km[m]) for m in MODALITIES}
        for m in MODALITIES:
            score(m, found[m], g)
        indexed = [k for k in km["finger"] if k.startswith(_INDEXED_PREFIXES)]
        score("finger_indexed", index["finger"].lookup(indexed), g)
        biometric = set(found["iris"]) | set(found["finger"])
        score("biometric", biometric, g)
        score("combined", biometric | set(found["demographic"]), g)
        # The two-shared-keys rule on the biometric candidates; demographic ones are kept.
        votes = found["iris"] + found["finger"]
        voted = {c for c, n in votes.items() if n >= MIN_SHARED_BIOMETRIC_KEYS}
        score("biometric_voted", voted, g)
        score("combined_voted", voted | set(found["demographic"]), g)
        # The engine: the probe's keys_for, demoted lists skipped, tally_hits, select_candidates.
        by_mod: dict[str, list[str]] = {m: [] for m in MODALITIES}
        for k in engine_keys:
            by_mod[_modality_of(k)].append(k)
        pairs = [(k, f"G{c}", 0) for m in MODALITIES for k, c in index[m].lookup_pairs(by_mod[m])]
        chosen = {int(eid[1:]) for eid, _ in select_candidates(tally_hits(pairs))}
        score("combined_engine", chosen, g)
        _attribute(pairs, chosen, g, sources)
        _votes(pairs, chosen, g, mate_votes, impostor_votes)
        before = _earlier_rule(pairs)
        score("combined_engine_before", before, g)
        if g in before and g not in chosen:  # a mate the earlier rule found and this one lost
            shared = [k for k, c, _ in pairs if int(c[1:]) == g]
            lost[", ".join(sorted({k.split(":", 1)[0] for k in shared})) +
                 f" ({len(shared)} keys)"] += 1
        bio_pairs = [p for p in pairs if _modality_of(p[0]) != "demographic"]
        chosen = {int(eid[1:]) for eid, _ in select_candidates(tally_hits(bio_pairs))}
        score("biometric_engine", chosen, g)
    query_s = time.perf_counter() - t1
    m_probes = max(1, len(probe_data))
    out_sources = {k: round(v / m_probes, 2) for k, v in sorted(sources.items())}
    out: dict = {"gallery": gallery, "probes": len(probe_data), "seed": seed,
                 "posting_cap": POSTING_CAP, "workers": workers, "build_s": round(build_s, 1),
                 "build_cpu_s": round(build_cpu, 1),
                 "key_ms_per_enrollment": round(1e3 * t_keys / gallery, 2),
                 "query_s": round(query_s, 1),
                 "load_before": [round(x, 2) for x in load0],
                 "load_after": [round(x, 2) for x in os.getloadavg()]}
    out["engine_candidates_by_source"] = out_sources
    out["mates_lost_to_the_rule_before"] = dict(lost.most_common())
    order = {f"{p}{n}": i for i, (p, n) in enumerate((p, n) for p in "ks" for n in range(11))}
    out["voting_keys_shared"] = {
        "mate": {k: mate_votes[k] for k in sorted(mate_votes, key=order.get)},
        "impostor_per_probe": {k: round(impostor_votes[k] / m_probes, 3)
                               for k in sorted(impostor_votes, key=order.get)}}
    key_counts = {**{m: counts[m] for m in MODALITIES},
                  "finger_indexed": counts["finger_indexed"], "combined_engine": counts["engine"]}
    for m in ROWS:
        out[m] = {
            "hit_rate": round(hits[m] / m_probes, 5),
            "candidates_per_probe": round(cands[m] / m_probes, 1),
            "penetration": round(cands[m] / m_probes / gallery, 6),
        }
        if m in key_counts:
            out[m]["keys_per_enrollment"] = round(key_counts[m] / gallery, 1)
        if m in index:
            idx = index[m]
            out[m].update({
                "distinct_keys": idx.distinct,
                "oversized_keys": idx.oversized,
                "ids_turned_away": idx.turned_away,
                "largest_posting": idx.largest,
            })
    return out


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _print(r: dict) -> None:
    print(f"gallery {r['gallery']:,}  probes {r['probes']:,}  build {r['build_s']} s "
          f"({r['build_cpu_s']} s CPU, {r['workers']} workers)  "
          f"keys {r['key_ms_per_enrollment']} ms/enrollment  query {r['query_s']} s  "
          f"load {r['load_before'][0]} -> {r['load_after'][0]}")
    print(f"  {'modality':<18}{'hit rate':>10}{'cand/probe':>12}{'penetration':>13}"
          f"{'keys/enr':>10}{'oversized':>11}{'turned away':>13}{'largest':>9}")
    print("  engine impostor candidates per probe by source: "
          + ", ".join(f"{k} {v}" for k, v in r["engine_candidates_by_source"].items()))
    print("  mates the rule before found and this one does not, by the keys they share: "
          + (", ".join(f"{k}: {n}" for k, n in r["mates_lost_to_the_rule_before"].items())
             or "none"))
    v = r["voting_keys_shared"]
    print("  voting keys shared (k<n>: n keys, s<n>: from n sources; 10: ten or more): true mate "
          + ", ".join(f"{k}: {n}" for k, n in v["mate"].items())
          + "; chosen impostors per probe " + ", ".join(f"{k}: {n}" for k, n in
                                                      v["impostor_per_probe"].items()))
    for m in ROWS:
        d = r[m]
        print(f"  {m:<18}{100 * d['hit_rate']:>9.2f}%{d['candidates_per_probe']:>12.1f}"
              f"{100 * d['penetration']:>12.4f}%{d.get('keys_per_enrollment', ''):>10}"
              f"{d.get('oversized_keys', ''):>11}{d.get('ids_turned_away', ''):>13}"
              f"{d.get('largest_posting', ''):>9}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", type=int, nargs="+", default=[10_000])
    ap.add_argument("--probes", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="forked processes building people")
    args = ap.parse_args(argv)
    results = []
    for n in args.gallery:
        r = run(n, args.probes, args.seed, args.workers)
        _print(r)
        sys.stdout.flush()
        results.append(r)
    print("reproduce: .venv/bin/python -m benchmarks.blocking --gallery "
          + " ".join(str(n) for n in args.gallery) + f" --probes {args.probes} --seed {args.seed}"
          + f" --workers {args.workers}")
    print(orjson.dumps({"benchmark": "blocking", "results": results}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
