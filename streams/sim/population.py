"""The synthetic population: plan, expected verdicts, and the two files ``tunggal simulate`` writes.

What: :func:`simulate` plans ``people`` stories (``streams.sim.scenarios``), computes every
enrollment's expected outcome with the contract's own rules (:func:`expect_story`), then renders
the events in *arrival order* (``streams.sim.events``) over a pool of worker processes and writes

* ``enrollments.jsonl``: one contract event per line, in arrival order (re-sent events appear
  again, byte for byte; malformed ones as their bad bytes);
* ``truth.json``: JSON Lines, one object per enrollment id (written when the id is first sent),
  see :data:`TRUTH_FIELDS`;
* ``summary.json``: the parameters, counts and measured shares of the run.

Why this shape: the plan is small (no biometrics), so a million people fit in memory; the events
(about 15 kB each) are produced, written and dropped chunk by chunk. Determinism: the plan depends
on the seed only, and each event on (seed, person, capture index), never on the chunking or the
number of workers (one per CPU by default). Speed: the workers draw biometrics from compiled
kernels (``finger_sets``, ``iris.capture_eyes``), about 0.6 ms of CPU per ten-finger event; the
plan, about 0.1 ms per person, runs before them in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import orjson

from streams.decide.graph import MATCH, Edge, MemoryGraph, Node, add_edge, add_node
from streams.decide.verdicts import decide_many
from streams.domain.types import VerdictKind
from streams.sim import scenarios as sc
from streams.sim.events import FINGER_SETS, Spec, finger_positions, malformed_catalogue, render_chunk

#: Events per unit of work handed to a worker process.
CHUNK_EVENTS = 64
#: What each truth line holds.
TRUTH_FIELDS = ("enrollment_id", "person", "scenario", "role", "story", "expected", "person_id",
                "error", "resend", "late", "modality", "malformed_kind", "nik", "station_id",
                "captured_at", "value_sha256")


def expect_story(captures: list[sc.Capture]) -> None:
    """Fill ``expected``, ``person_id`` and ``error`` of one story's captures.

    Valid captures become nodes of a :class:`MemoryGraph` (usable per the plan, which the
    renderer guarantees); every pair of captures of one true person gets a MATCH edge; the
    contract's :func:`decide_many` then says what each verdict must be. Malformed captures expect
    their dead-letter code, and a REJECTED verdict when their id is readable.
    """
    if len(captures) == 1 and captures[0].valid:  # most stories: one capture, alone in its graph
        c = captures[0]
        c.expected, own = _lone_verdict(c.usable)
        c.person_id = c.enrollment_id if own else None
        return
    catalogue = malformed_catalogue()
    graph = MemoryGraph()
    for c in captures:
        if c.valid:
            add_node(graph, Node(c.enrollment_id, c.captured_at, c.captured_ts, c.nik, c.usable))
        else:
            code, readable = catalogue[c.malformed_kind]
            c.error = code
            c.expected = VerdictKind.REJECTED.value if readable else None
    valid = [c for c in captures if c.valid]
    for i, a in enumerate(valid):
        for b in valid[i + 1:]:
            if a.person_key == b.person_key and a.usable and b.usable:
                add_edge(graph, a.enrollment_id, b.enrollment_id, Edge(MATCH, 1.0))
    by_id = {c.enrollment_id: c for c in valid}
    for v in decide_many(graph, by_id):
        c = by_id[v.enrollment_id]
        c.expected, c.person_id = v.verdict.value, v.person_id


@lru_cache(maxsize=2)
def _lone_verdict(usable: bool) -> tuple[str, bool]:
    """What :func:`decide_many` says of a valid capture alone in its graph (asked once per
    usability, of a stand-in: the rules' answer depends on nothing else): the verdict, and
    whether the person_id is the capture's own id."""
    eid = "STAND-IN"
    graph = MemoryGraph()
    add_node(graph, Node(eid, "2017-01-01T08:00:00+07:00", 0.0, "3171014509870001", usable))
    (v,) = decide_many(graph, [eid])
    if v.person_id not in (eid, None):  # pragma: no cover - the rules cannot name another person
        raise AssertionError(f"a lone capture got person_id {v.person_id!r}")
    return v.verdict.value, v.person_id == eid


def truth_entry(c: sc.Capture, digest: str | None) -> dict:
    return {"enrollment_id": c.enrollment_id, "person": f"P{c.person_key:08d}",
            "scenario": c.story_kind, "role": c.role, "story": c.story, "expected": c.expected,
            "person_id": c.person_id, "error": c.error, "resend": bool(c.resend_ts), "late": c.late,
            "modality": c.modality, "malformed_kind": c.malformed_kind, "nik": c.nik,
            "station_id": c.station_id, "captured_at": c.captured_at,
            "value_sha256": digest if not c.valid else None}


def spec_of(i: int, c: sc.Capture) -> Spec:
    d = c.demographics
    return Spec(i, c.enrollment_id, c.station_id, c.captured_at, c.nik,
                (d.full_name, d.birth_place, d.birth_date, d.sex, d.region_code), c.person_key,
                c.modality, c.malformed_kind)


@dataclass
class Summary:
    """Counts and measured shares of one run (also written to ``summary.json``)."""

    people: int
    seed: int
    fingers: int
    shares: dict
    enrollments: int = 0
    events: int = 0
    stories: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    modalities: dict = field(default_factory=dict)
    late: int = 0
    late_before_original: int = 0
    resent: int = 0
    plan_seconds: float = 0.0  # planning and expected verdicts, before any event is rendered
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        out = asdict(self)
        out["events_per_s"] = round(self.events_per_s, 1)
        out["enrollments_per_s"] = round(self.enrollments / self.seconds, 1) if self.seconds else 0.0
        out["people_per_s"] = round(self.people / self.seconds, 1) if self.seconds else 0.0
        return out


def _summarise(summary: Summary, captures: list[sc.Capture]) -> None:
    summary.enrollments = len(captures)
    summary.stories = dict(Counter(g[0].story_kind for g in sc.stories(captures)))
    summary.expected = dict(Counter(str(c.expected) for c in captures))
    summary.errors = dict(Counter(c.error for c in captures if c.error))
    summary.modalities = dict(Counter(c.modality for c in captures))
    summary.late = sum(c.late for c in captures)
    summary.resent = sum(len(c.resend_ts) for c in captures)
    first_arrival: dict[int, float] = {}
    original: dict[int, sc.Capture] = {}
    for c in captures:
        if c.valid and (c.person_key not in original
                        or (c.captured_ts, c.enrollment_id) < (original[c.person_key].captured_ts,
                                                               original[c.person_key].enrollment_id)):
            original[c.person_key] = c
    for c in captures:
        o = original.get(c.person_key)
        if o is not None and c is not o and c.arrival_ts < o.arrival_ts:
            first_arrival[c.person_key] = c.arrival_ts
    summary.late_before_original = len(first_arrival)


def _sends(captures: list[sc.Capture]) -> list[tuple[float, int, bool]]:
    """(arrival time, capture index, is a re-send), in arrival order."""
    sends = [(c.arrival_ts, i, False) for i, c in enumerate(captures)]
    sends += [(t, i, True) for i, c in enumerate(captures) for t in c.resend_ts]
    sends.sort()
    return sends


def _jobs(seed: int, positions: tuple[int, ...], captures: list[sc.Capture],
          sends: list[tuple[float, int, bool]]) -> Iterator[tuple[int, tuple[int, ...], list[Spec]]]:
    for start in range(0, len(sends), CHUNK_EVENTS):
        yield seed, positions, [spec_of(i, captures[i]) for _, i, _ in sends[start:start + CHUNK_EVENTS]]


def _prepare(people: int, seed: int, shares: sc.Shares, fingers: int, positions: tuple[int, ...]):
    """The plan with expected outcomes, its summary, and the sends in arrival order."""
    captures = sc.plan(people, seed, shares, malformed_kinds=tuple(malformed_catalogue()))
    for c in captures:  # a fingers-only station cannot capture a person without those fingers
        if c.modality == sc.FINGER_ONLY and not finger_positions(seed, c.person_key, positions):
            c.modality = sc.IRIS_ONLY
    for group in sc.stories(captures):
        expect_story(group)
    summary = Summary(people, seed, fingers, asdict(shares))
    _summarise(summary, captures)
    return captures, _sends(captures), summary


def default_workers() -> int:
    """Rendering processes by default: one per CPU this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def simulate(people: int, seed: int, out: Path, *, shares: sc.Shares | None = None,
             fingers: int = 10, workers: int | None = None, progress=None) -> Summary:
    """Write ``enrollments.jsonl``, ``truth.json`` and ``summary.json`` under ``out``.

    ``workers`` rendering processes (default :func:`default_workers`; 1 renders in this
    process); the files do not depend on it. ``progress`` (a
    :class:`streams.cli.progress.Progress`-like object with ``update`` and ``close``, or
    ``None``) is told about every event written.
    """
    shares = shares or sc.Shares()
    positions = FINGER_SETS[fingers]
    workers = default_workers() if workers is None else workers
    started = time.monotonic()
    # Compile (or load from numba's cache) the generator kernels once, here: the workers inherit
    # them instead of each compiling its own.
    malformed_catalogue()
    # Fork the workers before the plan exists, so they do not carry (and copy) it.
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        captures, sends, summary = _prepare(people, seed, shares, fingers, positions)
        summary.plan_seconds = round(time.monotonic() - started, 3)
        if progress is not None:
            progress.total = len(sends)
        out.mkdir(parents=True, exist_ok=True)
        jobs = _jobs(seed, positions, captures, sends)
        results = pool.imap(render_chunk, jobs, chunksize=1) if pool else map(render_chunk, jobs)
        with (out / "enrollments.jsonl").open("wb") as ev, (out / "truth.json").open("wb") as tr:
            k = 0
            for chunk in results:
                for r in chunk:
                    _, i, resend = sends[k]
                    k += 1
                    ev.write(r.line + b"\n")
                    if not resend:
                        tr.write(orjson.dumps(truth_entry(captures[i], r.digest)) + b"\n")
                if progress is not None:
                    progress.update(len(chunk))
        if pool is not None:
            pool.close()  # every chunk was rendered: let the workers exit on their own
            pool.join()
            pool = None
    finally:
        if pool is not None:  # an error: stop the workers (terminate after close can deadlock)
            pool.terminate()
            pool.join()
        if progress is not None:
            progress.close()
    summary.events = len(sends)
    summary.seconds = time.monotonic() - started
    (out / "summary.json").write_bytes(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2))
    return summary


def read_truth(path: Path) -> Iterator[dict]:
    """The truth entries of a ``truth.json`` (JSON Lines), streaming."""
    with Path(path).open("rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)
