"""A deterministic generator of Indonesian people with realistic demographics and valid NIKs.

What: :class:`PeopleGenerator` draws adults (17-90 years old at ``as_of``) living in a synthetic
but realistically shaped set of Kemendagri regions (``PP.RR.DD.VVVV``: the 38 real province
codes, regencies 01-69 and cities 71-99, districts and villages; residents skewed to Java as in
the census), named after their province's naming customs (Javanese and Sundanese single names,
Batak marga, Balinese birth-order names, Minang, Bugis, Chinese-Indonesian, Arabic-derived Muslim
names, Christian names in the east), some of the older ones in the pre-1972 spelling. Each gets
a NIK from a :class:`NikRegistry`, which numbers serials from 0001 per first-12-digit prefix as
the civil registry does. About :data:`MOVED_SHARE` of people live away from the district where
their NIK was issued.

Why: the demographic comparator, blocking and the end-to-end scenarios need people whose
variation is known (ground truth) and whose statistics look like the real population. The
variation functions (:func:`respell`, :func:`perturb_birth_date`, :func:`relative_of`,
:func:`twin_of`) make the hard cases: the same person written differently, and different people
who look alike.

Randomness comes only from the ``random.Random`` passed in (or seeded by the generator), so a
seed reproduces the same people.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import date
from itertools import accumulate

import numpy as np

from streams.domain.nik import FEMALE_DAY_OFFSET, MAX_SERIAL, build_nik, parse_nik
from streams.domain.types import Demographics
from streams.sim import names_data as nd

#: Default "today" of the simulation (the contract's examples are from 2013-2017).
DEFAULT_AS_OF = date(2017, 1, 1)
MIN_AGE, MAX_AGE = 17, 90
#: Share of people whose NIK was issued in another district than the one they live in.
MOVED_SHARE = 0.15
#: Share of people born in their province of residence (the rest are migrants).
LOCAL_BIRTH_SHARE = 0.75
#: The 1972 spelling reform (EYD): people born before it keep the old spelling this often.
OLD_SPELLING_SHARE_BEFORE_1972 = 0.35
OLD_SPELLING_SHARE_AFTER_1972 = 0.02
EYD_YEAR = 1972
#: Groups whose names were written in the Dutch-era spelling.
OLD_SPELLING_GROUPS = frozenset({nd.JAVANESE, nd.SUNDANESE, nd.MUSLIM, nd.MINANG, nd.BUGIS, nd.CHINESE})
DAYS_PER_YEAR = 365.2425


def _age_weight(age: int) -> float:
    """Relative number of adults of each age: flat to 39, then thinning (Indonesian pyramid)."""
    if age < 40:
        return 1.0
    if age < 55:
        return 1.0 - 0.45 * (age - 40) / 15
    if age < 75:
        return 0.55 - 0.40 * (age - 55) / 20
    return max(0.15 - 0.13 * (age - 75) / 15, 0.01)


_AGES = tuple(range(MIN_AGE, MAX_AGE + 1))
_AGE_CUM = tuple(accumulate(_age_weight(a) for a in _AGES))


def _cum(weights) -> tuple[float, ...]:
    return tuple(accumulate(weights))


def _pick(rng: random.Random, items, cum) -> object:
    return items[bisect_right(cum, rng.random() * cum[-1])]


@dataclass(frozen=True, slots=True)
class _Province:
    code: str
    regencies: tuple[str, ...]
    regency_cum: tuple[float, ...]
    groups: tuple[str, ...]
    group_cum: tuple[float, ...]
    places: tuple[str, ...]
    place_cum: tuple[float, ...]


def _build_provinces() -> tuple[tuple[_Province, ...], tuple[float, ...]]:
    provinces = []
    for code, _name, _pop, n_reg, n_city, groups, places in nd.PROVINCES:
        regencies = tuple(f"{i:02d}" for i in range(1, n_reg + 1)) + tuple(f"{70 + i:02d}" for i in range(1, n_city + 1))
        # cities are denser; otherwise a mild Zipf skew across regencies
        weights = [(3.0 if int(r) > 70 else 1.0) / (1 + i) ** 0.5 for i, r in enumerate(regencies)]
        provinces.append(
            _Province(
                code, regencies, _cum(weights), tuple(groups), _cum(groups.values()),
                places, _cum([3.0] + [1.0] * (len(places) - 1)),
            )
        )
    return tuple(provinces), _cum(p[2] for p in nd.PROVINCES)


_PROVINCES, _PROVINCE_CUM = _build_provinces()
_PROVINCE_BY_CODE = {p.code: p for p in _PROVINCES}
_PROVINCE_INDEX = {p.code: i for i, p in enumerate(_PROVINCES)}


def districts_in(province: str, regency: str) -> int:
    """Number of districts of a synthetic regency (10-24): a fixed function of its code."""
    return 10 + (int(province) * 7 + int(regency) * 13) % 15


def villages_in(province: str, regency: str, district: int) -> int:
    """Number of villages of a synthetic district (5-20): a fixed function of its code."""
    return 5 + (int(province) * 3 + int(regency) * 5 + district * 11) % 16


class NikRegistry:
    """Issues NIKs as the civil registry does: serial 0001 for the first holder of a 12-digit
    prefix (district + birth date + sex), incremented for each later one."""

    def __init__(self) -> None:
        self._last_serial: dict[str, int] = {}

    def issue(self, region_code: str, birth_date: date, sex: str) -> str:
        day = birth_date.day + (FEMALE_DAY_OFFSET if sex == "F" else 0)
        district = region_code if len(region_code) == 6 else region_code[0:2] + region_code[3:5] + region_code[6:8]
        prefix = f"{district}{day:02d}{birth_date.month:02d}{birth_date.year % 100:02d}"
        serial = self._last_serial.get(prefix, 0) + 1
        if serial > MAX_SERIAL:
            raise OverflowError(f"no serial left under NIK prefix {prefix}")
        self._last_serial[prefix] = serial
        return f"{prefix}{serial:04d}"

    def __len__(self) -> int:
        return sum(self._last_serial.values())


@dataclass(frozen=True, slots=True)
class Person:
    """A generated person: NIK, demographics and how the name was made (ground truth)."""

    nik: str
    demographics: Demographics
    group: str
    given: str
    surname: str = ""
    surname_first: bool = False  # Hokkien order: TAN SIOE LAN


def _compose(given: str, surname: str, surname_first: bool) -> str:
    if not surname:
        return given
    return f"{surname} {given}" if surname_first else f"{given} {surname}"


# --- spelling -----------------------------------------------------------------------------------

_TO_OLD = re.compile(r"NY|SY|KH|(?<![AEIO])U|C|J|Y")
_TO_OLD_MAP = {"NY": "NJ", "SY": "SJ", "KH": "CH", "U": "OE", "C": "TJ", "J": "DJ", "Y": "J"}
_TO_NEW = re.compile(r"OE|TJ|DJ|NJ|SJ|CH|J")
_TO_NEW_MAP = {"OE": "U", "TJ": "C", "DJ": "J", "NJ": "NY", "SJ": "SY", "CH": "KH", "J": "Y"}
_OLD_MARKERS = re.compile(r"OE|TJ|DJ")


def to_old_spelling(name: str) -> str:
    """The pre-1972 spelling of a modern name (SUKARNO -> SOEKARNO, CAHYO -> TJAHJO)."""
    return _TO_OLD.sub(lambda m: _TO_OLD_MAP[m.group(0)], name)


def to_new_spelling(name: str) -> str:
    """The EYD (1972) spelling of an old-spelling name (DJOKO -> JOKO, JOESOEF -> YUSUF)."""
    return _TO_NEW.sub(lambda m: _TO_NEW_MAP[m.group(0)], name)


def _swap_spelling(name: str) -> str:
    return to_new_spelling(name) if _OLD_MARKERS.search(name) else to_old_spelling(name)


# --- names --------------------------------------------------------------------------------------


def _two_distinct(pool: tuple[str, ...], rng: random.Random) -> str:
    first, second = rng.sample(pool, 2)
    return f"{first} {second}"


def _draw_name(group: str, sex: str, rng: random.Random, born: int) -> tuple[str, str, bool]:
    """(given, surname, surname_first) following the group's naming custom."""
    m, r, ch = sex == "M", rng.random(), rng.choice
    if group == nd.JAVANESE:
        if r < 0.45:
            return ch(nd.JAVANESE_SINGLE_M if m else nd.JAVANESE_SINGLE_F), "", False
        given = f"{ch(nd.JAVANESE_FIRST_M if m else nd.JAVANESE_FIRST_F)} {ch(nd.JAVANESE_SECOND_M if m else nd.JAVANESE_SECOND_F)}"
        if r > 0.92:
            given = f"{ch(nd.MUSLIM_FIRST_M if m else nd.MUSLIM_FIRST_F)} {given}"
        return given, "", False
    if group == nd.SUNDANESE:
        if r < 0.3:
            return ch(nd.SUNDANESE_SINGLE_M if m else nd.SUNDANESE_SINGLE_F), "", False
        return f"{ch(nd.SUNDANESE_FIRST_M if m else nd.SUNDANESE_FIRST_F)} {ch(nd.SUNDANESE_SECOND_M if m else nd.SUNDANESE_SECOND_F)}", "", False
    if group == nd.BATAK:
        pool = (nd.CHRISTIAN_M if m else nd.CHRISTIAN_F) if r < 0.7 else (nd.MUSLIM_FIRST_M if m else nd.MUSLIM_FIRST_F)
        given = ch(pool) if rng.random() < 0.7 else _two_distinct(pool, rng)
        return given, ch(nd.BATAK_MARGA), False
    if group == nd.BALINESE:
        order = nd.BALINESE_ORDER[_pick(rng, (0, 1, 2, 3), (0.4, 0.7, 0.88, 1.0))]
        head = ("IDA BAGUS" if m else "IDA AYU") if r < 0.06 else ("I" if m else "NI")
        return f"{head} {ch(order)} {ch(nd.BALINESE_GIVEN_M if m else nd.BALINESE_GIVEN_F)}", "", False
    if group == nd.MINANG:
        first = ch(nd.MINANG_M if m else nd.MINANG_F)
        return (first if r < 0.35 else f"{first} {ch(nd.MINANG_SECOND)}"), "", False
    if group == nd.BUGIS:
        given = ch(nd.BUGIS_M if m else nd.BUGIS_F)
        if r >= 0.35:
            given = f"{given} {ch(nd.BUGIS_SECOND)}"
        return (f"ANDI {given}" if rng.random() < 0.2 else given), "", False
    if group == nd.CHINESE:
        if born < 1966 and r < 0.3:
            return ch(nd.CHINESE_HOKKIEN_GIVEN), ch(nd.CHINESE_HOKKIEN_FAMILY), True
        return ch(nd.CHINESE_GIVEN_M if m else nd.CHINESE_GIVEN_F), ch(nd.CHINESE_SURNAMES), False
    if group == nd.MUSLIM:
        if r < 0.15:
            return ch(nd.MUSLIM_SINGLE_M if m else nd.MUSLIM_SINGLE_F), "", False
        given = f"{ch(nd.MUSLIM_FIRST_M if m else nd.MUSLIM_FIRST_F)} {ch(nd.MUSLIM_SECOND_M if m else nd.MUSLIM_SECOND_F)}"
        if r > 0.8:
            given = f"{given.split()[0]} {_two_distinct(nd.MUSLIM_SECOND_M if m else nd.MUSLIM_SECOND_F, rng)}"
        return given, "", False
    # eastern Christian: Maluku, NTT, Papua, Minahasa, Toraja clan names
    pool = nd.CHRISTIAN_M if m else nd.CHRISTIAN_F
    given = ch(pool) if r < 0.7 else _two_distinct(pool, rng)
    return given, (ch(nd.EASTERN_SURNAMES) if rng.random() < 0.9 else ""), False


def _maybe_old(name: str, group: str, born: int, rng: random.Random) -> str:
    if group not in OLD_SPELLING_GROUPS:
        return name
    share = OLD_SPELLING_SHARE_BEFORE_1972 if born < EYD_YEAR else OLD_SPELLING_SHARE_AFTER_1972
    return to_old_spelling(name) if rng.random() < share else name


def _birth_place(prov: _Province, rng: random.Random) -> str:
    if rng.random() >= LOCAL_BIRTH_SHARE:
        prov = _pick(rng, _PROVINCES, _PROVINCE_CUM)
    return _pick(rng, prov.places, prov.place_cum)


def _birth_date(rng: random.Random, as_of: date) -> date:
    age = _pick(rng, _AGES, _AGE_CUM)
    return date.fromordinal(as_of.toordinal() - int((age + rng.random()) * DAYS_PER_YEAR))


def _issue(registry: NikRegistry | None, region: str, born: date, sex: str, rng: random.Random) -> str:
    if registry is not None:
        return registry.issue(region, born, sex)
    return build_nik(region, born, sex, rng.randint(1, 50))


def _region_table():
    """Every synthetic regency/city with its share of residents, as numpy arrays."""
    prov_idx, reg_num, weight = [], [], []
    for i, (prov, pop) in enumerate(zip(_PROVINCES, (p[2] for p in nd.PROVINCES))):
        local = np.diff(np.asarray((0.0,) + prov.regency_cum))
        prov_idx += [i] * len(prov.regencies)
        reg_num += [int(r) for r in prov.regencies]
        weight += list(pop * local / local.sum())
    cum = np.cumsum(weight)
    return np.asarray(prov_idx), np.asarray(reg_num), cum / cum[-1]


_REG_PROV, _REG_NUM, _REG_CUM = _region_table()
_PROV_NUM = np.asarray([int(p.code) for p in _PROVINCES])
_GROUP_CUM = [np.asarray(p.group_cum) / p.group_cum[-1] for p in _PROVINCES]
_PLACE_CUM = [np.asarray(p.place_cum) / p.place_cum[-1] for p in _PROVINCES]
_PROV_CUM = np.asarray(_PROVINCE_CUM) / _PROVINCE_CUM[-1]
_AGE_CUM_NP = np.asarray(_AGE_CUM) / _AGE_CUM[-1]


def _regions_np(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` village codes drawn by residents' shares, vectorised."""
    reg = np.minimum(np.searchsorted(_REG_CUM, rng.random(n), side="right"), len(_REG_CUM) - 1)
    pp, rr = _PROV_NUM[_REG_PROV[reg]], _REG_NUM[reg]
    dist = 1 + (rng.random(n) * (10 + (pp * 7 + rr * 13) % 15)).astype(np.int64)
    village = 1 + (rng.random(n) * (5 + (pp * 3 + rr * 5 + dist * 11) % 16)).astype(np.int64)
    village += np.where(rr > 70, 1000, 2000)
    return [f"{a:02d}.{b:02d}.{c:02d}.{d:04d}" for a, b, c, d in zip(pp.tolist(), rr.tolist(), dist.tolist(), village.tolist())]


class PeopleGenerator:
    """Draws people for a seed; owns the :class:`NikRegistry` so that NIKs stay unique.

    Structural draws (region, sex, age, birth place) are vectorised with numpy per batch; names
    use ``random.Random``. Both are seeded from ``seed``: the same seed and the same sequence of
    calls give the same people.
    """

    def __init__(self, seed: int, as_of: date = DEFAULT_AS_OF) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.as_of = as_of
        self.registry = NikRegistry()

    def person(self) -> Person:
        return self.people(1)[0]

    def people(self, n: int) -> list[Person]:
        g, rng = self.np_rng, self.rng
        regions, moved_to = _regions_np(g, n), _regions_np(g, n)
        moved = (g.random(n) < MOVED_SHARE).tolist()
        female = (g.random(n) < 0.5).tolist()
        ages = np.searchsorted(_AGE_CUM_NP, g.random(n), side="right") + MIN_AGE
        ordinals = (self.as_of.toordinal() - ((ages + g.random(n)) * DAYS_PER_YEAR).astype(np.int64)).tolist()
        u_group, u_local, u_prov, u_place = (g.random(n).tolist() for _ in range(4))
        migrant_prov = np.searchsorted(_PROV_CUM, g.random(n), side="right").tolist()
        out = []
        for i in range(n):
            region = regions[i]
            prov_i = _PROVINCE_INDEX[region[:2]]
            prov = _PROVINCES[prov_i]
            group = prov.groups[min(bisect_right(_GROUP_CUM[prov_i], u_group[i]), len(prov.groups) - 1)]
            sex = "F" if female[i] else "M"
            born = date.fromordinal(ordinals[i])
            given, surname, surname_first = _draw_name(group, sex, rng, born.year)
            given = _maybe_old(given, group, born.year, rng)
            if surname:
                surname = _maybe_old(surname, group, born.year, rng)
            place_i = prov_i if u_local[i] < LOCAL_BIRTH_SHARE else min(migrant_prov[i], len(_PROVINCES) - 1)
            places = _PROVINCES[place_i].places
            place = places[min(bisect_right(_PLACE_CUM[place_i], u_place[i]), len(places) - 1)]
            nik = self.registry.issue(moved_to[i] if moved[i] else region, born, sex)
            demo = Demographics(_compose(given, surname, surname_first), place, born.isoformat(), sex, region)
            out.append(Person(nik, demo, group, given, surname, surname_first))
        return out

    def relative_of(self, person: Person) -> Person:
        return relative_of(person, self.rng, self.registry, self.as_of)

    def twin_of(self, person: Person) -> Person:
        return twin_of(person, self.rng, self.registry)


def generate_people(n: int, seed: int, as_of: date = DEFAULT_AS_OF) -> list[Person]:
    """``n`` people for ``seed`` (same seed, same people)."""
    return PeopleGenerator(seed, as_of).people(n)


# --- variation ----------------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPRSTUWY"


def _typo(token: str, rng: random.Random) -> str:
    i = rng.randrange(len(token))
    kind = rng.randrange(4)
    if kind == 0:
        return token[:i] + rng.choice(_LETTERS.replace(token[i], "")) + token[i + 1 :]
    if kind == 1 and len(token) > 3:
        return token[:i] + token[i + 1 :]
    if kind == 2:
        return token[:i] + token[i] + token[i:]
    j = min(i, len(token) - 2)
    return token[:j] + token[j + 1] + token[j] + token[j + 2 :] if token[j] != token[j + 1] else token[:i] + token[i] + token[i:]


def respell(name: str, rng: random.Random, sex: str | None = None) -> str:
    """The same name as another clerk might write it: one of a spelling-era swap, a typo, a
    dropped token, a changed order or an added honorific (gendered when ``sex`` is given)."""
    tokens = name.split()
    kind = rng.choice(("spelling", "typo", "drop", "order", "honorific"))
    if kind == "spelling":
        swapped = _swap_spelling(name)
        if swapped != name:
            return swapped
        kind = "typo"
    if kind in ("drop", "order") and len(tokens) < 2:
        kind = "typo"
    if kind == "drop":
        del tokens[rng.randrange(len(tokens))]
    elif kind == "order":
        i = rng.randrange(len(tokens) - 1)
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    elif kind == "honorific":
        pool = nd.HONORIFICS_M if sex == "M" else nd.HONORIFICS_F if sex == "F" else nd.HONORIFICS_M + nd.HONORIFICS_F
        tokens.insert(0, rng.choice(pool))
    else:
        candidates = [i for i, t in enumerate(tokens) if len(t) >= 3] or [0]
        i = rng.choice(candidates)
        tokens[i] = _typo(tokens[i], rng)
    return " ".join(tokens)


def perturb_birth_date(born: date, rng: random.Random) -> date:
    """The same birth date with a clerical error: day and month swapped, or one wrong digit."""
    if born.day <= 12 and born.day != born.month and rng.random() < 0.4:
        return born.replace(day=born.month, month=born.day)
    digits = born.strftime("%Y%m%d")
    while True:
        i = rng.randrange(1, 8)  # never the millennium digit
        new = digits[:i] + rng.choice("0123456789".replace(digits[i], "")) + digits[i + 1 :]
        try:
            candidate = date(int(new[:4]), int(new[4:6]), int(new[6:]))
        except ValueError:
            continue
        return candidate


def _new_given(person: Person, sex: str, rng: random.Random, born: int) -> str:
    for _ in range(20):
        given = _draw_name(person.group, sex, rng, born)[0]
        if given.split()[-1] != person.given.split()[-1]:
            return given
    return given


def relative_of(person: Person, rng: random.Random, registry: NikRegistry | None = None, as_of: date = DEFAULT_AS_OF) -> Person:
    """A family member in the same household: same surname and village, a different given name,
    a sibling's or a parent's/child's birth date; their own NIK (from ``registry`` if given;
    without one the serial is drawn from 1-50 and may collide with another person's NIK)."""
    sex = "M" if rng.random() < 0.5 else "F"
    born = date.fromisoformat(person.demographics.birth_date)
    gap = rng.randint(1, 12) if rng.random() < 0.6 else rng.randint(20, 35)
    latest = as_of.toordinal() - int(MIN_AGE * DAYS_PER_YEAR) - 1
    earliest = as_of.toordinal() - int(MAX_AGE * DAYS_PER_YEAR)
    ordinal = born.toordinal() + int((gap + rng.random()) * DAYS_PER_YEAR) * rng.choice((-1, 1))
    if ordinal > latest or ordinal < earliest:
        ordinal = born.toordinal() - int((gap + rng.random()) * DAYS_PER_YEAR)
        ordinal = min(max(ordinal, earliest), latest)
    relative_born = date.fromordinal(ordinal)
    given = _new_given(person, sex, rng, relative_born.year)
    d = person.demographics
    place = d.birth_place if rng.random() < 0.7 else _birth_place(_PROVINCE_BY_CODE[d.region_code[:2]], rng)
    demo = Demographics(_compose(given, person.surname, person.surname_first), place, relative_born.isoformat(), sex, d.region_code)
    return replace(person, nik=_issue(registry, d.region_code, relative_born, sex, rng), demographics=demo, given=given)


def twin_of(person: Person, rng: random.Random, registry: NikRegistry | None = None) -> Person:
    """A twin: same surname, birth date, birth place and village; a different given name and
    possibly the other sex. From the same registry the NIK differs from the sibling's only in the
    serial when the sexes agree."""
    d = person.demographics
    sex = d.sex if rng.random() < 0.5 else ("F" if d.sex == "M" else "M")
    born = date.fromisoformat(d.birth_date)
    given = _new_given(person, sex, rng, born.year)
    if registry is None:
        nik = build_nik(person.nik[:6], born, sex, parse_nik(person.nik).serial % MAX_SERIAL + 1)
    else:
        nik = registry.issue(person.nik[:6], born, sex)
    demo = Demographics(_compose(given, person.surname, person.surname_first), d.birth_place, d.birth_date, sex, d.region_code)
    return replace(person, nik=nik, demographics=demo, given=given)
