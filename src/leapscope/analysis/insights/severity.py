"""Severity and confidence of every insight type, in one place (documented in docs/insights.md).

Every insight gets

* ``confidence`` in [0, 1]: how sure the finding is *real* — ``1 - p`` for the p-value of the
  detector's test (BH-adjusted where several groups were tested), or the mean calibrated per-sample
  probability for ``mislabeled``;
* ``impact`` in [0, 1]: how much it matters if real — effect size x how many samples it touches;
* ``severity = impact x confidence``, the number insights are ranked by across types.

Because both factors are on the same [0, 1] scales for every type, a weak claim (small share,
low confidence) cannot outrank a strong one of another type.

==================== ==================================================== =========================================
type                 impact                                               confidence
==================== ==================================================== =========================================
low_performance      r x size_factor(n)                                   1 - p (Mann-Whitney, BH-adjusted)
overfitting          r x size_factor(n held-out)                          1 - p (Mann-Whitney, BH-adjusted)
domain_gap           2 (AUC - 0.5) x r                                    1 - p (loss Mann-Whitney, BH-adjusted)
out_of_distribution  min(1, (share - expected) / 0.1) x (0.5 + 0.5 [loss  1 - p (one-sided binomial test of the
                     significantly higher])                               far count against the expected rate)
mislabeled           min(1, 5 x share), x 0.5 on training                 mean per-sample score of the flagged
duplicates           min(1, 10 x share), x 0.5 for near (latent) claims   exact 1; near 1 - p, p = empirical
data_leakage         min(1, 20 x share), x 0.5 for near (latent) claims   P(nearest-neighbour distance <= the
                                                                          pairs' median distance) in this run
==================== ==================================================== =========================================

``r`` is the rank-biserial correlation, ``size_factor(n) = min(1, log10(n) / 2)``, ``share`` the
share of the subset's samples involved. Types not in the table keep the severity their detector
gives and get no confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from leapscope.analysis.stats import size_factor

__all__ = ["RULES", "rate"]


def _num(stats: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    value = stats.get(key)
    try:
        out = float(value) if value is not None else default
    except (TypeError, ValueError):
        return default
    return out if np.isfinite(out) else default


def _p_confidence(stats: Mapping[str, Any]) -> float:
    return 1.0 - _num(stats, "p_adjusted", _num(stats, "p_value", 1.0))


def _low_performance(stats: Mapping[str, Any]) -> tuple[float, float]:
    return _num(stats, "rank_biserial") * size_factor(int(_num(stats, "n"))), _p_confidence(stats)


def _overfitting(stats: Mapping[str, Any]) -> tuple[float, float]:
    return _num(stats, "rank_biserial") * size_factor(int(_num(stats, "n_heldout"))), _p_confidence(stats)


def _domain_gap(stats: Mapping[str, Any]) -> tuple[float, float]:
    return 2 * (_num(stats, "auc", 0.5) - 0.5) * _num(stats, "rank_biserial"), _p_confidence(stats)


def _out_of_distribution(stats: Mapping[str, Any]) -> tuple[float, float]:
    share, expected = _num(stats, "share"), _num(stats, "expected", 0.01)
    impact = min(1.0, (share - expected) / 0.1) * (0.5 + 0.5 * (_num(stats, "p_value", 1.0) < 0.05))
    return impact, 1.0 - _num(stats, "p_far", 1.0)


def _mislabeled(stats: Mapping[str, Any], subset: str) -> tuple[float, float]:
    impact = min(1.0, 5 * _num(stats, "share")) * (0.5 if subset == "training" else 1.0)
    return impact, _num(stats, "mean_score")


def _pairs(scale: float) -> Callable[[Mapping[str, Any]], tuple[float, float]]:
    def rule(stats: Mapping[str, Any]) -> tuple[float, float]:
        exact = stats.get("kind") == "exact"
        share = _num(stats, "share", _num(stats, "samples") / max(_num(stats, "n_subset", 1.0), 1.0))
        impact = min(1.0, scale * share) * (1.0 if exact else 0.5)
        return impact, 1.0 if exact else 1.0 - _num(stats, "p_value", 1.0)

    return rule


#: insight type -> statistics -> (impact, confidence)
RULES: dict[str, Callable[[Mapping[str, Any]], tuple[float, float]]] = {
    "low_performance": _low_performance,
    "overfitting": _overfitting,
    "domain_gap": _domain_gap,
    "out_of_distribution": _out_of_distribution,
    "duplicates": _pairs(10.0),
    "data_leakage": _pairs(20.0),
}


def rate(kind: str, statistics: Mapping[str, Any], subset: str, fallback: float) -> tuple[float, float | None]:
    """(severity, confidence) of an insight of type ``kind`` from its ``statistics`` (see the module table).

    Both are clipped to [0, 1] and rounded to 4 digits; an unknown type keeps ``fallback`` as its
    severity and gets confidence None.
    """
    if kind == "mislabeled":
        impact, confidence = _mislabeled(statistics, subset)
    elif kind in RULES:
        impact, confidence = RULES[kind](statistics)
    else:
        return round(float(np.clip(fallback, 0.0, 1.0)), 4), None
    impact, confidence = float(np.clip(impact, 0.0, 1.0)), float(np.clip(confidence, 0.0, 1.0))
    return round(impact * confidence, 4), round(confidence, 4)
