"""Scenario planning for the synthetic population: who is captured when, where, under which NIK.

What: :func:`plan` turns ``people`` and :class:`Shares` into a list of :class:`Capture` records
(no biometrics yet: those are drawn later, per capture, from seeds; see ``streams.sim.events``).
Each of the ``people`` slots becomes one *story*: a unique person, a re-capture, a duplicate under
a second NIK, a NIK conflict (another person, often a relative, presenting the NIK), a pair of
twins, a chain of 3-4 captures, a record with no usable biometrics, or a malformed record.
Stations, capture times (RFC 3339 with the province's WIB/WITA/WIT offset), station outages and
the arrival time of every capture are planned here too.

Why a plan first: the expected verdict of every enrollment depends on its story only (stories
share no person and no NIK), so it is computed here with the contract's own rules
(``streams.decide``) on a small graph per story, before any event is rendered; events can then
be rendered in arrival order, in parallel, without holding them in memory.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from streams.domain.types import Demographics
from streams.sim.people import DEFAULT_AS_OF, PeopleGenerator, Person, perturb_birth_date, respell

#: Stories. A story's kind is drawn per people slot with the shares of :class:`Shares`.
UNIQUE, RECAPTURE, DUPLICATE, NIK_CONFLICT = "UNIQUE", "RECAPTURE", "DUPLICATE", "NIK_CONFLICT"
TWINS, CHAIN, NO_BIOMETRICS, MALFORMED = "TWINS", "CHAIN", "NO_BIOMETRICS", "MALFORMED"
STORY_KINDS = (UNIQUE, RECAPTURE, DUPLICATE, NIK_CONFLICT, TWINS, CHAIN, NO_BIOMETRICS, MALFORMED)

#: Modalities of one capture: both, one of them, or deliberately unusable (empty arrays, or
#: templates too poor to use: an iris with few unmasked bits, fingers with few minutiae).
BOTH, IRIS_ONLY, FINGER_ONLY, EMPTY, POOR = "both", "iris", "finger", "empty", "poor"

#: The e-KTP mass enrollment started in 2011; the window ends with the contract's examples.
WINDOW_START = datetime(2011, 6, 1, tzinfo=timezone.utc)
WINDOW_END = datetime(2017, 12, 31, tzinfo=timezone.utc)
WINDOW_SECONDS = (WINDOW_END - WINDOW_START).total_seconds()
DAY = 86400.0
#: Station opening hours (local), captures spread uniformly between them.
OPEN_HOUR, CLOSE_HOUR = 8, 16
#: Gap between two captures of one person: log-normal, median about a year (people come back
#: when a card is lost or damaged, or to try a second NIK), at least one day.
GAP_MEDIAN_DAYS, GAP_SIGMA, GAP_MIN_DAYS = 365.0, 0.9, 1.0
#: ... except this share of gaps, uniform over 1-SHORT_GAP_MAX_DAYS days: a second attempt in
#: the same enrollment drive (a failed capture retaken, a second NIK tried at the next station).
SHORT_GAP_SHARE, SHORT_GAP_MAX_DAYS = 0.2, 30.0
#: Chains have 3 or 4 captures; a later capture keeps a NIK already used with this chance.
CHAIN_SAME_NIK = 0.5
#: DUPLICATE: the second NIK's record has a respelled name, another birth date, another region
#: this often (the clerk wrote it differently; the person lied or moved).
DUP_RESPELL, DUP_OTHER_BIRTH_DATE, DUP_OTHER_REGION = 0.7, 0.25, 0.3
#: RECAPTURE: a clerk writes the same person's name differently this often.
RECAPTURE_RESPELL = 0.15
#: NIK_CONFLICT: the other person is a relative (same household) this often, else a stranger.
CONFLICT_RELATIVE = 0.7
#: NO_BIOMETRICS records: this share has both arrays empty, the rest carry unusable templates.
NO_BIO_EMPTY = 0.5
#: Recording stations per regency/city (the station id is ``<3 letters><regency><nn>``).
STATIONS_PER_REGENCY = 3
#: A capture on-line reaches the topic after an exponential delay of this mean (seconds).
ONLINE_DELAY_MEAN_S = 90.0
#: Outages: log-normal duration (median, sigma), clipped to [min, max] days; a station's backlog
#: is uploaded in one burst of this many seconds when it comes back, in capture order.
OUTAGE_MEDIAN_DAYS, OUTAGE_SIGMA, OUTAGE_MIN_DAYS, OUTAGE_MAX_DAYS = 12.0, 1.0, 2.0, 180.0
BURST_SECONDS = 1800.0
#: A re-sent event (retry or replay) arrives again after an exponential delay of this mean.
RESEND_DELAY_MEAN_S = 6 * 3600.0

#: Province code -> (3-letter station prefix, UTC offset in hours: WIB 7, WITA 8, WIT 9).
PROVINCE_STATIONS: dict[str, tuple[str, int]] = {
    "11": ("ACH", 7), "12": ("SMU", 7), "13": ("SMB", 7), "14": ("RIU", 7), "15": ("JMB", 7),
    "16": ("SMS", 7), "17": ("BKL", 7), "18": ("LPG", 7), "19": ("BBL", 7), "21": ("KPR", 7),
    "31": ("JKT", 7), "32": ("JBR", 7), "33": ("JTG", 7), "34": ("YOG", 7), "35": ("JTM", 7),
    "36": ("BTN", 7), "51": ("BAL", 8), "52": ("NTB", 8), "53": ("NTT", 8), "61": ("KBR", 7),
    "62": ("KTG", 7), "63": ("KSL", 8), "64": ("KTM", 8), "65": ("KTU", 8), "71": ("SLU", 8),
    "72": ("SLT", 8), "73": ("SLS", 8), "74": ("SLG", 8), "75": ("GTO", 8), "76": ("SLB", 8),
    "81": ("MAL", 9), "82": ("MLU", 9), "91": ("PBR", 9), "92": ("PBD", 9), "93": ("PSL", 9),
    "94": ("PAP", 9), "95": ("PTG", 9), "96": ("PPG", 9),
}


@dataclass(frozen=True, slots=True)
class Shares:
    """Scenario shares. Story shares are fractions of the ``people`` slots (UNIQUE takes the
    rest); ``single_modality`` and ``late`` are fractions of captures, ``resend`` of valid events."""

    recapture: float = 0.05
    duplicate: float = 0.03
    nik_conflict: float = 0.01
    twins: float = 0.01
    chain: float = 0.01
    no_biometrics: float = 0.003
    malformed: float = 0.005
    single_modality: float = 0.03
    resend: float = 0.01
    late: float = 0.03

    def story_weights(self) -> list[tuple[str, float]]:
        stories = [(RECAPTURE, self.recapture), (DUPLICATE, self.duplicate),
                   (NIK_CONFLICT, self.nik_conflict), (TWINS, self.twins), (CHAIN, self.chain),
                   (NO_BIOMETRICS, self.no_biometrics), (MALFORMED, self.malformed)]
        for name in self.__slots__:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"share {name} must be in [0, 1], got {value}")
        rest = 1.0 - sum(s for _, s in stories)
        if rest < -1e-12:
            raise ValueError("story shares must sum to at most 1")
        rest = max(rest, 0.0)
        return [(UNIQUE, rest)] + stories


@dataclass(slots=True)
class Capture:
    """One planned enrollment: who, when, where, with what, and (filled by :func:`plan`) its id,
    arrival and expected outcome."""

    story: int
    story_kind: str
    role: str
    person_key: int  # whose biometrics: one key per true person
    demographics: Demographics
    nik: str
    station_id: str
    utc_offset: int
    captured_ts: float
    modality: str = BOTH
    malformed_kind: str | None = None
    enrollment_id: str = ""
    captured_at: str = ""
    arrival_ts: float = 0.0
    late: bool = False
    resend_ts: list[float] = field(default_factory=list)
    expected: str | None = None
    person_id: str | None = None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.modality not in (EMPTY, POOR)

    @property
    def valid(self) -> bool:
        return self.malformed_kind is None


def station_of(region_code: str, rng: random.Random) -> tuple[str, int]:
    """A station of the capture's regency/city and its UTC offset."""
    prefix, offset = PROVINCE_STATIONS[region_code[:2]]
    return f"{prefix}{region_code[3:5]}{rng.randint(1, STATIONS_PER_REGENCY):02d}", offset


def _first_time(rng: random.Random, offset: int) -> float:
    day = WINDOW_START + timedelta(days=int(rng.random() * WINDOW_SECONDS / DAY))
    local_s = (OPEN_HOUR + rng.random() * (CLOSE_HOUR - OPEN_HOUR)) * 3600.0
    return float(int(day.timestamp() + local_s - offset * 3600))


def _later_time(rng: random.Random, after: float, offset: int) -> float:
    """A capture at least a day after ``after``, within the station's opening hours."""
    if rng.random() < SHORT_GAP_SHARE:
        gap = rng.uniform(GAP_MIN_DAYS, SHORT_GAP_MAX_DAYS) * DAY
    else:
        gap = max(GAP_MIN_DAYS, GAP_MEDIAN_DAYS * math.exp(rng.gauss(0.0, GAP_SIGMA))) * DAY
    end = WINDOW_END.timestamp()
    if after + gap >= end:
        gap = rng.uniform(GAP_MIN_DAYS * DAY, max(GAP_MIN_DAYS * DAY, end - after))
    local_day = math.floor((after + gap + offset * 3600) / DAY) * DAY
    local_s = (OPEN_HOUR + rng.random() * (CLOSE_HOUR - OPEN_HOUR)) * 3600.0
    return float(int(local_day + local_s - offset * 3600))


def local_time(ts: float, offset: int) -> str:
    """RFC 3339 with the station's offset, whole seconds: ``2017-09-13T10:15:00+07:00``."""
    return datetime.fromtimestamp(ts, tz=timezone(timedelta(hours=offset))).isoformat(timespec="seconds")


class _Planner:
    def __init__(self, seed: int, shares: Shares, as_of: date) -> None:
        self.rng = random.Random(f"tunggal-plan-{seed}")
        self.gen = PeopleGenerator(seed, as_of)
        self.shares = shares
        self.captures: list[Capture] = []
        self.next_key = 0
        self._pool: list[Person] = []

    def person(self) -> Person:
        if not self._pool:
            self._pool = self.gen.people(1000)[::-1]
        return self._pool.pop()

    def key(self) -> int:
        self.next_key += 1
        return self.next_key - 1

    def add(self, story: int, kind: str, role: str, key: int, demo, nik: str, after: float | None,
            modality: str = BOTH) -> Capture:
        """Plan a capture: the first of its person (``after`` None) or one after ``after``."""
        station, offset = station_of(demo.region_code, self.rng)
        ts = _first_time(self.rng, offset) if after is None else _later_time(self.rng, after, offset)
        if modality == BOTH and self.rng.random() < self.shares.single_modality:
            modality = IRIS_ONLY if self.rng.random() < 0.5 else FINGER_ONLY
        c = Capture(story, kind, role, key, demo, nik, station, offset, ts, modality)
        self.captures.append(c)
        return c

    def second_record(self, p: Person, *, respell_p: float, born_p: float, region_p: float):
        """Demographics and NIK of the same person registered again (another NIK)."""
        d, rng = p.demographics, self.rng
        name = respell(d.full_name, rng, d.sex) if rng.random() < respell_p else d.full_name
        born = date.fromisoformat(d.birth_date)
        if rng.random() < born_p:
            born = perturb_birth_date(born, rng)
        region = self.person().demographics.region_code if rng.random() < region_p else d.region_code
        demo = Demographics(name, d.birth_place, born.isoformat(), d.sex, region)
        return demo, self.gen.registry.issue(region, born, d.sex)

    def story(self, i: int, kind: str) -> None:
        rng, p = self.rng, self.person()
        k, d = self.key(), p.demographics
        if kind == UNIQUE:
            self.add(i, kind, "original", k, d, p.nik, None)
        elif kind == RECAPTURE:
            first = self.add(i, kind, "original", k, d, p.nik, None)
            name = respell(d.full_name, rng, d.sex) if rng.random() < RECAPTURE_RESPELL else d.full_name
            demo = Demographics(name, d.birth_place, d.birth_date, d.sex, d.region_code)
            self.add(i, kind, "recapture", k, demo, p.nik, first.captured_ts)
        elif kind == DUPLICATE:
            first = self.add(i, kind, "original", k, d, p.nik, None)
            demo, nik = self.second_record(p, respell_p=DUP_RESPELL, born_p=DUP_OTHER_BIRTH_DATE,
                                           region_p=DUP_OTHER_REGION)
            self.add(i, kind, "duplicate", k, demo, nik, first.captured_ts)
        elif kind == NIK_CONFLICT:
            first = self.add(i, kind, "owner", k, d, p.nik, None)
            relative = rng.random() < CONFLICT_RELATIVE
            other = self.gen.relative_of(p) if relative else self.person()
            role = "relative" if relative else "stranger"
            self.add(i, kind, role, self.key(), other.demographics, p.nik,
                     first.captured_ts)
        elif kind == TWINS:
            twin = self.gen.twin_of(p)
            self.add(i, kind, "twin", k, d, p.nik, None)
            self.add(i, kind, "twin", self.key(), twin.demographics, twin.nik, None)
        elif kind == CHAIN:
            c = self.add(i, kind, "original", k, d, p.nik, None)
            records = [(d, p.nik)]
            for _ in range(rng.choice((2, 3))):
                if rng.random() < CHAIN_SAME_NIK:
                    demo, nik = rng.choice(records)
                else:
                    demo, nik = self.second_record(p, respell_p=DUP_RESPELL, born_p=DUP_OTHER_BIRTH_DATE,
                                                   region_p=DUP_OTHER_REGION)
                    records.append((demo, nik))
                c = self.add(i, kind, "later", k, demo, nik, c.captured_ts)
        elif kind == NO_BIOMETRICS:
            self.add(i, kind, "original", k, d, p.nik, None, EMPTY if rng.random() < NO_BIO_EMPTY else POOR)
        elif kind == MALFORMED:
            self.add(i, kind, "malformed", k, d, p.nik, None).malformed_kind = "?"
        else:  # pragma: no cover - STORY_KINDS is closed
            raise ValueError(kind)


def _outages(seed: int, station: str, late_share: float) -> list[tuple[float, float]]:
    """A station's outages (start, end), a fixed function of (seed, station). Their number is
    Poisson with a mean that makes the expected down-time share ``late_share``."""
    rng = random.Random(zlib.crc32(f"{seed}/{station}".encode()))
    mean_days = OUTAGE_MEDIAN_DAYS * math.exp(OUTAGE_SIGMA**2 / 2)
    lam = late_share * WINDOW_SECONDS / DAY / mean_days
    n, threshold, prod = 0, math.exp(-lam), rng.random()
    while prod > threshold:  # Knuth's Poisson draw
        n += 1
        prod *= rng.random()
    out = []
    for _ in range(n):
        days = min(OUTAGE_MAX_DAYS, max(OUTAGE_MIN_DAYS, OUTAGE_MEDIAN_DAYS * math.exp(rng.gauss(0, OUTAGE_SIGMA))))
        start = WINDOW_START.timestamp() + rng.random() * WINDOW_SECONDS
        out.append((start, start + days * DAY))
    return sorted(out)


def _arrivals(captures: list[Capture], seed: int, shares: Shares) -> None:
    rng = random.Random(f"tunggal-arrival-{seed}")
    cache: dict[str, list[tuple[float, float]]] = {}
    for c in captures:
        outages = cache.get(c.station_id)
        if outages is None:
            outages = cache[c.station_id] = _outages(seed, c.station_id, shares.late)
        c.arrival_ts = c.captured_ts + rng.expovariate(1.0 / ONLINE_DELAY_MEAN_S)
        for start, end in outages:
            if start <= c.captured_ts < end:
                c.late = True
                c.arrival_ts = end + (c.captured_ts - start) / (end - start) * BURST_SECONDS
                break
        if c.valid and rng.random() < shares.resend:
            c.resend_ts.append(c.arrival_ts + rng.expovariate(1.0 / RESEND_DELAY_MEAN_S))


def _assign_ids(captures: list[Capture]) -> None:
    """``<station>-<YYYYMMDD>-<serial>`` with serials per station and local day, in capture order."""
    serial: dict[tuple[str, str], int] = {}
    for c in sorted(captures, key=lambda c: (c.captured_ts, c.story, c.person_key)):
        c.captured_at = local_time(c.captured_ts, c.utc_offset)
        day = c.captured_at[:10].replace("-", "")
        n = serial.get((c.station_id, day), 0) + 1
        serial[(c.station_id, day)] = n
        c.enrollment_id = f"{c.station_id}-{day}-{n:06d}"


def plan(people: int, seed: int, shares: Shares | None = None, as_of: date = DEFAULT_AS_OF,
         malformed_kinds: tuple[str, ...] = ()) -> list[Capture]:
    """Every capture of ``people`` stories, with ids and arrival times (expected outcomes are
    filled by ``streams.sim.population.expect_story``).

    ``malformed_kinds`` lists the malformed kinds to draw from (``streams.sim.events`` knows
    them and their codes); MALFORMED captures get ``malformed_kind`` set from it.
    """
    shares = shares or Shares()
    planner = _Planner(seed, shares, as_of)
    kinds, weights = zip(*shares.story_weights())
    cum = [sum(weights[: i + 1]) for i in range(len(weights))]
    for i in range(people):
        u = planner.rng.random() * cum[-1]
        planner.story(i, kinds[next((j for j, c in enumerate(cum) if u < c), len(kinds) - 1)])
    captures = planner.captures
    for c in captures:
        if c.malformed_kind is not None:
            if not malformed_kinds:
                raise ValueError("MALFORMED stories need malformed_kinds")
            c.malformed_kind = planner.rng.choice(malformed_kinds)
    _assign_ids(captures)
    _arrivals(captures, seed, shares)
    return captures


def stories(captures: list[Capture]):
    """The captures grouped by story (they are planned story by story)."""
    start = 0
    while start < len(captures):
        end = start
        while end < len(captures) and captures[end].story == captures[start].story:
            end += 1
        yield captures[start:end]
        start = end
