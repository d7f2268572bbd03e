"""Two-sample checks shared by the tests that hold the compiled generators against the reference."""

from __future__ import annotations

import numpy as np


def ks_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov distance of ``x`` and ``y``."""
    grid = np.union1d(x, y)
    cx = np.searchsorted(np.sort(x), grid, side="right") / x.size
    cy = np.searchsorted(np.sort(y), grid, side="right") / y.size
    return float(np.abs(cx - cy).max())


def ks_critical(n: int, m: int) -> float:
    """The distance two samples of sizes ``n`` and ``m`` of one law exceed with chance 0.001."""
    return 1.95 * float(np.sqrt((n + m) / (n * m)))
