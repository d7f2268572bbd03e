"""Demographic similarity: Fellegi-Sunter comparisons declared as ordered levels, splink-style.

What: each field of two records (name, birth date, birth place, sex, domicile region, NIK) is
put into the first *level* of its comparison that applies (exact, Jaro-Winkler >= 0.92, ...).
Each level carries m (probability of the level among pairs of the same person) and u (among
different people); its weight is ``log2(m / u)``. The pair's evidence is the sum of the field
weights plus the prior log2-odds, and the similarity is that log2-odds through a logistic::

    similarity = 1 / (1 + 2 ** -(PRIOR_LOG2_ODDS + sum_f weight[f, level_f]))

i.e. the posterior probability of "same person" under the model's independence assumption with
a prior of :data:`PRIOR_MATCH_PROBABILITY`. A field that is missing on either side falls in the
null level (weight 0), as in splink.

Why: the levels make every score explainable (``explain`` returns the per-field waterfall) and
keep the tuning in one declared table (:data:`DEFAULT_COMPARISONS`) compiled once into a weight
matrix. The 1:N path (:func:`prepare` once per record, :func:`score_many` per block) batches the
Jaro-Winkler calls through ``rapidfuzz.process.cdist`` and vectorises everything else with numpy
over pre-encoded integers. :func:`reference_levels` is the slow, obviously correct pair-at-a-time
scorer the tests hold the fast one to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from streams.domain.types import Demographics
from streams.matching.names import name_tokens, place_key

#: Jaro-Winkler thresholds of the string levels (splink's ``JaroWinklerAtThresholds``).
JW_HIGH = 0.92
JW_LOW = 0.80
#: At most this many distinct name tokens take part in the token-subset level.
MAX_NAME_TOKENS = 8
#: Prior probability that two compared records are the same person. 2**-10: a pair needs about
#: 10 bits of agreement (e.g. exact name alone) to reach similarity 0.5.
PRIOR_MATCH_PROBABILITY = 1.0 / 1024.0
PRIOR_LOG2_ODDS = float(np.log2(PRIOR_MATCH_PROBABILITY / (1.0 - PRIOR_MATCH_PROBABILITY)))

#: The null level (a value missing on either side): weight 0.
NULL_LEVEL = -1


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a comparison: its name and its m and u probabilities."""

    name: str
    m: float
    u: float

    @property
    def weight(self) -> float:
        return float(np.log2(self.m / self.u))


@dataclass(frozen=True, slots=True)
class Comparison:
    """A field compared through ordered levels: the first that applies wins, the last is 'else'."""

    field: str
    levels: tuple[Level, ...]


# Level indices, in declaration order. The level rules below must follow this order.
NAME_EXACT, NAME_JW_HIGH, NAME_SUBSET, NAME_JW_LOW, NAME_ELSE = range(5)
DATE_EXACT, DATE_SWAPPED, DATE_ONE_DIGIT, DATE_SAME_YEAR, DATE_ELSE = range(5)
PLACE_EXACT, PLACE_JW_HIGH, PLACE_JW_LOW, PLACE_ELSE = range(4)
SEX_SAME, SEX_DIFFERENT = range(2)
REGION_VILLAGE, REGION_DISTRICT, REGION_REGENCY, REGION_PROVINCE, REGION_ELSE = range(5)
NIK_SAME, NIK_ONE_DIGIT, NIK_ELSE = range(3)

#: The model. m: share among same-person pairs (respellings, typos and moves included);
#: u: share among different-person pairs drawn from the population. Hand-set from the
#: variation rates of the enrollment simulator and Indonesian name/date statistics; see
#: docs/demographics.md. Changing a value is a new engine version.
DEFAULT_COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "name",
        (
            Level("exact", 0.70, 0.0005),
            Level(f"jaro_winkler>={JW_HIGH}", 0.17, 0.004),
            Level("token_subset", 0.06, 0.01),
            Level(f"jaro_winkler>={JW_LOW}", 0.05, 0.06),
            Level("else", 0.02, 0.9255),
        ),
    ),
    Comparison(
        "birth_date",
        (
            Level("exact", 0.88, 0.0001),
            Level("day_month_swapped", 0.03, 0.0001),
            Level("one_digit_differs", 0.05, 0.002),
            Level("same_year", 0.02, 0.025),
            Level("else", 0.02, 0.9728),
        ),
    ),
    Comparison(
        "birth_place",
        (
            Level("exact", 0.85, 0.04),
            Level(f"jaro_winkler>={JW_HIGH}", 0.06, 0.01),
            Level(f"jaro_winkler>={JW_LOW}", 0.04, 0.04),
            Level("else", 0.05, 0.91),
        ),
    ),
    Comparison("sex", (Level("same", 0.98, 0.5), Level("different", 0.02, 0.5))),
    Comparison(
        "region",
        (
            Level("same_village", 0.55, 0.0005),
            Level("same_district", 0.10, 0.004),
            Level("same_regency", 0.12, 0.03),
            Level("same_province", 0.10, 0.12),
            Level("else", 0.13, 0.8455),
        ),
    ),
    Comparison(
        "nik",
        (
            Level("same", 0.60, 0.0001),
            Level("one_digit_differs", 0.03, 0.0005),
            Level("else", 0.37, 0.9994),
        ),
    ),
)
FIELDS: tuple[str, ...] = tuple(c.field for c in DEFAULT_COMPARISONS)


@dataclass(frozen=True, slots=True)
class CompiledModel:
    """Comparisons compiled to a weight matrix: ``weights[f, level]``; column -1 is the null level."""

    comparisons: tuple[Comparison, ...]
    weights: np.ndarray  # float64 (n_fields, max_levels + 1); last column 0.0
    prior_log2_odds: float

    def log2_odds(self, levels: np.ndarray) -> np.ndarray:
        """Prior plus the sum of the level weights, for an (n, n_fields) int level matrix."""
        fields = np.arange(levels.shape[1])
        return self.prior_log2_odds + self.weights[fields, levels].sum(axis=1)

    def similarity(self, levels: np.ndarray) -> np.ndarray:
        """The logistic of :meth:`log2_odds`: a similarity in [0, 1]."""
        return 1.0 / (1.0 + np.exp2(-self.log2_odds(levels)))


def compile_model(
    comparisons: Sequence[Comparison], prior_log2_odds: float = PRIOR_LOG2_ODDS, ignore: frozenset[str] = frozenset()
) -> CompiledModel:
    """Turn declared comparisons into a :class:`CompiledModel` (done once, at import).

    Fields named in ``ignore`` keep their levels (for explanation) but weigh 0.
    """
    width = max(len(c.levels) for c in comparisons) + 1
    weights = np.zeros((len(comparisons), width))
    for f, comparison in enumerate(comparisons):
        if comparison.field in ignore:
            continue
        for k, level in enumerate(comparison.levels):
            weights[f, k] = level.weight
    weights.setflags(write=False)
    return CompiledModel(tuple(comparisons), weights, prior_log2_odds)


DEFAULT_MODEL = compile_model(DEFAULT_COMPARISONS)
#: The same model with the NIK weighing nothing: for callers that judge NIK ownership
#: separately (a relative presenting someone's NIK must not look similar *because* of the NIK).
MODEL_WITHOUT_NIK = compile_model(DEFAULT_COMPARISONS, ignore=frozenset({"nik"}))

# Columns of DemoFeatures.numeric.
_COL_DATE, _COL_SEX, _COL_REGION, _COL_NIK, _COL_HAS_PLACE, _COL_TOKENS = 0, 1, 2, 3, 4, 5
_MISSING = -1
_SEX_CODES = {"M": 0, "F": 1}


@dataclass(frozen=True, slots=True)
class DemoFeatures:
    """A record pre-encoded for comparison: canonical strings and an int64 vector.

    ``numeric`` holds birth date as YYYYMMDD, sex (0 M, 1 F), the region as a 10-digit integer,
    the NIK as an integer (-1 where missing or malformed), 1 if there is a birth place, and the
    name-token hashes (0 padding).
    """

    name_key: str
    name_sorted: str
    tokens: tuple[str, ...]
    place: str
    numeric: np.ndarray


@dataclass(frozen=True, slots=True)
class DemoBlock:
    """Candidate features stacked column-wise, ready for :func:`score_many`; reuse across probes."""

    name_keys: list[str]
    name_sorted: list[str]
    places: list[str]
    numeric: np.ndarray  # int64 (n, 5 + MAX_NAME_TOKENS)

    def __len__(self) -> int:
        return len(self.places)


def token_set(tokens: Sequence[str]) -> tuple[str, ...]:
    """Distinct canonical tokens in written order, at most :data:`MAX_NAME_TOKENS`."""
    return tuple(dict.fromkeys(tokens))[:MAX_NAME_TOKENS]


def _token_hash(token: str) -> int:
    value = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little") >> 1
    return value or 1  # 0 is the padding value


def _date_int(text: str) -> int:
    try:
        d = date.fromisoformat(text)
    except (TypeError, ValueError):
        return _MISSING
    return d.year * 10000 + d.month * 100 + d.day


def _digits_int(text: str, length: int) -> int:
    digits = text.replace(".", "")
    return int(digits) if len(digits) == length and digits.isascii() and digits.isdigit() else _MISSING


def prepare(demographics: Demographics, nik: str | None) -> DemoFeatures:
    """Encode one record once; the result is compared against many others."""
    tokens = name_tokens(demographics.full_name)
    distinct = token_set(tokens)
    numeric = np.zeros(_COL_TOKENS + MAX_NAME_TOKENS, dtype=np.int64)
    numeric[_COL_DATE] = _date_int(demographics.birth_date)
    numeric[_COL_SEX] = _SEX_CODES.get(demographics.sex, _MISSING)
    numeric[_COL_REGION] = _digits_int(demographics.region_code, 10)
    numeric[_COL_NIK] = _digits_int(nik or "", 16)
    place = place_key(demographics.birth_place)
    numeric[_COL_HAS_PLACE] = 1 if place else 0
    for i, token in enumerate(distinct):
        numeric[_COL_TOKENS + i] = _token_hash(token)
    numeric.setflags(write=False)
    return DemoFeatures(" ".join(tokens), " ".join(sorted(tokens)), distinct, place, numeric)


def stack(features: Sequence[DemoFeatures]) -> DemoBlock:
    """Stack candidate features into a :class:`DemoBlock`."""
    numeric = (
        np.stack([f.numeric for f in features])
        if features
        else np.zeros((0, _COL_TOKENS + MAX_NAME_TOKENS), dtype=np.int64)
    )
    return DemoBlock(
        [f.name_key for f in features], [f.name_sorted for f in features], [f.place for f in features], numeric
    )


def _jw_row(query: str, choices: list[str]) -> np.ndarray:
    return process.cdist([query], choices, scorer=JaroWinkler.normalized_similarity, dtype=np.float64, workers=1)[0]


def _digit_differences(a: int, b: np.ndarray, n_digits: int) -> np.ndarray:
    """How many of the ``n_digits`` decimal digits of ``a`` and each ``b`` differ."""
    count = np.zeros(b.shape[0], dtype=np.int64)
    x, y = np.int64(a), b.copy()
    for _ in range(n_digits):
        count += (x % 10) != (y % 10)
        x, y = x // 10, y // 10
    return count


def _string_levels(jw: np.ndarray, exact: np.ndarray, levels: tuple[int, int, int, int]) -> np.ndarray:
    lvl_exact, lvl_high, lvl_low, lvl_else = levels
    out = np.full(jw.shape[0], lvl_else, dtype=np.int8)
    out[jw >= JW_LOW] = lvl_low
    out[jw >= JW_HIGH] = lvl_high
    out[exact] = lvl_exact
    return out


def levels_many(probe: DemoFeatures, candidates: DemoBlock | Sequence[DemoFeatures]) -> np.ndarray:
    """The level of every field for the probe against each candidate: int8 (n, len(FIELDS))."""
    block = candidates if isinstance(candidates, DemoBlock) else stack(candidates)
    n = len(block)
    out = np.empty((n, len(FIELDS)), dtype=np.int8)
    if n == 0:
        return out
    num, p = block.numeric, probe.numeric

    # name: exact token multiset, JW >= high (best of written and sorted order), token subset, JW >= low
    jw_sorted = _jw_row(probe.name_sorted, block.name_sorted)
    jw = np.maximum(_jw_row(probe.name_key, block.name_keys), jw_sorted)
    cand_tokens = num[:, _COL_TOKENS:]
    probe_tokens = p[_COL_TOKENS:][p[_COL_TOKENS:] != 0]
    cand_has = (cand_tokens != 0).any(axis=1)
    probe_in_cand = np.ones(n, dtype=bool)
    for t in probe_tokens:
        probe_in_cand &= (cand_tokens == t).any(axis=1)
    cand_in_probe = (np.isin(cand_tokens, probe_tokens) | (cand_tokens == 0)).all(axis=1)
    name = np.full(n, NAME_ELSE, dtype=np.int8)
    name[jw >= JW_LOW] = NAME_JW_LOW
    name[(probe_in_cand | cand_in_probe) & cand_has] = NAME_SUBSET
    name[jw >= JW_HIGH] = NAME_JW_HIGH
    name[jw_sorted == 1.0] = NAME_EXACT
    name[~cand_has | (probe_tokens.size == 0)] = NULL_LEVEL
    out[:, 0] = name

    # birth date
    d, D = int(p[_COL_DATE]), num[:, _COL_DATE]
    py, pm, pd = d // 10000, d // 100 % 100, d % 100
    cy, cm, cd = D // 10000, D // 100 % 100, D % 100
    bd = np.full(n, DATE_ELSE, dtype=np.int8)
    bd[cy == py] = DATE_SAME_YEAR
    bd[_digit_differences(d, D, 8) == 1] = DATE_ONE_DIGIT
    bd[(cy == py) & (cm == pd) & (cd == pm)] = DATE_SWAPPED
    bd[D == d] = DATE_EXACT
    bd[(D < 0) | (d < 0)] = NULL_LEVEL
    out[:, 1] = bd

    # birth place
    place_jw = _jw_row(probe.place, block.places)
    place = _string_levels(place_jw, place_jw == 1.0, (PLACE_EXACT, PLACE_JW_HIGH, PLACE_JW_LOW, PLACE_ELSE))
    place[(num[:, _COL_HAS_PLACE] == 0) | (p[_COL_HAS_PLACE] == 0)] = NULL_LEVEL
    out[:, 2] = place

    # sex
    s, S = int(p[_COL_SEX]), num[:, _COL_SEX]
    sex = np.where(S == s, SEX_SAME, SEX_DIFFERENT).astype(np.int8)
    sex[(S < 0) | (s < 0)] = NULL_LEVEL
    out[:, 3] = sex

    # region hierarchy: PP RR DD VVVV as one 10-digit integer
    r, R = int(p[_COL_REGION]), num[:, _COL_REGION]
    region = np.full(n, REGION_ELSE, dtype=np.int8)
    for level, divisor in ((REGION_PROVINCE, 10**8), (REGION_REGENCY, 10**6), (REGION_DISTRICT, 10**4), (REGION_VILLAGE, 1)):
        region[R // divisor == r // divisor] = level
    region[(R < 0) | (r < 0)] = NULL_LEVEL
    out[:, 4] = region

    # NIK
    k, K = int(p[_COL_NIK]), num[:, _COL_NIK]
    nik = np.full(n, NIK_ELSE, dtype=np.int8)
    nik[_digit_differences(k, K, 16) == 1] = NIK_ONE_DIGIT
    nik[K == k] = NIK_SAME
    nik[(K < 0) | (k < 0)] = NULL_LEVEL
    out[:, 5] = nik
    return out


def score_many(
    probe: DemoFeatures, candidates: DemoBlock | Sequence[DemoFeatures], model: CompiledModel = DEFAULT_MODEL
) -> np.ndarray:
    """Demographic similarity in [0, 1] of the probe against each candidate (float64, len n)."""
    return model.similarity(levels_many(probe, candidates).astype(np.intp))


@dataclass(frozen=True, slots=True)
class FieldEvidence:
    field: str
    level: str
    weight: float


@dataclass(frozen=True, slots=True)
class DemoExplanation:
    """The waterfall of one pair: prior, each field's level and weight, and the result."""

    prior_log2_odds: float
    fields: tuple[FieldEvidence, ...]
    log2_odds: float
    similarity: float


def explain(probe: DemoFeatures, candidate: DemoFeatures, model: CompiledModel = DEFAULT_MODEL) -> DemoExplanation:
    """Why a pair scored what it did: per-field level names and weights."""
    levels = levels_many(probe, [candidate]).astype(np.intp)
    evidence = []
    for f, comparison in enumerate(model.comparisons):
        k = int(levels[0, f])
        name = "null" if k == NULL_LEVEL else comparison.levels[k].name
        evidence.append(FieldEvidence(comparison.field, name, float(model.weights[f, k])))
    return DemoExplanation(
        model.prior_log2_odds,
        tuple(evidence),
        float(model.log2_odds(levels)[0]),
        float(model.similarity(levels)[0]),
    )


def _reference_string_level(a: str, b: str, jw: float, levels: tuple[int, int, int, int]) -> int:
    if a == b:
        return levels[0]
    if jw >= JW_HIGH:
        return levels[1]
    if jw >= JW_LOW:
        return levels[2]
    return levels[3]


def reference_levels(a: Demographics, nik_a: str | None, b: Demographics, nik_b: str | None) -> tuple[int, ...]:
    """The slow reference: one pair, straight from the records, one rule at a time.

    Independent of the encoding in :func:`prepare` (strings, dates and digit strings compared
    directly); the tests require it to agree with :func:`levels_many` element by element.
    """
    ta, tb = name_tokens(a.full_name), name_tokens(b.full_name)
    if not ta or not tb:
        name = NULL_LEVEL
    else:
        jw = max(
            JaroWinkler.normalized_similarity(" ".join(ta), " ".join(tb)),
            JaroWinkler.normalized_similarity(" ".join(sorted(ta)), " ".join(sorted(tb))),
        )
        sa, sb = set(token_set(ta)), set(token_set(tb))
        if sorted(ta) == sorted(tb):
            name = NAME_EXACT
        elif jw >= JW_HIGH:
            name = NAME_JW_HIGH
        elif sa <= sb or sb <= sa:
            name = NAME_SUBSET
        elif jw >= JW_LOW:
            name = NAME_JW_LOW
        else:
            name = NAME_ELSE

    try:
        da, db = date.fromisoformat(a.birth_date), date.fromisoformat(b.birth_date)
    except ValueError:
        da = db = None
    if da is None or db is None:
        birth = NULL_LEVEL
    elif da == db:
        birth = DATE_EXACT
    elif da.year == db.year and (da.day, da.month) == (db.month, db.day):
        birth = DATE_SWAPPED
    elif sum(x != y for x, y in zip(da.strftime("%Y%m%d"), db.strftime("%Y%m%d"))) == 1:
        birth = DATE_ONE_DIGIT
    elif da.year == db.year:
        birth = DATE_SAME_YEAR
    else:
        birth = DATE_ELSE

    pa, pb = place_key(a.birth_place), place_key(b.birth_place)
    if not pa or not pb:
        place = NULL_LEVEL
    else:
        jw = JaroWinkler.normalized_similarity(pa, pb)
        place = _reference_string_level(pa, pb, jw, (PLACE_EXACT, PLACE_JW_HIGH, PLACE_JW_LOW, PLACE_ELSE))

    if a.sex not in _SEX_CODES or b.sex not in _SEX_CODES:
        sex = NULL_LEVEL
    else:
        sex = SEX_SAME if a.sex == b.sex else SEX_DIFFERENT

    ra, rb = a.region_code.replace(".", ""), b.region_code.replace(".", "")
    if not (len(ra) == len(rb) == 10 and (ra + rb).isascii() and ra.isdigit() and rb.isdigit()):
        region = NULL_LEVEL
    elif ra == rb:
        region = REGION_VILLAGE
    elif ra[:6] == rb[:6]:
        region = REGION_DISTRICT
    elif ra[:4] == rb[:4]:
        region = REGION_REGENCY
    elif ra[:2] == rb[:2]:
        region = REGION_PROVINCE
    else:
        region = REGION_ELSE

    na, nb = nik_a or "", nik_b or ""
    if not (len(na) == len(nb) == 16 and (na + nb).isascii() and na.isdigit() and nb.isdigit()):
        nik = NULL_LEVEL
    elif na == nb:
        nik = NIK_SAME
    elif sum(x != y for x, y in zip(na, nb)) == 1:
        nik = NIK_ONE_DIGIT
    else:
        nik = NIK_ELSE
    return (name, birth, place, sex, region, nik)


def reference_score(
    a: Demographics, nik_a: str | None, b: Demographics, nik_b: str | None, model: CompiledModel = DEFAULT_MODEL
) -> float:
    """The reference similarity of one pair: the logistic of the prior plus the level weights."""
    levels = reference_levels(a, nik_a, b, nik_b)
    total = model.prior_log2_odds + sum(float(model.weights[f, k]) for f, k in enumerate(levels))
    return 1.0 / (1.0 + 2.0 ** (-total))


__all__ = [
    "DEFAULT_COMPARISONS",
    "DEFAULT_MODEL",
    "FIELDS",
    "Comparison",
    "CompiledModel",
    "DemoBlock",
    "DemoExplanation",
    "DemoFeatures",
    "Level",
    "MODEL_WITHOUT_NIK",
    "compile_model",
    "explain",
    "levels_many",
    "prepare",
    "reference_levels",
    "reference_score",
    "score_many",
    "stack",
]
