"""The NIK (Nomor Induk Kependudukan): parse, build, and check against the demographics.

A NIK is 16 digits with no check digit (REFERENCE.md section 6)::

    PP RR DD ddmmyy SSSS
    |  |  |  |      serial, from 0001, bumped when the first 12 digits collide
    |  |  |  birth date; 40 is added to the day for women
    |  |  district (kecamatan)
    |  regency (01-69) or city (71-99)
    province

Decisions documented here because the contract leaves them open:

* **The century.** ``yy`` does not say 19yy or 20yy. :func:`nik_findings` compares the NIK date
  with the demographics modulo 100 years, which is exact for everyone under 100.
  :meth:`NikParts.birth_date` resolves the century against a reference year: the latest
  candidate not after it (nobody is born in the future).
* **The region is not a finding.** The NIK carries the district where it was *first registered*
  and never changes, while ``region_code`` is the current domicile; people move, so a different
  region is normal and produces no reason code.
* **Impossible dates.** A day of 0, 32-40 or above 71, a month outside 1-12, or a day beyond
  the month's length in both candidate centuries gives ``NIK_INVALID_DATE``; sex and date are then
  not compared (the sex flag lives in the same digits).
* ``NIK_INVALID_SERIAL`` for serial ``0000`` and ``NIK_MALFORMED`` for anything not 16 digits
  (then no other finding is computed).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from streams.domain.types import Demographics
from streams.errors import InputError

NIK_LENGTH = 16
#: Added to the day of birth for women.
FEMALE_DAY_OFFSET = 40
#: Regency codes run 01-69, city (kota) codes 71-99.
MAX_REGENCY_CODE = 69
MIN_CITY_CODE = 71
MAX_SERIAL = 9999

#: Stable reason codes, in the order :func:`nik_findings` reports them.
NIK_MALFORMED = "NIK_MALFORMED"
NIK_INVALID_DATE = "NIK_INVALID_DATE"
NIK_INVALID_SERIAL = "NIK_INVALID_SERIAL"
NIK_SEX_MISMATCH = "NIK_SEX_MISMATCH"
NIK_BIRTHDATE_MISMATCH = "NIK_BIRTHDATE_MISMATCH"

BAD_NIK_CODE = "BAD_NIK"


@dataclass(frozen=True, slots=True)
class NikParts:
    """A NIK split into its fields. ``day`` has the women's +40 removed; ``sex`` is M or F."""

    nik: str
    province: str
    regency: str
    district: str
    day: int
    month: int
    year2: int
    sex: str
    serial: int

    @property
    def region_prefix(self) -> str:
        """The district of first registration, dotted like a region code: ``PP.RR.DD``."""
        return f"{self.province}.{self.regency}.{self.district}"

    @property
    def is_city(self) -> bool:
        """True when the regency/city digits name a city (kota), 71-99."""
        return int(self.regency) >= MIN_CITY_CODE

    @property
    def date_is_valid(self) -> bool:
        """True when ``day``/``month`` form a real date in 19yy or 20yy."""
        return bool(self.century_candidates())

    def century_candidates(self) -> tuple[date, ...]:
        """The real dates the embedded DDMMYY can stand for (0, 1 or 2 of them)."""
        found = []
        for century in (1900, 2000):
            year = century + self.year2
            if 1 <= self.month <= 12 and 1 <= self.day <= calendar.monthrange(year, self.month)[1]:
                found.append(date(year, self.month, self.day))
        return tuple(found)

    def birth_date(self, reference_year: int) -> date | None:
        """The embedded birth date, century resolved as the latest one not after ``reference_year``."""
        best = None
        for candidate in self.century_candidates():
            if candidate.year <= reference_year:
                best = candidate
        return best


def parse_nik(nik: str) -> NikParts:
    """Split a 16-digit NIK into its fields; raise :class:`InputError` (``BAD_NIK``) if malformed.

    Only the shape is checked here (16 ASCII digits, a day that is 1-31 or 41-71 so the sex is
    readable). Whether the date exists is a *finding*, not a parse error: the contract says such
    a NIK is still processed.
    """
    if len(nik) != NIK_LENGTH or not nik.isascii() or not nik.isdigit():
        raise InputError(f"NIK must be {NIK_LENGTH} digits, got {nik!r}", path="nik", code=BAD_NIK_CODE)
    raw_day = int(nik[6:8])
    if raw_day > FEMALE_DAY_OFFSET:
        sex, day = "F", raw_day - FEMALE_DAY_OFFSET
    else:
        sex, day = "M", raw_day
    return NikParts(
        nik=nik,
        province=nik[0:2],
        regency=nik[2:4],
        district=nik[4:6],
        day=day,
        month=int(nik[8:10]),
        year2=int(nik[10:12]),
        sex=sex,
        serial=int(nik[12:16]),
    )


def _region_digits(region_code: str) -> str:
    digits = region_code.replace(".", "")
    if len(digits) < 6 or not digits.isdigit():
        raise ValueError(f"region code needs at least PP.RR.DD, got {region_code!r}")
    return digits[:6]


def build_nik(region_code: str, birth_date: date | str, sex: str, serial: int) -> str:
    """The NIK for a person first registered in ``region_code`` (``PP.RR.DD[.VVVV]``).

    ``birth_date`` is a :class:`date` or an ISO ``YYYY-MM-DD`` string; ``sex`` is ``M`` or ``F``;
    ``serial`` is 1-9999. Raises :class:`ValueError` on arguments outside those ranges.
    """
    if isinstance(birth_date, str):
        birth_date = date.fromisoformat(birth_date)
    if sex not in ("M", "F"):
        raise ValueError(f"sex must be M or F, got {sex!r}")
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial must be 1-{MAX_SERIAL}, got {serial}")
    day = birth_date.day + (FEMALE_DAY_OFFSET if sex == "F" else 0)
    return (
        f"{_region_digits(region_code)}{day:02d}{birth_date.month:02d}"
        f"{birth_date.year % 100:02d}{serial:04d}"
    )


def nik_prefix(region_code: str, birth_date: date, sex: str) -> str:
    """The first 12 digits of a NIK: the key under which serials are counted."""
    return build_nik(region_code, birth_date, sex, 1)[:12]


def is_valid_day_code(raw_day: int) -> bool:
    """True when the NIK day digits are 1-31 (men) or 41-71 (women)."""
    return 1 <= raw_day <= 31 or FEMALE_DAY_OFFSET + 1 <= raw_day <= FEMALE_DAY_OFFSET + 31


def nik_findings(nik: str, demographics: Demographics) -> tuple[str, ...]:
    """Reason codes for a NIK that disagrees with the demographics, in a stable order.

    Empty when the NIK is consistent. See the module docstring for what is (and is not) a finding.
    """
    try:
        parts = parse_nik(nik)
    except InputError:
        return (NIK_MALFORMED,)
    findings: list[str] = []
    date_ok = is_valid_day_code(int(nik[6:8])) and parts.date_is_valid
    if not date_ok:
        findings.append(NIK_INVALID_DATE)
    if parts.serial == 0:
        findings.append(NIK_INVALID_SERIAL)
    if date_ok:
        if demographics.sex in ("M", "F") and parts.sex != demographics.sex:
            findings.append(NIK_SEX_MISMATCH)
        try:
            born = date.fromisoformat(demographics.birth_date)
        except ValueError:
            born = None  # the codec validates dates; an unreadable one cannot be compared
        if born is not None and (parts.day, parts.month, parts.year2) != (born.day, born.month, born.year % 100):
            findings.append(NIK_BIRTHDATE_MISMATCH)
    return tuple(findings)
