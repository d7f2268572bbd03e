"""Rendering planned captures into contract events (bytes), with their biometrics.

What: :func:`render` turns one :class:`Spec` (a planned capture, small and picklable) into the
JSON line a station would send: demographics from the plan, iris codes from
``streams.sim.iris`` and ISO/IEC 19794-2 finger records from ``streams.sim.finger``, packed by
the contract codecs. Malformed captures become one of ``streams.sim.malformed.variants``.

Why seeds and not state: a person's eyes and fingers are a fixed function of
``(seed, person_key)`` and a capture's noise of ``(seed, capture index)``, so any worker can
render any capture in any order and the bytes are the same: events are rendered in arrival order,
in parallel chunks, never held all at once, and a re-sent event is byte-identical.

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

from streams.codecs import iso19794
from streams.codecs.iris import pack
from streams.domain.types import FingerView, IrisTemplate
from streams.matching import quality
from streams.sim import finger as fsim
from streams.sim import iris as isim
from streams.sim.malformed import variants
from streams.sim.scenarios import BOTH, EMPTY, FINGER_ONLY, IRIS_ONLY, POOR

SCHEMA = "tunggal.enrollment.v1"
#: Finger sets a station may capture: e-KTP takes all ten; thumbs and index fingers, or the two
#: index fingers, are the common smaller sets (and far cheaper to simulate).
FINGER_SETS = {10: tuple(range(1, 11)), 4: (1, 2, 6, 7), 2: (2, 7)}
#: A capture planned usable that comes out unusable is redrawn at most this many times.
MAX_REDRAWS = 8
#: POOR captures: the share of angular columns left unmasked (well under the usable fraction of
#: ``quality.MIN_IRIS_USABLE_FRACTION``) and the minutiae kept per finger (under the minimum).
POOR_IRIS_COLUMNS = 0.1
POOR_FINGER_MINUTIAE = quality.MIN_FINGER_MINUTIAE - 3
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
    digest: str  # sha256 hex of ``line`` (how unkeyed dead letters are matched)


def _rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng([seed, *path])


def finger_positions(seed: int, key: int, positions: tuple[int, ...]) -> tuple[int, ...]:
    """Which of ``positions`` the person has: a few people lack some fingers, or all (the rates
    of ``streams.sim.finger``). Cheap: the planner asks it for fingers-only captures."""
    rng = _rng(seed, _PERSON, key)
    r = float(rng.random())
    if r < fsim.NO_FINGERS_RATE:
        return ()
    lost: set[int] = set()
    if r < fsim.NO_FINGERS_RATE + fsim.FEWER_FINGERS_RATE:
        n = int(rng.integers(1, fsim.MAX_MISSING_FINGERS + 1))
        lost = {int(p) for p in rng.choice(fsim.FINGER_POSITIONS, size=n, replace=False)}
    return tuple(p for p in positions if p not in lost)


def person_fingers(seed: int, key: int, positions: tuple[int, ...]) -> dict[int, fsim.FingerMaster]:
    """A person's fingers among ``positions``; each a function of (seed, person, position)."""
    return {p: fsim.make_finger(_rng(seed, _FINGER, key, p), p)
            for p in finger_positions(seed, key, positions)}


def person_irises(seed: int, key: int) -> dict[str, isim.IrisSource]:
    rng = _rng(seed, _PERSON, key, 9)
    return {eye: isim.make_iris_source(rng) for eye in ("R", "L")}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _finger_entry(view: FingerView) -> dict:
    record = iso19794.encode([view], width=view.width, height=view.height, resolution=view.resolution)
    return {"position": view.position, "format": "ISO_19794_2_2005", "data": _b64(record)}


def _iris_entry(t: IrisTemplate) -> dict:
    code, mask = pack(t)
    return {"eye": t.eye, "format": "IRIS_CODE_V1", "shape": list(t.shape), "code": _b64(code),
            "mask": _b64(mask)}


def _poor_iris(t: IrisTemplate) -> IrisTemplate:
    cols = np.arange(t.shape[2]) < POOR_IRIS_COLUMNS * t.shape[2]
    return IrisTemplate(t.eye, t.code, t.mask & cols[None, None, :, None])


def _poor_finger(v: FingerView) -> FingerView:
    k = POOR_FINGER_MINUTIAE
    return replace(v, x=v.x[:k], y=v.y[:k], angle=v.angle[:k], kind=v.kind[:k],
                   minutia_quality=v.minutia_quality[:k])


def biometrics(spec: Spec, seed: int, positions: tuple[int, ...]) -> tuple[list[FingerView], list[IrisTemplate]]:
    """The capture's finger views and iris templates, per its planned modality."""
    if spec.modality == EMPTY:
        return [], []
    masters = person_fingers(seed, spec.person_key, positions)
    if not masters and spec.malformed_kind is not None:  # malformed variants edit finger 0
        masters = {p: fsim.make_finger(_rng(seed, _FINGER, spec.person_key, p), p) for p in positions}
    sources = person_irises(seed, spec.person_key)
    want_iris = spec.modality in (BOTH, IRIS_ONLY, POOR) or not masters
    want_finger = spec.modality in (BOTH, FINGER_ONLY, POOR)
    for attempt in range(MAX_REDRAWS + 1):
        rng = _rng(seed, _CAPTURE, spec.index, attempt)
        irises = [isim.capture(sources[e], rng, eye=e) for e in ("R", "L")] if want_iris else []
        views = list(fsim.capture_fingers(masters, rng)) if want_finger else []
        if spec.modality == POOR:
            return [_poor_finger(v) for v in views], [_poor_iris(t) for t in irises]
        if any(quality.iris_usable(t) for t in irises) or any(quality.finger_usable(v) for v in views):
            return views, irises
        want_iris = True  # e.g. a fingers-only capture of a person without usable fingers
    raise RuntimeError(f"capture {spec.enrollment_id} stayed unusable after {MAX_REDRAWS} redraws")


def event_of(spec: Spec, seed: int, positions: tuple[int, ...]) -> dict:
    """The valid contract event of a capture."""
    views, irises = biometrics(spec, seed, positions)
    name, place, born, sex, region = spec.demographics
    return {
        "schema": SCHEMA,
        "enrollment_id": spec.enrollment_id,
        "station_id": spec.station_id,
        "captured_at": spec.captured_at,
        "nik": spec.nik,
        "demographics": {"full_name": name, "birth_place": place, "birth_date": born, "sex": sex,
                         "region_code": region},
        "fingerprints": [_finger_entry(v) for v in views],
        "irises": [_iris_entry(t) for t in irises],
    }


def render(spec: Spec, seed: int, positions: tuple[int, ...]) -> Rendered:
    """The bytes a station sends for ``spec`` (a malformed variant for malformed captures)."""
    if spec.malformed_kind is None:
        line = orjson.dumps(event_of(spec, seed, positions))
    else:
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
