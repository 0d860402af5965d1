"""Plain-language explanation of a group of samples, and the threshold test it suggests.

:func:`explain_group` names the metadata values over-represented in a group;
:func:`suggested_test` turns a group into a filter + threshold that would catch a
regression (both in the filter language of :func:`leapscope.store.parse_filter`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leapscope.analysis.insights.base import AnalysisInput
from leapscope.analysis.slicing import equality_filter, is_categorical
from leapscope.store._schema import SUBSET

__all__ = ["explain_group", "suggested_test"]

_Part = tuple[float, str, str | None]
"""(strength, sentence, filter)."""


def _categorical_part(
    metadata: pd.DataFrame, name: str, member: np.ndarray, column: pd.Series, stats: dict[str, Any]
) -> _Part | None:
    """The value of a categorical column with the highest lift (>= 1.5, covering >= 30 % of the group)."""
    from sklearn.metrics import mutual_info_score

    values = column.astype(str)
    mi = float(mutual_info_score(member, values))
    in_freq = values[member].value_counts(normalize=True)
    all_freq = values.value_counts(normalize=True)
    best = None
    for value, frac_in in in_freq.items():
        lift = frac_in / all_freq[value]
        if frac_in >= 0.3 and lift >= 1.5 and (best is None or lift > best[1]):
            best = (value, lift, frac_in, all_freq[value])
    if best is None:
        return None
    value, lift, frac_in, frac_all = best
    stats[name] = {
        "value": value,
        "lift": round(float(lift), 3),
        "share_in": round(float(frac_in), 3),
        "share_all": round(float(frac_all), 3),
        "mutual_information": round(mi, 4),
    }
    sentence = f"{name} = {value!r} ({frac_in:.0%} of the group vs {frac_all:.0%} overall, lift {lift:.1f})"
    return lift * (1 + mi), sentence, equality_filter(metadata, name, value)


def _numeric_part(name: str, member: np.ndarray, column: pd.Series, stats: dict[str, Any]) -> _Part | None:
    """A numeric column whose standardised mean difference (group vs rest) is at least 0.5."""
    values = column.astype(float)
    a, b = values[member], values[~member]
    std = float(values.std()) or 1.0
    d = (float(a.mean()) - float(b.mean())) / std
    if abs(d) < 0.5:
        return None
    stats[name] = {"mean_in": round(float(a.mean()), 4), "mean_out": round(float(b.mean()), 4), "std_diff": round(d, 3)}
    edge = float(np.nanquantile(a, 0.25 if d > 0 else 0.75))
    filt = f"{name} >= {edge:.4g}" if d > 0 else f"{name} <= {edge:.4g}"
    return abs(d), f"{'higher' if d > 0 else 'lower'} {name} ({a.mean():.3g} vs {b.mean():.3g})", filt


def explain_group(
    metadata: pd.DataFrame, inside: np.ndarray, scope: np.ndarray
) -> tuple[str, dict[str, Any], str | None]:
    """Which metadata values are over-represented in ``inside`` (within ``scope``).

    Categorical columns: the value with the highest lift P(value | group) /
    P(value | scope) among values covering >= 30 % of the group, with the mutual
    information between group membership and the column (scikit-learn).
    Numeric columns: standardised mean difference >= 0.5.

    ``inside`` and ``scope`` are boolean masks of shape (N,), N = ``len(metadata)``.
    Returns (sentence, statistics, leapscope filter (``column op literal``, see ``leapscope.store.parse_filter``) of the strongest predicate or None).
    """
    parts: list[_Part] = []
    stats: dict[str, Any] = {}
    member = inside[scope]
    for name in metadata.columns:
        column = metadata[name][scope]
        if column.isna().all():
            continue
        if is_categorical(column):
            part = _categorical_part(metadata, name, member, column, stats)
        else:
            part = _numeric_part(name, member, column, stats)
        if part is not None:
            parts.append(part)
    parts.sort(key=lambda p: -p[0])
    if not parts:
        return "no metadata value is over-represented", stats, None
    return "over-represented: " + "; ".join(p[1] for p in parts[:3]), stats, parts[0][2]


def suggested_test(
    data: AnalysisInput, rows: np.ndarray, filt: str | None, subset: str | list[str]
) -> dict[str, Any] | None:
    """A filter + threshold that would catch a regression: today's value in the group, with a margin.

    ``subset`` is one subset, or a list of pooled subsets (``subset in ['validation', 'test']``).
    With a metric: ``min`` = mean metric of ``rows`` - 0.05 (at least 0); else ``max`` = mean loss x 1.2.
    """
    scope = f"{SUBSET} == {subset!r}" if isinstance(subset, str) else f"{SUBSET} in [{', '.join(map(repr, subset))}]"
    where = scope + (f" and {filt}" if filt else "")
    if data.metric is not None and data.metric_name:
        value = float(np.nanmean(data.metric[rows]))
        return {
            "filter": where,
            "metric": data.metric_name,
            "min": round(max(0.0, value - 0.05), 3),
            "current": round(value, 4),
        }
    value = float(np.nanmean(data.loss[rows]))
    return {"filter": where, "metric": data.loss_name, "max": round(value * 1.2 + 1e-3, 4), "current": round(value, 4)}
