"""Iris blocking keys: locality-sensitive hashes of coarse, rarely masked iris-code cells.

What: the code is cut into cells (one channel = filter x bit, a band of rows, a block of angular
columns). A cell's feature is the majority bit over its usable (unmasked) bits; a cell with too few
usable bits is unknown. Each of :data:`TABLES` fixed tables samples :data:`CELLS_PER_KEY` cells
(fixed seed, from the rarely masked cells) and its key is those feature bits, computed at each of
:data:`SHIFTS` rotations of the code. A key whose cells include an unknown one is not emitted.

Why this shape:

* Cells, not single bits: iris bits are thresholded smooth fields, so single sampled bits flip on
  the white part of the sensor noise; a cell majority averages that away. Cells are about one
  texture correlation length wide (the synthetic source smooths over ~7 of 256 columns), so a
  residual misalignment of a few columns changes few cells.
* Rotation: probe and gallery use this same function (a key is indexed and looked up), so
  tolerance to head tilt comes from computing every key at several shifts on both sides; a pair
  meets at the shift differences ``S - S``. The shifts form a Golomb ruler (0, 3, 10, 16 moved to
  -8..8), whose differences {0, 3, 6, 7, 10, 13, 16} cover every relative tilt up to 16 columns
  with a residual of at most 1.5 columns, using four shifts instead of the nine a step-2 grid
  would need. The synthetic tilt is at most +-8 columns per capture (streams/sim/iris.py), so
  +-16 between two captures.
* Masking: the eyelids cover the outer rows around the top and bottom of the circle, so cells
  come only from the inner rows (:data:`ROW_BANDS`) and from column blocks away from the lids
  (:data:`SAFE_SECTOR_HALF_WIDTH` around the horizontal meridian on each side).
* Specificity: a key's cells are near fair coins, so an impostor collides with probability
  about ``2**-CELLS_PER_KEY`` per key pair; with 16 shift pairs, one flipped variant per side
  and :data:`TABLES` tables per eye this keeps iris penetration near 6e-4 per eye (measured) and
  posting lists far below the cap at a gallery of millions (2**20 values per table), while masked
  cells never make a key (no shared "all zero" keys from occluded captures).
* Left and right eyes carry the eye in the key prefix (``ir:R:``/``ir:L:``): never shared.

Shapes other than the default (2, 16, 256, 2) are scaled: row bands by rows/16 and column blocks
by columns/256.

Speed: :func:`iris_keys` runs one numba kernel per eye (:func:`_table_keys`: per-column sums of
each row band, cells as circular windows of them at every shift, then each table's bits, known
flag and least certain cell), about ten times cheaper than the same computation as a dozen numpy
calls on small arrays. It is integer arithmetic and one division per cell, so it equals the numpy
formulations exactly: :func:`all_cell_features` (every shift at once) and
:func:`iris_keys_reference` (one shift at a time from :func:`cell_features`), which the tests
compare it with.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from streams.domain.types import IrisTemplate

#: Cell size at the default 16 x 256 grid: rows per band and angular columns per block.
ROWS_PER_BAND_AT_16 = 4
COLS_PER_BLOCK_AT_256 = 8
#: Row bands used, counted from the pupil (the eyelids mask the outer rows first).
ROW_BANDS = 2
#: Column blocks used: those whose centre lies within this share of the circle of the horizontal
#: meridian (columns 0 and C/2); the lids centre on C/4 and 3C/4.
SAFE_SECTOR_HALF_WIDTH = 0.125
#: A cell is known when at least this share of its bits is usable.
MIN_USABLE_SHARE = 0.5
#: Rotations (in columns of a 256-column code) at which every key is computed: a Golomb ruler,
#: so the 16 pairwise differences cover -16..16 columns with steps of at most 3.
SHIFTS_AT_256 = (-8, -5, 2, 8)
#: Number of hash tables per eye and cells per key.
TABLES = 6
CELLS_PER_KEY = 20
#: Per key and shift, also emit the key with each of this many least certain cells flipped (a
#: symmetric multi-probe: a pair still collides when its one disagreeing cell is the weakest of
#: either side).
FLIP_VARIANTS = 1
#: Seed of the fixed table design (changing it re-keys the whole gallery).
TABLE_SEED = 20240501


@lru_cache(maxsize=8)
def _design(shape: tuple[int, int, int, int]) -> tuple[int, int, np.ndarray, tuple[int, ...]]:
    """Cell geometry and the tables' cell indices for a code shape.

    Returns ``(rows per band, columns per block, tables (TABLES, CELLS_PER_KEY) of flat cell
    indices into (channels, ROW_BANDS, column blocks), shifts in columns)``.
    """
    f, r, c, b = shape
    bh = max(1, round(ROWS_PER_BAND_AT_16 * r / 16))
    bw = max(1, round(COLS_PER_BLOCK_AT_256 * c / 256))
    bands = min(ROW_BANDS, r // bh)
    blocks = c // bw
    centre = (np.arange(blocks) + 0.5) * bw / c  # share of the circle
    dist = np.minimum(np.abs(((centre + 0.5) % 1.0) - 0.5), np.abs(centre - 0.5))
    safe_blocks = np.flatnonzero(dist <= SAFE_SECTOR_HALF_WIDTH)
    ch = f * b
    grid = np.arange(ch * bands * blocks).reshape(ch, bands, blocks)
    pool = grid[:, :, safe_blocks].ravel()
    rng = np.random.default_rng(TABLE_SEED)
    k = min(CELLS_PER_KEY, pool.size)
    tables = np.stack([rng.choice(pool, size=k, replace=False) for _ in range(TABLES)])
    tables.setflags(write=False)
    shifts = tuple(sorted({round(s * c / 256) for s in SHIFTS_AT_256}))
    return bh, bw, tables, shifts


def cell_features(t: IrisTemplate, shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Majority bit, known flag and margin (|ones - zeros| / usable, 0 = a tie) of every cell of
    ``t`` rotated by ``shift`` columns, flat over (channels, row bands, column blocks)."""
    shape = tuple(int(s) for s in t.code.shape)
    bh, bw, _, _ = _design(shape)
    f, r, c, b = shape
    bands = min(ROW_BANDS, r // bh)
    blocks = c // bw
    rows = bands * bh
    code = np.roll(np.asarray(t.code, dtype=bool)[:, :rows], shift, axis=2)[:, :, : blocks * bw]
    mask = np.roll(np.asarray(t.mask, dtype=bool)[:, :rows], shift, axis=2)[:, :, : blocks * bw]
    cm = (code & mask).transpose(0, 3, 1, 2).reshape(f * b, bands, bh, blocks, bw)
    mv = mask.transpose(0, 3, 1, 2).reshape(f * b, bands, bh, blocks, bw)
    ones = cm.sum(axis=(2, 4), dtype=np.int32)
    usable = mv.sum(axis=(2, 4), dtype=np.int32)
    margin = np.abs(2 * ones - usable) / np.maximum(usable, 1)
    return (
        (2 * ones > usable).ravel(),
        (usable >= MIN_USABLE_SHARE * bh * bw).ravel(),
        margin.ravel(),
    )


def all_cell_features(t: IrisTemplate) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`cell_features` at every shift of the design at once, shape (shifts, cells).

    Per-column sums over each row band are taken once, and each shifted cell is a circular window
    of them (a roll by ``s`` moves original column ``c - s`` to column ``c``), so the code is never
    copied per shift (:func:`_table_keys` does the same). ``cell_features`` is the reference it is
    tested against.
    """
    shape = tuple(int(s) for s in t.code.shape)
    bh, bw, _, shifts = _design(shape)
    f, r, c, b = shape
    bands = min(ROW_BANDS, r // bh)
    blocks = c // bw
    rows = bands * bh
    code = np.asarray(t.code, dtype=bool)[:, :rows]
    mask = np.asarray(t.mask, dtype=bool)[:, :rows]
    ones = (code & mask).transpose(0, 3, 1, 2).reshape(f * b, bands, bh, c).sum(2, dtype=np.int32)
    usable = mask.transpose(0, 3, 1, 2).reshape(f * b, bands, bh, c).sum(2, dtype=np.int32)
    cols = np.arange(blocks)[:, None] * bw + np.arange(bw)[None, :]  # (blocks, bw)
    idx = np.mod(cols[None, :, :] - np.asarray(shifts)[:, None, None], c)  # (S, blocks, bw)
    o = ones[:, :, idx].sum(-1)  # (ch, bands, S, blocks)
    u = usable[:, :, idx].sum(-1)
    o = o.transpose(2, 0, 1, 3).reshape(len(shifts), -1)
    u = u.transpose(2, 0, 1, 3).reshape(len(shifts), -1)
    margin = np.abs(2 * o - u) / np.maximum(u, 1)
    return 2 * o > u, u >= MIN_USABLE_SHARE * bh * bw, margin


@njit(cache=True)
def _table_keys(code, mask, b, tables, shifts, bh, bw, bands, blocks):
    """``(table, value)`` of every key of one eye (with repeats): for each shift and table whose
    cells are all known, the table's bits and the same with each of the :data:`FLIP_VARIANTS`
    least certain cells flipped (ties to the earlier cell, as a stable sort).

    ``code`` and ``mask`` are the template's arrays with the column and bit axes merged, shape
    (filters, rows, columns * bits) (contiguous rows, so the band sums run over flat memory).
    """
    f, _, cb = code.shape
    c = cb // b
    # Per-column sums of each row band: ones among the usable bits, and usable bits; channel
    # (filter fi, bit bi) and column col are at [fi, band, col * b + bi].
    ones = np.zeros((f, bands, cb), np.int32)
    usable = np.zeros((f, bands, cb), np.int32)
    for fi in range(f):
        for band in range(bands):
            o = ones[fi, band]
            u = usable[fi, band]
            for row in range(band * bh, (band + 1) * bh):
                code_row = code[fi, row]
                mask_row = mask[fi, row]
                for j in range(cb):
                    u[j] += mask_row[j]
                    o[j] += mask_row[j] & code_row[j]
    n_tables, k = tables.shape
    need = MIN_USABLE_SHARE * bh * bw
    tab = np.empty(shifts.shape[0] * n_tables * (1 + FLIP_VARIANTS), np.int64)
    val = np.empty_like(tab)
    margin = np.empty(k, np.float64)
    n = 0
    for s in shifts:
        for t in range(n_tables):
            value = 0
            known = True
            for j in range(k):
                # cell index into (channels, bands, blocks), channel = filter * b + bit
                cell = tables[t, j]
                blk = cell % blocks
                band = (cell // blocks) % bands
                chan = cell // (blocks * bands)
                fi, bi = chan // b, chan % b
                o = 0
                u = 0
                for w in range(bw):  # a roll by s moves original column col - s to col
                    col = (blk * bw + w - s) % c
                    o += ones[fi, band, col * b + bi]
                    u += usable[fi, band, col * b + bi]
                known = known and u >= need
                if 2 * o > u:
                    value |= 1 << j
                margin[j] = abs(2 * o - u) / max(u, 1)
            if not known:
                continue
            tab[n] = t
            val[n] = value
            n += 1
            weakest = np.argsort(margin, kind="mergesort")[:FLIP_VARIANTS]
            for j in weakest:
                tab[n] = t
                val[n] = value ^ (1 << j)
                n += 1
    return tab[:n], val[:n]


def iris_keys(t: IrisTemplate) -> list[str]:
    """Blocking keys of one eye, ``ir:<eye>:<table>:<hex bits>``: every table at every shift
    whose cells are all known, plus its variant with the least certain cell flipped."""
    return sorted(iris_key_set(t))


def iris_key_set(t: IrisTemplate) -> set[str]:
    """The keys of :func:`iris_keys` as a set (for callers that merge several eyes)."""
    shape = tuple(int(s) for s in t.code.shape)
    bh, bw, tables, shifts = _design(shape)
    f, r, c, b = shape
    code = np.ascontiguousarray(t.code, dtype=bool).reshape(f, r, c * b)
    mask = np.ascontiguousarray(t.mask, dtype=bool).reshape(f, r, c * b)
    tab, val = _table_keys(code, mask, b, tables, np.asarray(shifts, np.int64), bh, bw,
                           min(ROW_BANDS, r // bh), c // bw)
    width = (tables.shape[1] + 3) // 4
    eye = t.eye
    return {f"ir:{eye}:{t_:02d}:{v:0{width}x}" for t_, v in zip(tab.tolist(), val.tolist())}


def iris_keys_vectorised(t: IrisTemplate) -> list[str]:
    """The same keys as :func:`iris_keys` from :func:`all_cell_features` (numpy, every shift at
    once): the formulation the compiled kernel replaced, kept as a reference for the tests."""
    shape = tuple(int(s) for s in t.code.shape)
    _, _, tables, _ = _design(shape)
    bits, known, margin = all_cell_features(t)  # (S, cells)
    weights = 1 << np.arange(tables.shape[1], dtype=np.int64)
    width = (tables.shape[1] + 3) // 4
    ok = known[:, tables].all(axis=2)  # (S, T)
    values = (bits[:, tables].astype(np.int64) * weights).sum(axis=2)
    # The least certain cells of each key: their flipped variants are emitted too.
    weakest = np.argsort(margin[:, tables], axis=2, kind="stable")[:, :, :FLIP_VARIANTS]
    variants = [values] + [values ^ (1 << weakest[:, :, j]) for j in range(weakest.shape[2])]
    out: set[str] = set()
    si, ti = np.nonzero(ok)
    for v in variants:
        for s_, t_, val in zip(si.tolist(), ti.tolist(), v[si, ti].tolist()):
            out.add(f"ir:{t.eye}:{t_:02d}:{val:0{width}x}")
    return sorted(out)


def iris_keys_reference(t: IrisTemplate) -> list[str]:
    """The same keys as :func:`iris_keys`, one shift at a time from :func:`cell_features`."""
    shape = tuple(int(s) for s in t.code.shape)
    _, _, tables, shifts = _design(shape)
    weights = 1 << np.arange(tables.shape[1], dtype=np.int64)
    width = (tables.shape[1] + 3) // 4
    out: set[str] = set()
    for s in shifts:
        bits, known, margin = cell_features(t, s)
        ok = known[tables].all(axis=1)
        values = (bits[tables].astype(np.int64) * weights).sum(axis=1)
        weakest = np.argsort(margin[tables], axis=1, kind="stable")[:, :FLIP_VARIANTS]
        for ti in np.flatnonzero(ok):
            v = int(values[ti])
            out.add(f"ir:{t.eye}:{ti:02d}:{v:0{width}x}")
            for j in weakest[ti]:
                out.add(f"ir:{t.eye}:{ti:02d}:{v ^ (1 << int(j)):0{width}x}")
    return sorted(out)
