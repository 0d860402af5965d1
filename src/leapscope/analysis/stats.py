"""Statistics shared by the insight detectors.

One-sided Mann-Whitney U tests (scipy) with the rank-biserial correlation as effect
size (r = 2U / (n1 n2) - 1), Benjamini-Hochberg false-discovery control across the
groups one detector tests (``scipy.stats.false_discovery_control``), and the size
factor that makes small groups matter less.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["benjamini_hochberg", "mann_whitney_greater", "size_factor"]


def mann_whitney_greater(inside: np.ndarray, outside: np.ndarray) -> tuple[float, float]:
    """One-sided Mann-Whitney p-value that ``inside`` > ``outside``, and the rank-biserial r.

    Parameters
    ----------
    inside, outside : ndarray of shape (n1,) and (n2,), float
        Non-finite values are dropped first.

    Returns
    -------
    (p, r) : (float in [0, 1], float in [-1, 1]); ``(1.0, 0.0)`` when either side is empty.
    """
    from scipy.stats import mannwhitneyu

    inside, outside = inside[np.isfinite(inside)], outside[np.isfinite(outside)]
    if len(inside) == 0 or len(outside) == 0:
        return 1.0, 0.0
    u, p = mannwhitneyu(inside, outside, alternative="greater")
    return float(p), float(2 * u / (len(inside) * len(outside)) - 1)


def benjamini_hochberg(pvalues: list[float]) -> np.ndarray:
    """BH-adjusted p-values, shape (len(pvalues),) float64 (empty in, empty out)."""
    from scipy.stats import false_discovery_control

    return np.asarray(false_discovery_control(np.asarray(pvalues, dtype=float)) if pvalues else [], dtype=float)


def size_factor(n: int) -> float:
    """0.5 at 10 samples, 1.0 from 100 samples: ``min(1, log10(n) / 2)``."""
    return float(min(1.0, math.log10(max(n, 1)) / 2))
