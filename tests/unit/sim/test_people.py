"""The people generator: determinism, population statistics, the NIK rules, variation functions."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from datetime import date

import pytest

from streams.domain.nik import nik_findings, parse_nik
from streams.matching.names import name_key
from streams.sim import names_data as nd
from streams.sim.people import (
    DEFAULT_AS_OF,
    MAX_AGE,
    MIN_AGE,
    NikRegistry,
    PeopleGenerator,
    generate_people,
    perturb_birth_date,
    respell,
    to_new_spelling,
    to_old_spelling,
)

REGION = re.compile(r"^(\d{2})\.(\d{2})\.(\d{2})\.(\d{4})$")
N = 6000


@pytest.fixture(scope="module")
def people():
    return generate_people(N, seed=7)


def test_deterministic_for_a_seed() -> None:
    assert generate_people(200, seed=1) == generate_people(200, seed=1)
    assert generate_people(200, seed=1) != generate_people(200, seed=2)


def test_niks_are_valid_unique_and_consistent(people) -> None:
    assert len({p.nik for p in people}) == len(people)
    for p in people:
        assert nik_findings(p.nik, p.demographics) == ()
        parts = parse_nik(p.nik)
        assert (parts.day + 40 if p.demographics.sex == "F" else parts.day) == int(p.nik[6:8])
        assert int(p.nik[6:8]) > 40 if p.demographics.sex == "F" else int(p.nik[6:8]) <= 31


def test_serials_count_from_one_per_prefix(people) -> None:
    serials = defaultdict(list)
    for p in people:
        serials[p.nik[:12]].append(int(p.nik[12:]))
    for values in serials.values():
        assert sorted(values) == list(range(1, len(values) + 1))


def test_registry_bumps_the_serial_on_a_colliding_prefix() -> None:
    registry = NikRegistry()
    first = registry.issue("32.73.05.1001", date(1987, 4, 5), "F")
    second = registry.issue("32.73.05.2002", date(1987, 4, 5), "F")  # same district, other village
    other = registry.issue("32.73.05.1001", date(1987, 4, 5), "M")
    assert (first, second, other) == ("3273054504870001", "3273054504870002", "3273050504870001")
    assert len(registry) == 3


def test_regions_are_well_formed_and_skewed_to_java(people) -> None:
    provinces = {code for code, *_ in nd.PROVINCES}
    assert len(provinces) == 38
    for p in people:
        match = REGION.match(p.demographics.region_code)
        assert match, p.demographics.region_code
        pp, rr, dd, _vv = (int(x) for x in match.groups())
        assert match.group(1) in provinces
        assert 1 <= rr <= 69 or 71 <= rr <= 99
        assert dd >= 1
        assert p.nik[:2] in provinces
    java = sum(p.demographics.region_code[:2] in {"31", "32", "33", "34", "35", "36"} for p in people) / len(people)
    assert 0.50 <= java <= 0.62  # 2020 census: about 56%


def test_single_names_ages_and_sexes(people) -> None:
    single = sum(len(p.demographics.full_name.split()) == 1 for p in people) / len(people)
    assert 0.18 <= single <= 0.40
    women = sum(p.demographics.sex == "F" for p in people) / len(people)
    assert 0.47 <= women <= 0.53
    for p in people:
        born = date.fromisoformat(p.demographics.birth_date)
        age = (DEFAULT_AS_OF - born).days / 365.2425
        assert MIN_AGE <= age <= MAX_AGE + 1


def test_naming_customs_follow_the_groups(people) -> None:
    by_group = defaultdict(list)
    for p in people:
        by_group[p.group].append(p)
    birth_order = {n for names in nd.BALINESE_ORDER for n in names}
    for p in by_group[nd.BALINESE]:
        tokens = p.demographics.full_name.split()
        assert tokens[0] in ("I", "NI", "IDA") and (tokens[1] in birth_order or tokens[1] in ("BAGUS", "AYU"))
    for p in by_group[nd.BATAK]:
        assert p.demographics.full_name.split()[-1] in nd.BATAK_MARGA
    bali = [p for p in people if p.demographics.region_code.startswith("51")]
    assert sum(p.group == nd.BALINESE for p in bali) / len(bali) > 0.7
    groups = Counter(p.group for p in people)
    assert set(groups) == set(nd.GROUPS)


def test_some_older_people_keep_the_old_spelling(people) -> None:
    old = [p for p in people if p.group == nd.JAVANESE and p.demographics.birth_date < "1960"]
    marked = sum(bool(re.search("OE|DJ|TJ", p.demographics.full_name)) for p in old) / len(old)
    assert 0.15 <= marked <= 0.5


def test_spelling_conversions() -> None:
    assert to_old_spelling("SUKARNO") == "SOEKARNO"
    assert to_old_spelling("JOKO CAHYONO") == "DJOKO TJAHJONO"
    assert to_old_spelling("NYOMAN SYARIF KHAIRUL") == "NJOMAN SJARIF CHAIROEL"
    assert to_new_spelling("DJOKO TJAHJONO") == "JOKO CAHYONO"
    assert to_new_spelling("JOESOEF") == "YUSUF"


def test_variations_keep_the_person_recognisable() -> None:
    rng = random.Random(1)
    for p in generate_people(300, seed=5):
        name = p.demographics.full_name
        variant = respell(name, rng, p.demographics.sex)
        assert variant != name
        born = date.fromisoformat(p.demographics.birth_date)
        wrong = perturb_birth_date(born, rng)
        assert wrong != born
        a, b = born.strftime("%Y%m%d"), wrong.strftime("%Y%m%d")
        swapped = (wrong.year, wrong.month, wrong.day) == (born.year, born.day, born.month)
        assert swapped or sum(x != y for x, y in zip(a, b)) == 1


def test_old_spelling_is_invisible_to_the_comparison_key(people) -> None:
    for p in people[:2000]:
        name = p.demographics.full_name
        assert name_key(to_old_spelling(name)) == name_key(name)
        assert name_key(to_new_spelling(to_old_spelling(name))) == name_key(name)


def test_relatives_and_twins() -> None:
    gen = PeopleGenerator(seed=9)
    people = gen.people(400)
    niks = {p.nik for p in people}
    for p in people:
        rel, twin = gen.relative_of(p), gen.twin_of(p)
        for other in (rel, twin):
            assert other.surname == p.surname
            assert other.demographics.region_code == p.demographics.region_code
            assert other.given != p.given
            assert nik_findings(other.nik, other.demographics) == ()
            assert other.nik not in niks
            niks.add(other.nik)
        assert rel.demographics.birth_date != p.demographics.birth_date
        assert twin.demographics.birth_date == p.demographics.birth_date
        assert twin.demographics.birth_place == p.demographics.birth_place
        if twin.demographics.sex == p.demographics.sex and p.nik[:6] == twin.nik[:6]:
            assert twin.nik[:12] == p.nik[:12] and twin.nik != p.nik
