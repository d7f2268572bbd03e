"""Blocking keys of one enrollment, per modality. Keys are short ASCII strings whose prefix
names the modality (``nik:``, ``nd:``, ``dsr:``, ``ir:``, ``fp:``), so their hit rates can be
measured apart (benchmarks/blocking.py)."""

from __future__ import annotations

from streams.domain.types import Enrollment
from streams.matching.names import sorted_name_key


def demographic_keys(e: Enrollment) -> list[str]:
    """The NIK itself (finds RECAPTURE and NIK_CONFLICT candidates), the spelling-folded name with
    the birth date (finds a DUPLICATE under a new NIK), and birth date, sex and regency (finds a
    respelled name)."""
    d = e.demographics
    keys = [f"nik:{e.nik}"]
    name = sorted_name_key(d.full_name)
    if name:
        keys.append(f"nd:{name}|{d.birth_date}")
    regency = d.region_code[:5]
    keys.append(f"dsr:{d.birth_date}|{d.sex}|{regency}")
    return keys


def keys_for(e: Enrollment) -> list[str]:
    """Every blocking key of an enrollment, sorted and without repeats."""
    return sorted(set(demographic_keys(e)))
