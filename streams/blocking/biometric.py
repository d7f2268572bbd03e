"""Biometric blocking keys of an enrollment: iris keys of each eye (``ir:R:``/``ir:L:``) and
finger keys of each finger position (``fp:<pos>:``). The schemes are in
:mod:`streams.blocking.iris_keys` and :mod:`streams.blocking.finger_keys`; docs/blocking.md
gives the parameters and the measured hit and penetration rates."""

from __future__ import annotations

from streams.blocking.finger_keys import finger_key_set
from streams.blocking.iris_keys import iris_key_set
from streams.domain.types import Enrollment


def iris_keys_for(e: Enrollment) -> list[str]:
    """Iris keys of every eye of ``e``, sorted, without repeats."""
    return sorted(iris_key_set_for(e))


def iris_key_set_for(e: Enrollment) -> set[str]:
    """The keys of :func:`iris_keys_for` as a set."""
    out: set[str] = set()
    for t in e.irises:
        out |= iris_key_set(t)
    return out


def finger_keys_for(e: Enrollment) -> list[str]:
    """Finger keys of every finger view of ``e``, sorted, without repeats."""
    return sorted(finger_key_set(e.fingers))  # every view in one pass


def keys_for(e: Enrollment) -> list[str]:
    """Every biometric blocking key of ``e`` (iris and finger), sorted, without repeats."""
    return sorted(iris_key_set_for(e) | finger_key_set(e.fingers))


#: A candidate found only through voting keys (biometric, or weak demographic ones, below) must
#: share at least this many of them with the probe, from at least two sources (an eye's iris
#: table, a finger position, a weak demographic key: ``source_bit``), or
#: ``MIN_SHARED_ONE_SOURCE`` from one. Genuine recaptures that share a key almost always share
#: several, over several fingers and iris tables; an impostor's chance collision is nearly always
#: one key, or two keys of one finger (neighbouring minutia structures) or one iris table (its
#: shifts and flipped variant sample the same cells). Measured with benchmarks/blocking.py
#: (docs/blocking.md): at a gallery of 100,000 the rule cuts a probe's candidates several-fold
#: at the same hit rate. The rule itself is ``streams.pipeline.select_candidates``.
MIN_SHARED_BIOMETRIC_KEYS = 2
#: Voting keys that admit a candidate although they all come from one source.
MIN_SHARED_ONE_SOURCE = 3

#: Key prefixes of the biometric modalities.
BIOMETRIC_PREFIXES = ("ir:", "fp:")

#: Demographic keys whose blocks grow with the population fastest: a name token with the birth
#: year and sex (``ty:``, ``streams.blocking.keys``). A common token (SITI, MUHAMMAD, NUR) with a
#: birth year is shared by about 1 in 6,000 people, so at a gallery of 100,000 these keys alone
#: brought 17 of a probe's 35 candidates, nearly all impostors (benchmarks/blocking.py). They
#: count as votes, like biometric keys, each a source of its own, instead of admitting a
#: candidate alone. The token with day and month (``tmd:``, 3.6 impostors per probe at 100,000)
#: still admits alone: in the 5,000-person test population it is the only link of two duplicate
#: pairs (name respelled, birth year mistyped, region moved, no shared biometric key).
WEAK_DEMOGRAPHIC_PREFIXES = ("ty:",)

#: Keys that vote towards ``MIN_SHARED_BIOMETRIC_KEYS`` instead of admitting a candidate alone.
VOTING_PREFIXES = BIOMETRIC_PREFIXES + WEAK_DEMOGRAPHIC_PREFIXES


def source_bit(key: str) -> int:
    """The source of a biometric key as one bit. An iris source is one eye's table
    (``ir:<eye>:<table>:``): its keys (the shifts, the flipped variant) sample the same 20 cells,
    so an impostor that collides in one often collides twice, while the tables sample cells
    independently. A finger source is a finger position (``fp:<position>:``): its structures
    share minutiae. Eye R table ``t`` is bit ``t``, eye L table ``t`` bit ``8 + t`` (tables 0-7),
    finger position ``n`` (1-10) bit ``16 + n``; any other form bit 31 (a source of its own)."""
    parts = key.split(":", 3)
    if len(parts) > 3 and parts[2].isascii() and parts[2].isdigit():
        if parts[0] == "ir" and parts[1] in ("R", "L") and int(parts[2]) < 8:
            return 1 << (int(parts[2]) + (0 if parts[1] == "R" else 8))
    if len(parts) > 2 and parts[0] == "fp" and parts[1].isascii() and parts[1].isdigit() \
            and 1 <= int(parts[1]) <= 10:
        return 1 << (16 + int(parts[1]))
    return 1 << 31
