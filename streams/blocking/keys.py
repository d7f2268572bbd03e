"""Blocking keys of one enrollment, per modality. Keys are short ASCII strings whose prefix
names the modality (``nik:``, ``nd:``, ``dsr:``, ``ir:``, ``fp:``), so their hit rates can be
measured apart (benchmarks/blocking.py)."""

from __future__ import annotations

from streams.blocking import biometric
from streams.blocking.finger_keys import finger_key_set
from streams.domain.types import Enrollment
from streams.matching.names import sorted_name_key


def demographic_keys(e: Enrollment) -> list[str]:
    """Keys that survive the ways a person's own records differ (docs/blocking.md):

    - ``nik:`` the NIK itself: finds RECAPTURE and NIK_CONFLICT candidates;
    - ``nd:`` spelling-folded, order-free name with the birth date: a DUPLICATE under a new NIK;
    - ``dsr:`` birth date, sex and regency: a respelled or renamed person;
    - ``nsr:`` name, sex and regency: a mistyped birth date (one wrong digit, swapped fields);
    - ``tmd:`` each name token with the unordered day/month: a dropped or added name token, a
      moved domicile and a mistyped year at once;
    - ``ty:`` each name token with the birth year and sex: the same with a mistyped day or month.

    A single wrong digit of the birth date leaves either its year or its day/month intact, so
    one of the token keys survives it wherever the person moved.
    """
    d = e.demographics
    keys = [f"nik:{e.nik}"]
    name = sorted_name_key(d.full_name)
    regency = d.region_code[:5]
    if name:
        keys.append(f"nd:{name}|{d.birth_date}")
        keys.append(f"nsr:{name}|{d.sex}|{regency}")
    keys.append(f"dsr:{d.birth_date}|{d.sex}|{regency}")
    year = d.birth_date[:4]
    month_day = "-".join(sorted(d.birth_date[5:].split("-")))
    for token in sorted(set(name.split())):
        if len(token) >= MIN_TOKEN_LENGTH:
            keys.append(f"tmd:{token}|{month_day}")
            keys.append(f"ty:{token}|{year}|{d.sex}")
    return keys


#: Name tokens shorter than this make no ``tmd:``/``ty:`` key (initials, particles).
MIN_TOKEN_LENGTH = 3


#: Finger positions whose keys the engine indexes: both thumbs and index fingers, the fingers
#: civil AFIS searches rely on (largest, most often captured well). Each finger costs ~0.5 ms of
#: key derivation and adds chance candidates, so the engine indexes about 170 keys per enrollment
#: instead of about 300; iris and demographic keys stay complete. (When this was chosen every key
#: also cost a changelog record; since the index keeps one record per probe, indexing all ten
#: fingers would cost CPU and candidates, not Kafka records.) docs/blocking.md gives the hit rates.
INDEXED_FINGERS = frozenset({1, 2, 6, 7})


def keys_for(e: Enrollment) -> list[str]:
    """Every blocking key the engine indexes for an enrollment (demographic, iris, finger),
    sorted and without repeats."""
    keys = finger_key_set([f for f in e.fingers if f.position in INDEXED_FINGERS])  # one pass
    keys |= biometric.iris_key_set_for(e)
    keys.update(demographic_keys(e))
    return sorted(keys)
