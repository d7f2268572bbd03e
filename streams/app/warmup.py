"""Compile the engine's numba kernels before the worker joins its group.

What: two synthetic captures of one made-up person (random minutiae on every finger, random iris
codes) go through what a worker does to an enrollment: decoding (ISO/IEC 19794-2 records, iris
codes), blocking keys and their routing, preparation, and a comparison that runs every modality
(the finger path too, which the cascade often skips).

Why: numba compiles a kernel on its first call, or loads it from its on-disk cache. On a fresh
machine, after an upgrade, or where the cache cannot be written, that is tens of seconds of CPU.
Paid on the first enrollment, it would block the worker's event loop while the worker holds its
partitions: no progress, late timers, a slower takeover after a crash. Paid here, before faust
starts, it only delays the start, and the log says how long it took.
"""

from __future__ import annotations

import base64
import logging
import time

import numpy as np

from streams.blocking.keys import keys_for
from streams.codecs import iso19794
from streams.codecs.contract import decode_enrollment
from streams.codecs.iris import pack
from streams.domain.types import Enrollment, FingerView, IrisTemplate
from streams.matching import fusion
from streams.pipeline import route_keys

log = logging.getLogger("tunggal.worker")

_WIDTH, _HEIGHT = 400, 500
_IRIS_SHAPE = (2, 16, 256, 2)


def _view(rng: np.random.Generator, position: int, shift: int) -> FingerView:
    n = 40
    return FingerView(
        position=position, impression=0, quality=80,
        x=(rng.integers(60, 340, n) + shift).astype(np.int32),
        y=(rng.integers(60, 440, n) + shift).astype(np.int32),
        angle=iso19794.quantize_angle(rng.uniform(0, 2 * np.pi, n)).astype(np.float32),
        kind=rng.integers(1, 3, n).astype(np.uint8),
        minutia_quality=rng.integers(40, 100, n).astype(np.uint8))


def _event(enrollment_id: str, views: list[FingerView], irises: list[IrisTemplate]) -> dict:
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    fingers = [{"position": v.position, "format": "ISO_19794_2_2005",
                "data": b64(iso19794.encode([v], width=_WIDTH, height=_HEIGHT))} for v in views]
    eyes = []
    for t in irises:
        code, mask = pack(t)
        eyes.append({"eye": t.eye, "format": "IRIS_CODE_V1", "shape": list(t.shape),
                     "code": b64(code), "mask": b64(mask)})
    return {"schema": "tunggal.enrollment.v1", "enrollment_id": enrollment_id,
            "station_id": "WARMUP0", "captured_at": "2017-09-13T10:15:00+07:00",
            "nik": "3273054504870001",
            "demographics": {"full_name": "WARM UP", "birth_place": "BANDUNG",
                             "birth_date": "1987-04-05", "sex": "F",
                             "region_code": "32.73.05.1001"},
            "fingerprints": fingers, "irises": eyes}


def synthetic_pair() -> tuple[Enrollment, Enrollment]:
    """Two decoded captures of one made-up person: ten fingers (the second capture shifted by a
    few pixels) and the same two iris codes."""
    rng = np.random.default_rng(0)
    views = [_view(rng, position, 0) for position in range(1, 11)]
    again = [FingerView(v.position, 0, 80, v.x + 3, v.y + 2, v.angle, v.kind, v.minutia_quality)
             for v in views]
    irises = [IrisTemplate(eye, rng.random(_IRIS_SHAPE) < 0.5, np.ones(_IRIS_SHAPE, bool))
              for eye in ("R", "L")]
    first = decode_enrollment(_event("WARMUP0-20170913-000001", views, irises))
    second = decode_enrollment(_event("WARMUP0-20170913-000002", again, irises))
    return first, second


def warm_up() -> float:
    """Run every compiled kernel of the engine once; returns the seconds it took."""
    t0 = time.monotonic()
    first, second = synthetic_pair()
    for e in (first, second):
        route_keys(keys_for(e), 4)
    probe, cand = fusion.prepare(first), fusion.prepare(second)
    fusion.evidence_many(probe, [cand], cascade=False)
    fusion.compare(probe, [cand])
    seconds = time.monotonic() - t0
    log.info("compiled kernels ready in %.1f s (numba cache: loaded or compiled)", seconds)
    return seconds
