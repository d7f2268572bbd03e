"""NIK parse/build round trip, the women's +40, the century, and the findings against demographics."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.nik import (
    BAD_NIK_CODE,
    NIK_BIRTHDATE_MISMATCH,
    NIK_INVALID_DATE,
    NIK_INVALID_SERIAL,
    NIK_MALFORMED,
    NIK_SEX_MISMATCH,
    build_nik,
    nik_findings,
    parse_nik,
)
from streams.domain.types import Demographics
from streams.errors import InputError
from tests.factories import make_demographics




region_codes = st.builds(
    lambda p, r, d, v: f"{p:02d}.{r:02d}.{d:02d}.{v:04d}",
    st.integers(11, 99),
    st.one_of(st.integers(1, 69), st.integers(71, 99)),
    st.integers(1, 99),
    st.integers(1001, 2999),
)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@given(region_codes, birth_dates, st.sampled_from(["M", "F"]), st.integers(1, 9999))
def test_build_parse_round_trip(region: str, born: date, sex: str, serial: int) -> None:
    nik = build_nik(region, born, sex, serial)
    assert len(nik) == 16 and nik.isdigit()
    parts = parse_nik(nik)
    assert parts.region_prefix == region[:8]
    assert (parts.day, parts.month, parts.year2) == (born.day, born.month, born.year % 100)
    assert parts.sex == sex
    assert parts.serial == serial
    assert parts.is_city == (int(region[3:5]) >= 71)
    assert born in parts.century_candidates()
    # the century resolves to the real one for any reference year less than 100 years later
    assert parts.birth_date(born.year) == born
    assert parts.birth_date(born.year + 99) == born
    demo = make_demographics(birth_date=born.isoformat(), sex=sex, region_code=region)
    assert nik_findings(nik, demo) == ()


def test_women_have_forty_added_to_the_day() -> None:
    born = date(1987, 4, 5)
    assert build_nik("32.73.05.1001", born, "F", 1) == "3273054504870001"
    assert build_nik("32.73.05.1001", born, "M", 1) == "3273050504870001"
    assert build_nik("327305", born, "F", 2) == "3273054504870002"
    parts = parse_nik("3273057112990123")
    assert (parts.sex, parts.day, parts.month, parts.year2, parts.serial) == ("F", 31, 12, 99, 123)


def test_century_is_resolved_against_the_reference_year() -> None:
    parts = parse_nik("3273050101050001")  # 01-01-05
    assert parts.century_candidates() == (date(1905, 1, 1), date(2005, 1, 1))
    assert parts.birth_date(2017) == date(2005, 1, 1)
    assert parts.birth_date(2004) == date(1905, 1, 1)
    assert parts.birth_date(1900) is None
    # a centenarian's NIK agrees with the full birth year: comparison is modulo 100 years
    assert nik_findings("3273050101050001", make_demographics(birth_date="1905-01-01", sex="M")) == ()


def test_findings_report_sex_and_date_disagreements() -> None:
    demo = make_demographics()
    assert nik_findings("3273054504870001", demo) == ()
    assert nik_findings("3273050504870001", demo) == (NIK_SEX_MISMATCH,)
    assert nik_findings("3273054604870001", demo) == (NIK_BIRTHDATE_MISMATCH,)
    assert nik_findings("3273050604870001", demo) == (NIK_SEX_MISMATCH, NIK_BIRTHDATE_MISMATCH)
    assert nik_findings("3273054504880001", demo) == (NIK_BIRTHDATE_MISMATCH,)


def test_a_different_region_is_not_a_finding() -> None:
    # the NIK keeps the district of first registration; people move
    assert nik_findings("1171014504870001", make_demographics(region_code="32.73.05.1001")) == ()


@pytest.mark.parametrize(
    "nik",
    [
        "3273053204870001",  # day 32
        "3273054004870001",  # day 40: neither a man's nor a woman's day
        "3273057204870001",  # day 72 - 40 = 32
        "3273050004870001",  # day 0
        "3273050513870001",  # month 13
        "3273053002870001",  # 30 February
        "3273052902010001",  # 29 February 1901/2001: no leap year in either century
    ],
)
def test_impossible_embedded_dates(nik: str) -> None:
    assert nik_findings(nik, make_demographics()) == (NIK_INVALID_DATE,)


def test_leap_day_valid_in_one_century_is_valid() -> None:
    # 29-02-00 exists in 2000 (not in 1900)
    parts = parse_nik("3273056902000001")
    assert parts.century_candidates() == (date(2000, 2, 29),)
    assert nik_findings("3273056902000001", make_demographics(birth_date="2000-02-29")) == ()


def test_serial_zero_and_malformed() -> None:
    assert nik_findings("3273054504870000", make_demographics()) == (NIK_INVALID_SERIAL,)
    for bad in ("327305450487000", "32730545048700011", "32730545O4870001", "", "３２７３０５４５０４８７０００１"):
        assert nik_findings(bad, make_demographics()) == (NIK_MALFORMED,)
        with pytest.raises(InputError) as excinfo:
            parse_nik(bad)
        assert excinfo.value.code == BAD_NIK_CODE


def test_build_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        build_nik("32.73.05.1001", date(1987, 4, 5), "X", 1)
    with pytest.raises(ValueError):
        build_nik("32.73.05.1001", date(1987, 4, 5), "M", 0)
    with pytest.raises(ValueError):
        build_nik("32.73.05.1001", date(1987, 4, 5), "M", 10000)
    with pytest.raises(ValueError):
        build_nik("32.73", date(1987, 4, 5), "M", 1)
