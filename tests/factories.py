"""Test factories: valid contract events with overridable parts (``make_enrollment(**overrides)``).

Templates here are random, not realistic: realism is the synthetic population's job
(``streams.sim``). These exist to exercise codecs and plumbing.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson

from streams.codecs import iso19794
from streams.codecs.iris import pack
from streams.sim.malformed import edited
from streams.domain.types import DEFAULT_IRIS_SHAPE, Demographics, FingerView, IrisTemplate


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def finger_view(position: int, rng: np.random.Generator, n: int = 40) -> FingerView:
    return FingerView(
        position=position, impression=0, quality=80,
        x=rng.integers(10, 390, n).astype(np.int32), y=rng.integers(10, 490, n).astype(np.int32),
        angle=iso19794.quantize_angle(rng.uniform(0, 2 * np.pi, n)),
        kind=rng.integers(1, 3, n).astype(np.uint8),
        minutia_quality=rng.integers(40, 100, n).astype(np.uint8),
        width=400, height=500, resolution=197)


def iso_record(position: int, rng: np.random.Generator, n: int = 40) -> bytes:
    return iso19794.encode([finger_view(position, rng, n)], width=400, height=500)


def iris_entry(eye: str, rng: np.random.Generator, shape=DEFAULT_IRIS_SHAPE,
               usable: float = 0.9) -> dict[str, Any]:
    code = rng.random(shape) < 0.5
    mask = rng.random(shape) < usable
    c, m = pack(IrisTemplate(eye, code, mask))
    return {"eye": eye, "format": "IRIS_CODE_V1", "shape": list(shape), "code": b64(c),
            "mask": b64(m)}


def make_enrollment(seq: int = 1, *, seed: int | None = None, fingers=(2, 7),
                    eyes=("R", "L"), **overrides: Any) -> dict[str, Any]:
    rng = np.random.default_rng(seq if seed is None else seed)
    event = {
        "schema": "tunggal.enrollment.v1",
        "enrollment_id": f"JKT0042-20170913-{seq:06d}",
        "station_id": "JKT0042",
        "captured_at": "2017-09-13T10:15:00+07:00",
        "nik": "3273054504870001",
        "demographics": {"full_name": "SITI NURHALIZA", "birth_place": "BANDUNG",
                         "birth_date": "1987-04-05", "sex": "F", "region_code": "32.73.05.1001"},
        "fingerprints": [{"position": p, "format": "ISO_19794_2_2005",
                          "data": b64(iso_record(p, rng))} for p in fingers],
        "irises": [iris_entry(e, rng) for e in eyes],
    }
    for key, value in overrides.items():
        event[key] = value
    return event


#: A deep copy with the value at ``a/b/0/c`` replaced (or deleted).
mutate = edited


def dumps(event: Any) -> bytes:
    return orjson.dumps(event)


def make_demographics(**overrides: Any) -> Demographics:
    """The contract example's demographics, with overrides."""
    fields = {"full_name": "SITI NURHALIZA", "birth_place": "BANDUNG", "birth_date": "1987-04-05",
              "sex": "F", "region_code": "32.73.05.1001"}
    fields.update(overrides)
    return Demographics(**fields)
