"""Normalisation of Indonesian personal and place names for demographic comparison.

Why: Indonesian names are written many ways for one person. Most people have no family name and
many have a single name; clerks prepend honorifics (``BAPAK``, ``IBU``); and the spelling reforms
of 1947 and 1972 (EYD) left old forms that people keep on their documents (``SOEKARNO`` /
``SUKARNO``, ``DJOKO`` / ``JOKO``, ``TJAHJO`` / ``CAHYO``). The comparator must see through these
before it measures string similarity, so every name goes through two steps here:

1. :func:`clean_name` - uppercase, accents folded, punctuation removed, variant spellings of
   ``MUHAMMAD`` unified, leading honorifics and trailing academic titles dropped.
2. :func:`spelling_key` - per token, old spellings folded onto one canonical form
   (``OE``->``U``, ``TJ``->``C``, ``DJ``->``J``, ``CH``->``KH``, then ``J``->``Y``, doubled
   letters collapsed), and finally ``TY``->``C`` and ``DY``->``Y`` because an old ``TJ``/``DJ``
   can also be a new ``TY``/``DY`` (``SETJADI``). Folding ``J`` onto ``Y`` makes the key
   spelling-era neutral: old ``J`` is
   new ``Y`` (``JOESOEF``/``YUSUF``) while old ``DJ`` is new ``J`` (``DJOKO``/``JOKO``), and
   ``NJ``/``NY`` and ``SJ``/``SY`` then coincide without rules of their own. The price is that a
   modern ``JOKO`` and ``YOKO`` share a key, which is harmless for a similarity feature.

The key is a comparison key, never a display form.
"""

from __future__ import annotations

import re
import unicodedata

#: Honorifics (forms of address) dropped when they lead a name and something follows them.
HONORIFICS: frozenset[str] = frozenset(
    {"BAPAK", "BPK", "PAK", "IBU", "BU", "SAUDARA", "SDR", "SAUDARI", "SDRI", "MAS", "MBAK", "TUAN", "NYONYA", "NY"}
)

#: Religious and academic titles dropped when they lead (``H``, ``HJ``, ``DR``) or trail (``SH``)
#: a name. Kept apart from honorifics because some also stand alone as abbreviations.
LEADING_TITLES: frozenset[str] = frozenset({"H", "HJ", "HAJI", "HAJJAH", "DR", "DRS", "DRA", "IR", "PROF", "KH"})
TRAILING_TITLES: frozenset[str] = frozenset(
    {"SH", "SE", "SPD", "SPDI", "SAG", "SKOM", "ST", "SSI", "SSOS", "MM", "MSI", "MPD", "MH", "AMD", "SKM", "SKED"}
)

#: Written variants of Muhammad, all compared as one token.
MUHAMMAD_VARIANTS: frozenset[str] = frozenset(
    {
        "MUHAMMAD", "MUHAMAD", "MUHAMMED", "MOHAMMAD", "MOHAMAD", "MOHAMMED", "MOHAMED",
        "MOCHAMMAD", "MOCHAMAD", "MOCHAMMED", "MUCHAMMAD", "MUCHAMAD", "MOEHAMMAD",
        "MOH", "MOCH", "MUH", "MUHD", "MHD", "MOHD", "MOEH",
    }
)
MUHAMMAD = "MUHAMMAD"

_NON_LETTER = re.compile(r"[^A-Z ]+")
_APOSTROPHES = re.compile(r"['`\u2019\u2018]")
_SPACES = re.compile(r"\s+")
#: Old-to-canonical spelling rewrites applied in one left-to-right pass (longest match first).
_OLD_SPELLING = re.compile(r"OE|TJ|DJ|CH")
_OLD_TO_CANON = {"OE": "U", "TJ": "C", "DJ": "J", "CH": "KH"}
_DOUBLED = re.compile(r"([A-Z])\1+")

#: Prefixes of regency/city names that a birth place may or may not carry.
PLACE_PREFIXES: tuple[str, ...] = ("KABUPATEN", "KAB", "KOTA", "KOTAMADYA", "KOTAMADYA DATI II", "KOTIF")


def _fold(text: str) -> str:
    """Uppercase ASCII letters and single spaces only; apostrophes vanish, other marks split."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).upper()
    text = _APOSTROPHES.sub("", text)
    text = _NON_LETTER.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def clean_name(name: str) -> tuple[str, ...]:
    """Tokens of a personal name with punctuation, honorifics and titles removed.

    Leading honorifics and titles are dropped only while at least one token remains, so a
    person actually named ``MAS`` keeps the name; whatever follows a comma (academic titles by
    Indonesian convention) is dropped.
    """
    head, _, _ = name.partition(",")  # academic titles follow a comma: "SITI AMINAH, S.H."
    tokens = [MUHAMMAD if t in MUHAMMAD_VARIANTS else t for t in _fold(head or name).split(" ") if t]
    while len(tokens) > 1 and (tokens[0] in HONORIFICS or tokens[0] in LEADING_TITLES):
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1] in TRAILING_TITLES:
        tokens.pop()
    return tuple(tokens)


def spelling_key_token(token: str) -> str:
    """One token folded onto its spelling-era-neutral canonical form (see module docstring)."""
    previous = None
    while previous != token:  # a rewrite can form another pattern: MITJHAEL -> MICHAEL -> MIKHAEL
        previous, token = token, _OLD_SPELLING.sub(lambda m: _OLD_TO_CANON[m.group(0)], token)
    token = token.replace("J", "Y")
    # old TJ/DJ also stood for new TY/DY (SETJADI is SETYADI or SECADI): merge those too
    token = token.replace("TY", "C").replace("DY", "Y")
    return _DOUBLED.sub(r"\1", token)


def name_tokens(name: str) -> tuple[str, ...]:
    """The canonical tokens of a name: cleaned, then spelling-folded, in written order."""
    return tuple(spelling_key_token(t) for t in clean_name(name))


def name_key(name: str) -> str:
    """The canonical name as one string, tokens in written order."""
    return " ".join(name_tokens(name))


def sorted_name_key(name: str) -> str:
    """The canonical name with its tokens sorted: insensitive to name order."""
    return " ".join(sorted(name_tokens(name)))


def place_key(place: str) -> str:
    """The canonical birth place: folded, ``KAB.``/``KOTA`` prefixes dropped, spelling-folded."""
    text = _fold(place)
    for prefix in PLACE_PREFIXES:
        if text.startswith(prefix + " "):
            text = text[len(prefix) + 1 :]
            break
    return " ".join(spelling_key_token(t) for t in text.split(" ") if t)
