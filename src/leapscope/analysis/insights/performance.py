"""Performance detectors: groups that fail (``low_performance``) and regions that overfit (``overfitting``)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from leapscope.analysis.insights.base import (
    HELD_OUT,
    AnalysisInput,
    DetectOptions,
    Detector,
    labeled_subsets,
    new_insight,
)
from leapscope.analysis.insights.explain import explain_group, filter_mask, suggested_test
from leapscope.analysis.insights.record import Insight
from leapscope.analysis.slicing import MAX_ORDINAL_LEVELS, metadata_slices, metadata_slices_with_parents
from leapscope.analysis.stats import benjamini_hochberg, mann_whitney_greater, size_factor

__all__ = ["LowPerformance", "Overfitting", "low_performance", "overfitting"]


class _GroupTest(NamedTuple):
    """One group tested against the rest of its subset: Mann-Whitney p, rank-biserial r, BH-adjusted q.

    ``full`` is the group's mask over every row (all subsets: a cluster's members, a slice's filter), used
    for the training-consistency check; ``checks`` holds the p-values of the extra tests (vs each parent of a
    conjunction, on training) that go into the statistics."""

    name: str
    group: np.ndarray
    filt: str | None
    p: float
    r: float
    q: float = 1.0
    full: np.ndarray | None = None
    checks: dict[str, float] | None = None


def low_performance(
    data: AnalysisInput, *, clusters: np.ndarray, min_samples: int = 10, alpha: float = 0.05, max_slices: int = 3
) -> list[Insight]:
    """Latent clusters and metadata slices whose loss is significantly higher.

    The held-out subsets (every labeled subset but ``training``) are pooled into one scope
    (a failing slice split 5/3/4 across validation and test is still one group of 12); a run
    with no held-out subset is analysed per labeled subset. In the scope, each k-means cluster
    (and each SliceLine-style metadata slice: one or two predicates ``col == value`` / numeric
    quartile bounds; Sagadeeva & Boehm 2021) is tested against the rest with a one-sided
    Mann-Whitney U test on the loss; p-values are BH-adjusted over the scope's tests.

    Thresholds (all settable): a group has at least ``min_samples`` samples (``analyze
    --min-group-size``) and at most half the scope, the scope at least ``2 * min_samples``;
    reported when adjusted p < ``alpha`` (0.05), rank-biserial r >= 0.2, and the group's mean loss
    is at least 1.5x the rest's (ranks alone can favour a group whose typical loss is higher but
    whose mean is lower); at most ``max_slices`` (3) metadata slices per scope. The statistics keep
    the per-subset figures (``per_subset``: n and mean loss of the group in each pooled subset) and, for a
    slice on an integer column of 3 to 6 levels, every level's n, mean loss and metric (``by_level``).

    A group worse on the loss but not on the metric says so, and its suggested test guards the loss. A
    latent cluster's test uses the metadata filter that reproduces it best (highest F1: the explanation's
    strongest predicate or a one- or two-predicate slice); its threshold comes from the samples the filter
    selects, and the explanation says how well the filter matches the cluster
    (:func:`~leapscope.analysis.insights.explain.suggested_test`).

    Guards against chance slices (a search over many candidate slices finds some by luck):

    * a two-predicate slice must earn its second predicate: its p is the largest of the test against the
      rest and the tests against each one-predicate parent without the other predicate (``a and b`` vs
      ``a and not b``, and vs ``b and not a``; an intersection-union test), so ``x0 <= -0.6 and tag == 'b2'``
      is not reported when ``x0 <= -0.6`` alone fails as much;
    * a group whose effect is explained by a stronger reported group that it overlaps (its loss is no longer
      significantly higher, p >= ``alpha``, once that group's samples are removed from both sides, while the
      stronger group without this one's samples still is) is dropped;
    * per-subset consistency: a held-out group that does *better* than the rest on training (one-sided p of
      "worse on training" > 0.5, with ``min_samples`` on each side) gets the Stouffer combination of its
      held-out and training evidence as its p (so a lower confidence), and is dropped when that is >= ``alpha``.

    severity = r x size_factor(n), size_factor = min(1, log10(n) / 2).
    """
    out: list[Insight] = []
    labeled = labeled_subsets(data)
    held_out = [s for s in labeled if s != "training"]
    scopes = [held_out] if held_out else [[s] for s in labeled]
    for subsets in scopes:
        scope = np.isin(data.subset, subsets) & np.isfinite(data.loss)
        if scope.sum() < 2 * min_samples:
            continue
        tests = _group_tests(data, clusters, scope, min_samples)
        if not tests:
            continue
        strongest = _strongest(data, scope, tests, alpha, max_slices, min_samples, check_training=bool(held_out))
        out += [_low_performance_insight(data, subsets, scope, t) for t in strongest]
    return out


def _group_tests(data: AnalysisInput, clusters: np.ndarray, scope: np.ndarray, min_samples: int) -> list[_GroupTest]:
    """Every latent cluster and metadata slice of ``scope`` of a testable size, tested on the loss."""
    loss = data.loss
    candidates: list[tuple[tuple[str, np.ndarray, str | None], tuple[np.ndarray, np.ndarray] | None, Any]] = [
        ((f"latent cluster {c}", scope & (clusters == c), None), None, clusters == c)
        for c in np.unique(clusters[scope])
        if c >= 0
    ]
    candidates += [(s, parents, None) for s, parents in metadata_slices_with_parents(data.metadata, scope, min_samples)]
    tests = []
    for (name, group, filt), parents, full in candidates:
        n_in = int(group.sum())
        if n_in < min_samples or n_in > 0.5 * scope.sum():
            continue
        p, r = mann_whitney_greater(loss[group], loss[scope & ~group])
        if np.nanmean(loss[group]) < 1.5 * np.nanmean(loss[scope & ~group]):
            p = 1.0  # still counted in the FDR family, never reported
        checks: dict[str, float] | None = None
        if parents is not None and p < 1.0:  # earn the second predicate: worse than each parent without the other
            p_first = mann_whitney_greater(loss[group], loss[parents[0] & ~parents[1]])[0]
            p_second = mann_whitney_greater(loss[group], loss[parents[1] & ~parents[0]])[0]
            checks = {"p_vs_first_predicate_alone": p_first, "p_vs_second_predicate_alone": p_second}
            p = max(p, p_first, p_second)
        tests.append(_GroupTest(name, group, filt, p, r, full=full, checks=checks))
    return tests


def _strongest(
    data: AnalysisInput,
    scope: np.ndarray,
    tests: list[_GroupTest],
    alpha: float,
    max_slices: int,
    min_samples: int,
    *,
    check_training: bool,
) -> list[_GroupTest]:
    """Significant tests, strongest first, without groups mostly inside (or explained by) a stronger one, nor
    groups that training contradicts (:func:`_training_check`); at most ``max_slices`` slices."""
    loss = data.loss
    adjusted = benjamini_hochberg([t.p for t in tests])
    found = [t._replace(q=float(q)) for t, q in zip(tests, adjusted, strict=True) if q < alpha and t.r >= 0.2]
    found.sort(key=lambda t: -t.r * size_factor(int(t.group.sum())))
    kept: list[_GroupTest] = []
    n_slices = 0
    for t in found:
        if any((t.group & k.group).sum() / t.group.sum() > 0.7 for k in kept):  # mostly inside a stronger finding
            continue
        if any(_explained_by(loss, scope, t.group, k.group, alpha) for k in kept):
            continue
        is_slice = t.filt is not None
        if is_slice and n_slices >= max_slices:
            continue
        if check_training:
            t = _training_check(data, t, min_samples)
            if t.q >= alpha:
                continue
        n_slices += is_slice
        kept.append(t)
    return kept


def _explained_by(loss: np.ndarray, scope: np.ndarray, group: np.ndarray, stronger: np.ndarray, alpha: float) -> bool:
    """True when ``group`` overlaps ``stronger`` and is no longer significantly worse (p >= ``alpha``) once the
    samples of ``stronger`` are removed from it and from the rest of ``scope``, while ``stronger`` without the
    samples of ``group`` still is (p < ``alpha``). Two groups that explain each other (a latent cluster and the
    metadata slice that names it) are one finding seen two ways: both kept."""
    if not (group & stronger).any():
        return False
    p_rest, _ = mann_whitney_greater(loss[group & ~stronger], loss[scope & ~group & ~stronger])
    if p_rest < alpha:
        return False
    p_stronger, _ = mann_whitney_greater(loss[stronger & ~group], loss[scope & ~group & ~stronger])
    return p_stronger < alpha


def _training_check(data: AnalysisInput, t: _GroupTest, min_samples: int) -> _GroupTest:
    """``t`` with its q lowered in confidence (raised) when the group does better than the rest on training.

    The group's training rows (a cluster's members, a slice filter's rows) against the rest of training, one
    sided ("worse"): a p > 0.5 leans the other way, and q becomes the Stouffer combination of the held-out q
    and that p when it is larger. Too few training rows on either side: ``t`` unchanged."""
    full = t.full if t.full is not None else (filter_mask(data, t.filt) if t.filt else None)
    if full is None:
        return t
    train = (data.subset == "training") & np.isfinite(data.loss)
    inside, outside = train & full, train & ~full
    if inside.sum() < min_samples or outside.sum() < min_samples:
        return t
    from scipy.stats import norm

    p_train, _ = mann_whitney_greater(data.loss[inside], data.loss[outside])
    checks = {**(t.checks or {}), "p_training": p_train}
    q = t.q
    if p_train > 0.5:
        z = (norm.isf(max(t.q, 1e-300)) + norm.isf(p_train)) / np.sqrt(2.0)
        combined = float(norm.sf(z))
        checks["p_held_out_only"] = t.q
        q = max(t.q, combined)
    return t._replace(q=q, checks=checks)


def _low_performance_insight(data: AnalysisInput, subsets: list[str], scope: np.ndarray, t: _GroupTest) -> Insight:
    loss, group, is_slice = data.loss, t.group, t.filt is not None
    subset = "|".join(subsets)  # one subset's name, or the pooled held-out subsets ("validation|test")
    rows = np.flatnonzero(group)
    sentence, meta_stats, best_filter = explain_group(data.metadata, group, scope)
    if not is_slice:
        best_filter = _stand_in(data, group, scope, best_filter)
    inside, outside = float(np.nanmean(loss[group])), float(np.nanmean(loss[scope & ~group]))
    stats = {
        "group": t.name,
        "n": len(rows),
        "mean_loss_in": inside,
        "mean_loss_out": outside,
        "p_value": t.p,
        "p_adjusted": t.q,
        "rank_biserial": t.r,
        **(t.checks or {}),
        "metadata": meta_stats,
        "per_subset": {
            name: {
                "n": int((group & (data.subset == name)).sum()),
                "mean_loss_in": _mean(loss[group & (data.subset == name)]),
                "mean_loss_out": _mean(loss[scope & ~group & (data.subset == name)]),
            }
            for name in subsets
        },
    }
    if data.metric is not None:
        stats["metric_in"] = float(np.nanmean(data.metric[group]))
        stats["metric_out"] = float(np.nanmean(data.metric[scope & ~group]))
    what = f"slice {t.filt}" if is_slice else t.name
    shown = subset if len(subsets) == 1 else f"held-out ({' + '.join(subsets)})"
    per_subset = (
        ""
        if len(subsets) == 1
        else "; per subset: " + ", ".join(f"{k} {v['n']}" for k, v in stats["per_subset"].items())  # type: ignore[attr-defined]
    )
    metric_text = ""
    if data.metric is not None:
        metric_in, metric_out = float(np.nanmean(data.metric[group])), float(np.nanmean(data.metric[scope & ~group]))
        metric_text = f", {data.metric_name} {metric_in:.3f} vs {metric_out:.3f}"
        if metric_in >= metric_out:  # worse on the loss only: never call the metric worse
            metric_text += f" (not worse on {data.metric_name}: the group fails on {data.loss_name} only)"
    levels = _by_level(data, t.filt, scope) if is_slice else None
    if levels:
        stats["by_level"] = levels[1]
    test = suggested_test(data, rows, t.filt or best_filter, subsets[0] if len(subsets) == 1 else subsets)
    approx = (
        f"; the suggested test's filter only approximates this group ({test['n']} samples, precision "
        f"{test['precision']:.0%}, recall {test['recall']:.0%}; its threshold is from the samples it selects)"
        if test and test.get("approximate")
        else ""
    )
    checks = t.checks or {}
    inconsistent = (
        f"; on training it does better than the rest (p={checks['p_training']:.2g} for worse), so its p combines "
        f"held-out p={checks['p_held_out_only']:.2g} with training"
        if "p_held_out_only" in checks
        else ""
    )
    explanation = (
        f"{len(rows)} {shown} samples in {what} have mean {data.loss_name} {inside:.3g} vs {outside:.3g} for the "
        f"rest of {shown}{metric_text} (Mann-Whitney p={t.q:.2g} after FDR, rank-biserial {t.r:.2f}){inconsistent}"
        f"{per_subset}"
        f"{'; ' + levels[0] if levels else ''}; {sentence}{approx}."
    )
    return new_insight(
        data,
        rows,
        t.r * size_factor(len(rows)),
        type="low_performance",
        subset=subset,
        statistics=stats,
        explanation=explanation,
        title=f"{shown}: {what} fails ({data.loss_name} {inside:.3g} vs {outside:.3g})",
        suggested_test=test,
        extra={"group_kind": "slice" if is_slice else "cluster"},
    )


def _stand_in(data: AnalysisInput, group: np.ndarray, scope: np.ndarray, explained: str | None) -> str | None:
    """The metadata filter that best reproduces a latent cluster (highest F1 within ``scope``): the
    explanation's strongest predicate or any one- or two-predicate metadata slice; None when none overlaps."""
    candidates = [(f, m) for _, m, f in metadata_slices(data.metadata, scope, 3) if f is not None]
    if explained is not None:
        mask = filter_mask(data, explained)
        if mask is not None:
            candidates.insert(0, (explained, mask & scope))
    best, best_f1 = explained, 0.0
    for filt, mask in candidates:
        overlap = int((mask & group).sum())
        f1 = 2 * overlap / (int(mask.sum()) + int(group.sum())) if overlap else 0.0
        if f1 > best_f1 + 1e-9:
            best, best_f1 = filt, f1
    return best


def _by_level(data: AnalysisInput, filt: str | None, scope: np.ndarray) -> tuple[str, dict[str, Any]] | None:
    """Per level of the integer column a one-column slice is on (3 to ``MAX_ORDINAL_LEVELS`` levels): n, mean
    loss and metric, so a slice ``n == 2`` also shows how ``n == 1`` fares. None for other slices."""
    if not filt or " and " in filt:
        return None
    name = filt.split()[0]
    column = data.metadata[name] if name in data.metadata.columns else None
    if column is None or not pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return None
    levels = np.sort(column[scope].dropna().unique())
    if not 3 <= len(levels) <= MAX_ORDINAL_LEVELS:
        return None
    values = column.to_numpy()
    stats: dict[str, Any] = {}
    parts = []
    for level in levels:
        rows = scope & (values == level)
        loss = _mean(data.loss[rows])
        entry: dict[str, Any] = {"n": int(rows.sum()), "mean_loss": loss}
        shown = [f"{data.loss_name} {loss:.3g}"] if loss is not None else []
        metric = _mean(data.metric[rows]) if data.metric is not None else None
        if metric is not None:
            entry["metric"] = metric
            shown.append(f"{data.metric_name} {metric:.3g}")
        stats[str(int(level))] = entry
        parts.append(f"{int(level)} ({entry['n']}): {', '.join(shown)}")
    return f"by {name}: " + "; ".join(parts), stats


def _mean(values: np.ndarray) -> float | None:
    """The mean of the finite values (None when there is none: JSON-safe)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def overfitting(
    data: AnalysisInput, *, clusters: np.ndarray, min_samples: int = 10, alpha: float = 0.05
) -> list[Insight]:
    """Latent clusters where training loss is low but held-out loss is high.

    Per cluster with >= ``min_samples`` training and held-out samples, a one-sided
    Mann-Whitney test that held-out loss > training loss (BH-adjusted across
    clusters). Reported when adjusted p < ``alpha``, r >= 0.3 and the held-out mean
    is at least twice the training mean.

    severity = r x size_factor(held-out n).
    """
    train = data.subset == "training"
    held = np.isin(data.subset, HELD_OUT)
    tests = []
    for c in np.unique(clusters[clusters >= 0]):
        t_rows, h_rows = (clusters == c) & train, (clusters == c) & held
        if t_rows.sum() < min_samples or h_rows.sum() < min_samples:
            continue
        p, r = mann_whitney_greater(data.loss[h_rows], data.loss[t_rows])
        tests.append((c, t_rows, h_rows, p, r))
    if not tests:
        return []
    adjusted = benjamini_hochberg([t[3] for t in tests])
    out = []
    for (c, t_rows, h_rows, p, r), q in zip(tests, adjusted, strict=True):
        lt, lh = float(np.nanmean(data.loss[t_rows])), float(np.nanmean(data.loss[h_rows]))
        if q >= alpha or r < 0.3 or lh < 2 * lt:
            continue
        rows = np.flatnonzero(h_rows)
        sentence, meta, _filt = explain_group(data.metadata, h_rows, held)
        explanation = (
            f"latent cluster {c}: training {data.loss_name} {lt:.3g} but held-out {lh:.3g} "
            f"({int(h_rows.sum())} held-out vs {int(t_rows.sum())} training samples; p={q:.2g} after FDR, "
            f"rank-biserial {r:.2f}). The model memorised this region; {sentence}."
        )
        stats = {
            "cluster": int(c),
            "train_loss": lt,
            "heldout_loss": lh,
            "n_train": int(t_rows.sum()),
            "n_heldout": int(h_rows.sum()),
            "p_value": p,
            "p_adjusted": float(q),
            "rank_biserial": r,
            "metadata": meta,
        }
        out.append(
            new_insight(
                data,
                rows,
                r * size_factor(len(rows)),
                type="overfitting",
                subset="|".join(HELD_OUT),
                statistics=stats,
                explanation=explanation,
                title=f"cluster {c} overfits ({data.loss_name} {lt:.3g} train vs {lh:.3g} held-out)",
                suggested_test=None,
                extra={},
            )
        )
    return out


class LowPerformance(Detector):
    """:func:`low_performance` on the latent clusters (runs without a latent space: metadata slices only)."""

    name = "low_performance"
    needs_latent = False

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return low_performance(data, clusters=options.clusters, min_samples=options.min_samples)


class Overfitting(Detector):
    """:func:`overfitting` on the latent clusters."""

    name = "overfitting"

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return overfitting(data, clusters=options.clusters, min_samples=options.min_samples)
