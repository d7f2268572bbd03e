"""1:N iris matching: masked fractional Hamming distance, best over head-tilt rotations.

For a probe ``p`` and a gallery template ``g`` and a rotation ``s`` of the probe along the angular
axis (axis 2, circular), with ``joint = roll(p.mask, s) & g.mask`` and ``n = popcount(joint)``::

    hd_raw(s)  = popcount((roll(p.code, s) ^ g.code) & joint) / n
    hd_norm(s) = clip(0.5 - (0.5 - hd_raw(s)) * sqrt(n / n_ref), 0, 1)   (Daugman's normalisation)

A pair's score is the rotation with the smallest ``hd_norm`` among those with
``n >= min_bits``; ties go to the smaller ``hd_raw`` (clipping at 0 makes ties), then to the
smallest ``|s|``, then to the negative ``s``. ``best_shift = k``
means ``roll(p.code, k, axis=2)`` lines up with ``g``. A pair with no rotation reaching
``min_bits`` jointly usable bits gets ``hd_norm = hd_raw = NaN``: no score rather than a wrong one.

Why normalise: an impostor's distance spreads as 1/sqrt(n), so without it a heavily occluded pair
can fall under a threshold that is safe for full codes. ``n_ref`` is a fixed fraction of the code
length (:data:`IRIS_NREF_FRACTION`) so that every contract shape can match.

Speed: templates are repacked column-major (every angular column's F*R*B bits are one run of
bytes; at the default shape one column is exactly one uint64 word), so a rotation is a roll of
whole byte runs. The probe's rotations are packed once (:func:`prepare_probe`); the gallery is
never rotated. A numba kernel then walks each candidate once, XOR/AND/popcount over every
rotation while the candidate row sits in L1 cache. ``iris_reference.py`` is the slow scorer the
tests compare this one with, element by element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from numba import njit

from streams.domain.types import IrisTemplate
from streams.errors import IrisShapeError, TemplateError
from streams.matching.bits import popcount as _popcount

#: Rotation search half-width for a 256-column code; other widths scale as
#: ``round(16 * C / 256)``: 33 rotations (+-16 columns, +-22.5 degrees) at the default shape.
IRIS_MAX_SHIFT_AT_256 = 16
#: ``n_ref`` of the normalisation as a share of the code length: 0.6 * 16,384 = 9,830 bits at the
#: default shape, near the median number of jointly usable bits of a pair (Daugman's 911 of 2,048
#: is 0.44; open-iris v1 used 0.75), so a typical pair is left almost as it is, a pair seeing fewer
#: bits is pulled towards 0.5 and one seeing more is trusted more.
IRIS_NREF_FRACTION = 0.6
#: Fewest jointly usable bits (share of the code length) a rotation needs to be scored at all.
IRIS_MIN_BITS_FRACTION = 0.10
#: Operating points on ``hd_norm`` (docs/iris.md has the measurements and how they were made).
#: MATCH: a false match in one comparison is 1 in 185 million (5.4e-9) by Daugman's table at 0.31;
#: on the synthetic population none of 8.9 million impostors fell at or below 0.32, and a line
#: through the log of its measured tail gives 3.6e-8 at 0.31 (the fitted binomial, 7e-11, is too
#: optimistic there). Single-eye false non-match rate on synthetic captures: 1.5-2.2%.
IRIS_HD_MATCH = 0.31
#: REVIEW: at or below it (and above MATCH) a person looks: 1 in 4 million (2.5e-7) per comparison
#: by Daugman's table at 0.33; 1e-7 to 5e-7 measured and extrapolated on the synthetic impostors.
IRIS_HD_REVIEW = 0.33


def max_shift_for(columns: int) -> int:
    """The rotation search half-width for a code with ``columns`` angular columns."""
    return max(1, int(round(IRIS_MAX_SHIFT_AT_256 * columns / 256)))


def shift_order(columns: int) -> np.ndarray:
    """Rotations in tie-break order: 0, -1, +1, -2, +2, ... (the first minimum wins)."""
    m = max_shift_for(columns)
    out = [0]
    for k in range(1, m + 1):
        out += [-k, k]
    return np.asarray(out, dtype=np.int32)


def code_bits(shape: Sequence[int]) -> int:
    return int(np.prod(shape))


def n_ref_for(shape: Sequence[int]) -> float:
    """The normalisation's reference bit count for codes of ``shape``."""
    return IRIS_NREF_FRACTION * code_bits(shape)


def min_bits_for(shape: Sequence[int]) -> int:
    """Fewest jointly usable bits for a rotation to be scored, for codes of ``shape``."""
    return max(1, int(math.ceil(IRIS_MIN_BITS_FRACTION * code_bits(shape))))


def normalise(hd_raw: float, n: int, n_ref: float) -> float:
    """Daugman's normalisation, clipped to [0, 1] (a pair seeing more than ``n_ref`` bits can
    otherwise go below 0); the same float arithmetic as the kernel."""
    return min(1.0, max(0.0, 0.5 - (0.5 - hd_raw) * math.sqrt(n / n_ref)))


# ---------------------------------------------------------------- column-major word layout


def _column_bytes(bits: np.ndarray) -> np.ndarray:
    """(F, R, C, B) booleans -> (C, K8) bytes: each column's F*R*B bits, zero-padded to bytes."""
    f, r, c, b = bits.shape
    cols = np.ascontiguousarray(np.transpose(bits, (2, 0, 1, 3))).reshape(c, f * r * b)
    return np.packbits(cols, axis=1)


def _words(col_bytes: np.ndarray) -> np.ndarray:
    """Flatten column bytes and pad with zero bytes to whole uint64 words."""
    flat = col_bytes.reshape(-1)
    pad = (-flat.size) % 8
    if pad:
        flat = np.concatenate([flat, np.zeros(pad, dtype=np.uint8)])
    return flat.view(np.uint64)


def words_per_template(shape: Sequence[int]) -> int:
    f, r, c, b = shape
    return (c * ((f * r * b + 7) // 8) + 7) // 8


def to_words(template: IrisTemplate) -> tuple[np.ndarray, np.ndarray]:
    """A template's code (pre-masked) and mask in the matcher's column-major uint64 layout."""
    code = np.asarray(template.code, dtype=bool) & np.asarray(template.mask, dtype=bool)
    return _words(_column_bytes(code)), _words(_column_bytes(template.mask))


# ---------------------------------------------------------------- probe, block, gallery


@dataclass(frozen=True, slots=True)
class IrisProbe:
    """A probe indexed once: its packed rotations, rows in :func:`shift_order`."""

    eye: str
    shape: tuple[int, int, int, int]
    shifts: np.ndarray  # int32 (S,)
    codes: np.ndarray  # uint64 (S, W)
    masks: np.ndarray  # uint64 (S, W)
    usable_bits: int


def prepare_probe(template: IrisTemplate) -> IrisProbe:
    """Pack every rotation of ``template`` once, for scoring against many candidates."""
    shape = tuple(int(s) for s in template.shape)
    shifts = shift_order(shape[2])
    code = np.asarray(template.code, dtype=bool) & np.asarray(template.mask, dtype=bool)
    return IrisProbe(template.eye, shape, shifts, _rotated_words(_column_bytes(code), shifts),
                     _rotated_words(_column_bytes(template.mask), shifts), template.usable_bits)


def _rotated_words(col_bytes: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """(S, W) words: row ``i`` is :func:`_words` of ``col_bytes`` rolled by ``shifts[i]`` columns
    (``np.roll`` along the columns), each row written as two slices (a quarter of the time of
    one fancy-indexed gather of every rotation)."""
    c, k8 = col_bytes.shape
    n = c * k8
    out = np.zeros((len(shifts), -(-n // 8) * 8), dtype=np.uint8)
    flat = col_bytes.reshape(-1)
    for i, s in enumerate(shifts.tolist()):
        cut = (c - s % c) * k8  # the rolled row starts with the last s columns
        out[i, :n - cut] = flat[cut:]
        out[i, n - cut:n] = flat[:cut]
    return out.view(np.uint64)


@dataclass(frozen=True, slots=True)
class IrisBlock:
    """Candidates of one eye and shape as contiguous uint64 rows (N, W), gallery order."""

    eye: str
    shape: tuple[int, int, int, int]
    codes: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @classmethod
    def from_templates(cls, templates: Iterable[IrisTemplate], *, eye: str, shape) -> IrisBlock:
        shape = tuple(int(s) for s in shape)
        rows = [_checked_words(t, eye, shape) for t in templates]
        w = words_per_template(shape)
        codes = np.array([r[0] for r in rows], dtype=np.uint64).reshape(len(rows), w)
        masks = np.array([r[1] for r in rows], dtype=np.uint64).reshape(len(rows), w)
        return cls(eye, shape, codes, masks)

    def rows(self, start: int, stop: int) -> IrisBlock:
        """A view of rows ``start:stop`` (no copy)."""
        return IrisBlock(self.eye, self.shape, self.codes[start:stop], self.masks[start:stop])


def _checked_words(t: IrisTemplate, eye: str, shape: tuple[int, ...]):
    if t.eye != eye:
        raise TemplateError(
            f"iris eye {t.eye!r} in a block of eye {eye!r}", code="IRIS_EYE_MISMATCH"
        )
    if tuple(t.shape) != shape:
        raise IrisShapeError(f"iris shape {list(t.shape)} in a block of shape {list(shape)}")
    return to_words(t)


class IrisGallery:
    """A growable gallery of one eye and shape; rows are appended, never moved or rotated."""

    def __init__(self, eye: str, shape: Sequence[int], capacity: int = 1024) -> None:
        self.eye = eye
        self.shape = tuple(int(s) for s in shape)
        w = words_per_template(self.shape)
        self._codes = np.zeros((max(1, capacity), w), dtype=np.uint64)
        self._masks = np.zeros_like(self._codes)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, template: IrisTemplate) -> int:
        """Append ``template``; returns its row number."""
        code, mask = _checked_words(template, self.eye, self.shape)
        if self._n == self._codes.shape[0]:
            self._codes = np.concatenate([self._codes, np.zeros_like(self._codes)])
            self._masks = np.concatenate([self._masks, np.zeros_like(self._masks)])
        self._codes[self._n] = code
        self._masks[self._n] = mask
        self._n += 1
        return self._n - 1

    def block(self) -> IrisBlock:
        """Every row as one block (a view: valid until the next :meth:`add`)."""
        return IrisBlock(self.eye, self.shape, self._codes[: self._n], self._masks[: self._n])


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class IrisScores:
    """Per candidate: normalised and raw distance (NaN: not scorable), best rotation, bits compared
    at it (the most jointly usable bits over all rotations when not scorable)."""

    hd_norm: np.ndarray  # float64
    hd_raw: np.ndarray  # float64
    best_shift: np.ndarray  # int32
    bits_compared: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.hd_norm.shape[0])


@njit(cache=True, nogil=True)
def _score_kernel(pc, pm, shifts, gc, gm, n_ref, min_bits, out_norm, out_raw, out_shift, out_bits):
    n_rot, n_words = pc.shape
    for i in range(gc.shape[0]):
        best = np.inf
        best_raw = np.nan
        best_s = 0
        best_n = 0
        most_n = 0
        for si in range(n_rot):
            d = np.uint64(0)
            n = np.uint64(0)
            for w in range(n_words):
                m = pm[si, w] & gm[i, w]
                d += _popcount((pc[si, w] ^ gc[i, w]) & m)
                n += _popcount(m)
            nn = np.int64(n)
            if nn > most_n:
                most_n = nn
            if nn < min_bits:
                continue
            raw = np.int64(d) / nn
            norm = min(1.0, max(0.0, 0.5 - (0.5 - raw) * np.sqrt(nn / n_ref)))
            if norm < best or (norm == best and raw < best_raw):
                best = norm
                best_raw = raw
                best_s = shifts[si]
                best_n = nn
        if best_n == 0:
            out_norm[i] = np.nan
            out_raw[i] = np.nan
            out_shift[i] = 0
            out_bits[i] = most_n
        else:
            out_norm[i] = best
            out_raw[i] = best_raw
            out_shift[i] = best_s
            out_bits[i] = best_n


def score_many(probe: IrisTemplate | IrisProbe, block: IrisBlock) -> IrisScores:
    """Score one probe against every candidate of ``block`` (full rotation search).

    Raises :class:`TemplateError` (code ``IRIS_EYE_MISMATCH``) when the eyes differ: a right eye is
    never compared with a left one. Raises :class:`IrisShapeError` when the shapes differ.
    """
    if isinstance(probe, IrisTemplate):
        probe = prepare_probe(probe)
    if probe.eye != block.eye:
        raise TemplateError(
            f"probe eye {probe.eye!r} against a block of eye {block.eye!r}",
            code="IRIS_EYE_MISMATCH",
        )
    if probe.shape != block.shape:
        raise IrisShapeError(f"probe shape {list(probe.shape)} against block {list(block.shape)}")
    n = len(block)
    out = IrisScores(
        np.empty(n, np.float64),
        np.empty(n, np.float64),
        np.empty(n, np.int32),
        np.empty(n, np.int32),
    )
    if n:
        _score_kernel(
            probe.codes, probe.masks, probe.shifts,
            np.ascontiguousarray(block.codes), np.ascontiguousarray(block.masks),
            float(n_ref_for(probe.shape)), int(min_bits_for(probe.shape)),
            out.hd_norm, out.hd_raw, out.best_shift, out.bits_compared,
        )  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class IrisPairScore:
    """One comparison; ``hd_norm``/``hd_raw`` are None when the pair is not scorable."""

    hd_norm: float | None
    hd_raw: float | None
    best_shift: int
    bits_compared: int


def score_pair(probe: IrisTemplate, candidate: IrisTemplate) -> IrisPairScore:
    """1:1 convenience over :func:`score_many`."""
    block = IrisBlock.from_templates([candidate], eye=candidate.eye, shape=candidate.shape)
    s = score_many(probe, block)
    norm, raw = float(s.hd_norm[0]), float(s.hd_raw[0])
    return IrisPairScore(
        None if math.isnan(norm) else norm,
        None if math.isnan(raw) else raw,
        int(s.best_shift[0]),
        int(s.bits_compared[0]),
    )
