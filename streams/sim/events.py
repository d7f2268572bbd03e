"""Rendering planned captures into contract events (bytes), with their biometrics.

What: :func:`render` turns one :class:`Spec` (a planned capture, small and picklable) into the
JSON line a station would send: demographics from the plan, iris codes from
``streams.sim.iris`` and ISO/IEC 19794-2 finger records from ``streams.sim.finger``, packed by
the contract codecs (the finger records by ``streams.sim.iso_writer``, byte for byte the
codec's). Malformed captures become one of ``streams.sim.malformed.variants``.

Why seeds and not state: a person's eyes and fingers are a fixed function of
``(seed, person_key)`` and a capture's noise of ``(seed, capture index)`` (keyed streams of
``streams.sim.rand``), so any worker can render any capture in any order and the bytes are the
same: events are rendered in arrival order, in parallel chunks, never held all at once, and a
re-sent event is byte-identical.

A capture the plan marks usable is guaranteed usable by ``streams.matching.quality`` (the rare
capture that is not is redrawn), so the expected verdicts computed from the plan hold.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import orjson

from streams.codecs.iris import pack
from streams.domain.types import IrisTemplate
from streams.matching import quality
from streams.sim import finger as fsim
from streams.sim import finger_sets
from streams.sim import iris as isim
from streams.sim import iso_writer, rand
from streams.sim.malformed import variants
from streams.sim.scenarios import BOTH, EMPTY, FINGER_ONLY, IRIS_ONLY, POOR

SCHEMA = "tunggal.enrollment.v1"
#: Finger sets a station may capture: e-KTP takes all ten; thumbs and index fingers, or the two
#: index fingers, are the common smaller sets (smaller events; the eyes cost most to simulate).
FINGER_SETS = {10: tuple(range(1, 11)), 4: (1, 2, 6, 7), 2: (2, 7)}
#: A capture planned usable that comes out unusable is redrawn at most this many times.
MAX_REDRAWS = 8
#: POOR captures: the share of angular columns left unmasked (well under the usable fraction of
#: ``quality.MIN_IRIS_USABLE_FRACTION``) and the minutiae kept per finger (under the minimum).
POOR_IRIS_COLUMNS = 0.1
POOR_FINGER_MINUTIAE = quality.MIN_FINGER_MINUTIAE - 3
#: The eyes of a capture, in the order of the contract's ``irises`` array.
EYES = ("R", "L")
# Seed-sequence tags, so the streams of person, finger and capture draws never overlap.
_PERSON, _FINGER, _CAPTURE = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything needed to render one capture."""

    index: int  # stable index of the capture in the plan: seeds its noise
    enrollment_id: str
    station_id: str
    captured_at: str
    nik: str
    demographics: tuple[str, str, str, str, str]  # name, place, date, sex, region
    person_key: int
    modality: str
    malformed_kind: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    index: int
    line: bytes
    digest: str | None  # sha256 hex of a malformed ``line`` (how unkeyed dead letters are matched)


def _finger_stream(seed: int, key: int) -> np.ndarray:
    return rand.stream(seed, _FINGER, key)


def finger_positions(seed: int, key: int, positions: tuple[int, ...]) -> tuple[int, ...]:
    """Which of ``positions`` the person has: a few people lack some fingers, or all (the rates
    of ``streams.sim.finger``). Cheap: the planner asks it for fingers-only captures."""
    lost = finger_sets.fingers_lost(_finger_stream(seed, key))
    return tuple(p for p in positions if p not in lost)


def person_fingers(seed: int, key: int, positions: tuple[int, ...]) -> tuple[finger_sets.Masters, list[int]]:
    """A person's ten finger masters, and the indices among them of the fingers at
    ``positions`` that the person has. All ten are drawn whatever ``positions`` is, so a finger
    is a function of (seed, person, position) alone."""
    stream = _finger_stream(seed, key)
    lost = finger_sets.fingers_lost(stream)
    masters = finger_sets.make_masters(stream, fsim.FINGER_POSITIONS)
    index = {p: i for i, p in enumerate(fsim.FINGER_POSITIONS)}
    return masters, [index[p] for p in positions if p not in lost]


def person_irises(seed: int, key: int) -> list[isim.IrisSource]:
    """A person's right and left eyes (in the order of :data:`EYES`)."""
    return isim.draw_sources(rand.stream(seed, _PERSON, key, 9), len(EYES))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _iris_entry(t: IrisTemplate) -> dict:
    code, mask = pack(t)
    return {"eye": t.eye, "format": "IRIS_CODE_V1", "shape": list(t.shape), "code": _b64(code),
            "mask": _b64(mask)}


def _poor_iris(t: IrisTemplate) -> IrisTemplate:
    cols = np.arange(t.shape[2]) < POOR_IRIS_COLUMNS * t.shape[2]
    return IrisTemplate(t.eye, t.code, t.mask & cols[None, None, :, None])


@dataclass(frozen=True, slots=True)
class Biometrics:
    """What one capture holds: its finger views (as a flat set, maybe empty) and iris templates."""

    fingers: finger_sets.Impressions | None
    irises: list[IrisTemplate]

    def entries(self) -> tuple[list[dict], list[dict]]:
        """The contract's ``fingerprints`` and ``irises`` arrays."""
        fingers = [] if self.fingers is None else [
            {"position": int(p), "format": "ISO_19794_2_2005", "data": _b64(r)}
            for p, r in zip(self.fingers.positions, iso_writer.records(self.fingers))]
        return fingers, [_iris_entry(t) for t in self.irises]


def biometrics(spec: Spec, seed: int, positions: tuple[int, ...]) -> Biometrics:
    """The capture's finger views and iris templates, per its planned modality."""
    if spec.modality == EMPTY:
        return Biometrics(None, [])
    masters, which = person_fingers(seed, spec.person_key, positions)
    if not which and spec.malformed_kind is not None:  # malformed variants edit finger 0
        which = [fsim.FINGER_POSITIONS.index(p) for p in positions]
    sources = person_irises(seed, spec.person_key)
    want_iris = spec.modality in (BOTH, IRIS_ONLY, POOR) or not which
    want_finger = spec.modality in (BOTH, FINGER_ONLY, POOR) and bool(which)
    for attempt in range(MAX_REDRAWS + 1):
        stream = rand.stream(seed, _CAPTURE, spec.index, attempt)
        irises = isim.capture_eyes(sources, stream, EYES) if want_iris else []
        views = finger_sets.capture_session(masters, stream, which=which) if want_finger else None
        if spec.modality == POOR:
            return Biometrics(None if views is None else views.head(POOR_FINGER_MINUTIAE),
                              [_poor_iris(t) for t in irises])
        if (any(quality.iris_usable(t) for t in irises)
                or (views is not None and bool((views.counts >= quality.MIN_FINGER_MINUTIAE).any()))):
            return Biometrics(views, irises)
        want_iris = True  # e.g. a fingers-only capture of a person without usable fingers
    raise RuntimeError(f"capture {spec.enrollment_id} stayed unusable after {MAX_REDRAWS} redraws")


def event_of(spec: Spec, seed: int, positions: tuple[int, ...]) -> dict:
    """The valid contract event of a capture."""
    fingers, irises = biometrics(spec, seed, positions).entries()
    name, place, born, sex, region = spec.demographics
    return {
        "schema": SCHEMA,
        "enrollment_id": spec.enrollment_id,
        "station_id": spec.station_id,
        "captured_at": spec.captured_at,
        "nik": spec.nik,
        "demographics": {"full_name": name, "birth_place": place, "birth_date": born, "sex": sex,
                         "region_code": region},
        "fingerprints": fingers,
        "irises": irises,
    }


def render(spec: Spec, seed: int, positions: tuple[int, ...]) -> Rendered:
    """The bytes a station sends for ``spec`` (a malformed variant for malformed captures, with
    its digest: the truth file needs it for those only)."""
    if spec.malformed_kind is None:
        return Rendered(spec.index, orjson.dumps(event_of(spec, seed, positions)), None)
    event = event_of(replace(spec, modality=BOTH), seed, positions)
    line = next(m.value for m in variants(event) if m.kind == spec.malformed_kind)
    return Rendered(spec.index, line, hashlib.sha256(line).hexdigest())


def render_chunk(job: tuple[int, tuple[int, ...], list[Spec]]) -> list[Rendered]:
    """A worker's unit of work: one chunk of specs, in order."""
    seed, positions, specs = job
    return [render(s, seed, positions) for s in specs]


def _lineable(value: bytes | None) -> bool:
    return bool(value) and b"\n" not in value and b"\r" not in value and bool(value.strip())


@lru_cache(maxsize=1)
def malformed_catalogue() -> dict[str, tuple[str, bool]]:
    """Malformed kind -> (expected error code, enrollment id readable), for every kind that a
    JSON Lines file can carry (a null or empty record value cannot be a line; those two kinds
    are left to the ingestion's own tests)."""
    spec = Spec(0, "JKT0101-20170913-000001", "JKT0101", "2017-09-13T10:15:00+07:00",
                "3171014509870001", ("SITI", "JAKARTA", "1987-09-05", "F", "31.71.01.1001"), 0, BOTH)
    event = event_of(spec, 0, FINGER_SETS[2])
    return {m.kind: (m.code, m.id_readable) for m in variants(event) if _lineable(m.value)}
