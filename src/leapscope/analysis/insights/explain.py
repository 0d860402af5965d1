"""Plain-language explanation of a group of samples, and the threshold test it suggests.

:func:`explain_group` names the metadata values over-represented in a group;
:func:`suggested_test` turns a group into a filter + threshold that would catch a
regression (both in the filter language of :func:`leapscope.store.parse_filter`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from leapscope.analysis.insights.base import AnalysisInput
from leapscope.analysis.slicing import category_codes, cut_literal, equality_filter, is_categorical, show_value
from leapscope.store._schema import SAMPLE_ID, SUBSET

__all__ = ["explain_group", "filter_mask", "suggested_test"]

_Part = tuple[float, str, str | None]
"""(strength, sentence, filter)."""


def _categorical_part(
    metadata: pd.DataFrame, name: str, member: np.ndarray, column: pd.Series, stats: dict[str, Any]
) -> _Part | None:
    """The value of a categorical column with the highest lift (>= 1.5, covering >= 30 % of the group)."""
    from sklearn.metrics import mutual_info_score

    codes, categories = category_codes(column)  # a missing value is a category of its own
    mi = float(mutual_info_score(member, codes))
    in_freq = pd.Series(codes[member]).value_counts(normalize=True)
    all_freq = pd.Series(codes).value_counts(normalize=True)
    best = None
    for code, frac_in in in_freq.items():
        lift = frac_in / all_freq[code]
        if frac_in >= 0.3 and lift >= 1.5 and (best is None or lift > best[1]):
            best = (categories[int(code)], lift, frac_in, all_freq[code])
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
    sentence = f"{name} = {show_value(value)} ({frac_in:.0%} of the group vs {frac_all:.0%} overall, lift {lift:.1f})"
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
    op = ">=" if d > 0 else "<="
    filt = f"{name} {op} {cut_literal(values.to_numpy(), edge, op)}"
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


def filter_mask(data: AnalysisInput, text: str) -> np.ndarray | None:
    """(N,) bool: the rows of ``data`` that filter ``text`` selects, as ``leapscope test`` selects them.

    The filter is parsed by :func:`leapscope.store.parse_filter` and applied to a table of the
    ``subset`` and ``sample_id`` columns and the metadata (never run as code). None when the filter does
    not apply to these columns (e.g. it names a loss column).
    """
    import pyarrow as pa

    from leapscope.exceptions import FilterError
    from leapscope.store import parse_filter

    try:
        parsed = parse_filter(text)
        arrays = {}
        for name in parsed.columns:
            if name == SUBSET:
                arrays[name] = pa.array(data.subset.tolist(), pa.string())
            elif name == SAMPLE_ID:
                arrays[name] = pa.array(data.sample_id.astype(str).tolist(), pa.string())
            elif name in data.metadata.columns:
                arrays[name] = pa.Array.from_pandas(data.metadata[name].reset_index(drop=True))
        table = pa.table(arrays) if arrays else pa.table({SUBSET: pa.array(data.subset.tolist(), pa.string())})
        return np.asarray(parsed.check(table.schema).mask(table), dtype=bool)
    except (FilterError, pa.ArrowInvalid, pa.ArrowTypeError):  # a column the filter language cannot compare
        return None


def _tested_number(data: AnalysisInput, group: np.ndarray, rest: np.ndarray) -> tuple[str, np.ndarray, bool]:
    """(column, values, higher is better) a test of ``group`` should guard: the metric (higher is better)
    unless the group is not worse on it while its loss (lower is better) is, then the loss."""
    if data.metric is None or not data.metric_name:
        return data.loss_name, data.loss, False
    metric_worse = _mean(data.metric[group]) < _mean(data.metric[rest])
    loss_worse = _mean(data.loss[group]) > _mean(data.loss[rest])
    if not metric_worse and loss_worse and not data.loss_name.startswith("1 - "):
        return data.loss_name, data.loss, False
    return data.metric_name, data.metric, True


def _mean(values: np.ndarray) -> float:
    """The mean of the finite values (NaN when there is none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def suggested_test(
    data: AnalysisInput, rows: np.ndarray, filt: str | None, subset: str | list[str]
) -> dict[str, Any] | None:
    """A filter + threshold that would catch a regression, and that passes on the run it comes from.

    ``subset`` is one subset, or a list of pooled subsets (``subset in ['validation', 'test']``); the
    filter is ``subset ... and filt``. The tested number is the metric (higher is better), or the loss
    when the group is worse on the loss but not on the metric (:func:`_tested_number`). Today's value
    ``current`` is the mean over the samples the FILTER selects (as ``leapscope test`` computes it),
    and the margin is: ``min`` = current - 0.05 (at least 0 when current is), floored to 3 decimals, for
    a metric; ``max`` = current + 20 % + 0.001, ceiled to 4 decimals, for a loss.

    When the filter does not select exactly ``rows`` (a metadata stand-in for a latent cluster), the
    test says so: ``approximate`` True, ``n`` samples selected, ``overlap`` of them in the group,
    ``precision`` (overlap / n), ``recall`` (overlap / group size), the group's own mean
    ``group_current`` and a ``note`` in words. None when the filter cannot be applied here or
    selects no sample with a value.
    """
    subsets = [subset] if isinstance(subset, str) else list(subset)
    scope_text = (
        f"{SUBSET} == {subset!r}" if isinstance(subset, str) else f"{SUBSET} in [{', '.join(map(repr, subset))}]"
    )
    where = scope_text + (f" and {filt}" if filt else "")
    selected = filter_mask(data, where)
    if selected is None:
        return None
    group = np.zeros(data.n, dtype=bool)
    group[np.asarray(rows, dtype=np.int64)] = True
    rest = np.isin(data.subset, subsets) & ~group
    column, values, higher = _tested_number(data, group, rest)
    counted = selected & np.isfinite(values)
    if not counted.any():
        return None
    value = float(values[counted].mean())
    test: dict[str, Any] = {"filter": where, "metric": column}
    if higher:
        low = max(0.0, value - 0.05) if value >= 0 else value - 0.05  # a metric that can be negative keeps its margin
        test["min"] = math.floor(low * 1000) / 1000
    else:
        test["max"] = math.ceil((value + 0.2 * abs(value) + 1e-3) * 10000) / 10000
    test["current"] = round(value, 4)
    test["n"] = int(counted.sum())
    if not np.array_equal(selected, group):
        overlap = int((selected & group).sum())
        precision, recall = overlap / max(int(selected.sum()), 1), overlap / max(int(group.sum()), 1)
        group_value = _mean(values[group])
        what = f"the filter {filt!r}" if filt else "the whole scope (no metadata describes the group)"
        test.update(
            approximate=True,
            overlap=overlap,
            precision=round(precision, 3),
            recall=round(recall, 3),
            group_current=round(group_value, 4),
            note=(
                f"{what} only approximates the group: it selects {int(selected.sum())} samples, {overlap} of the "
                f"group's {int(group.sum())} (precision {precision:.0%}, recall {recall:.0%}); the threshold comes "
                f"from the {int(counted.sum())} samples it selects ({column} {value:.3g}; the group itself: {group_value:.3g})"
            ),
        )
    return test
