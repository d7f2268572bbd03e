"""Throughput of the demographic comparator (1:N) and of the people generator.

* ``demographic_pairs_per_s``: pairs scored per second by :func:`score_many` with one prepared
  probe against a pre-stacked block of prepared candidates (the 1:N hot path), single-threaded
  (rapidfuzz ``workers=1``). ``demographic_pairs_per_s_list`` is the same with a plain list of
  :class:`DemoFeatures` (stacked on every call).
* ``people_per_s``: people drawn per second by :class:`PeopleGenerator`, NIKs included.

Each figure is given per CPU second of this process (``time.process_time``), which is what a
dedicated core would deliver and varies much less than wall time on a shared machine; the
``*_wall`` figures are wall-clock, and ``load_average`` says how busy the machine was. Medians over
``repeats``. Reproduce with:

    .venv/bin/python benchmarks/bench_demographic.py

The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone

from streams.matching.demographic import prepare, score_many, stack
from streams.sim.people import PeopleGenerator

GALLERY = 20_000
PROBES = 20
PEOPLE = 20_000
REPEATS = 3
REPRODUCE = ".venv/bin/python benchmarks/bench_demographic.py"


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def run(gallery: int = GALLERY, probes: int = PROBES, people: int = PEOPLE, repeats: int = REPEATS) -> dict:
    """Measure both figures; returns a dict of floats (rates per second) and context."""
    population = PeopleGenerator(seed=1).people(gallery)
    features = [prepare(p.demographics, p.nik) for p in population]
    block = stack(features)
    probe_features = features[:probes]

    def score_block() -> None:
        for probe in probe_features:
            score_many(probe, block)

    def score_list() -> None:
        for probe in probe_features[:5]:
            score_many(probe, features)

    def draw_people() -> None:
        PeopleGenerator(seed=2).people(people)

    pairs = [_timed(score_block) for _ in range(repeats)]
    pairs_list = [_timed(score_list) for _ in range(repeats)]
    drawn = [_timed(draw_people) for _ in range(repeats)]
    n_pairs, n_pairs_list = gallery * probes, gallery * 5
    return {
        "demographic_pairs_per_s": n_pairs / statistics.median(c for c, _ in pairs),
        "demographic_pairs_per_s_wall": n_pairs / statistics.median(w for _, w in pairs),
        "demographic_pairs_per_s_list": n_pairs_list / statistics.median(c for c, _ in pairs_list),
        "people_per_s": people / statistics.median(c for c, _ in drawn),
        "people_per_s_wall": people / statistics.median(w for _, w in drawn),
        "load_average": os.getloadavg()[0],
        "gallery": gallery,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    result = run()
    print(f"demographic 1:N     {result['demographic_pairs_per_s']:>12,.0f} pairs/s per CPU s "
          f"({result['demographic_pairs_per_s_wall']:,.0f} wall; list input {result['demographic_pairs_per_s_list']:,.0f})")
    print(f"people generator    {result['people_per_s']:>12,.0f} people/s per CPU s ({result['people_per_s_wall']:,.0f} wall)")
    print(f"load average {result['load_average']:.2f} on {result['machine']}, {result['date']}")
    print(f"reproduce: {REPRODUCE}")
    print(json.dumps(result))
