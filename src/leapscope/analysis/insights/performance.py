"""Performance detectors: groups that fail (``low_performance``) and regions that overfit (``overfitting``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from leapscope.analysis.insights.base import (
    HELD_OUT,
    AnalysisInput,
    DetectOptions,
    Detector,
    labeled_subsets,
    new_insight,
)
from leapscope.analysis.insights.explain import explain_group, suggested_test
from leapscope.analysis.insights.record import Insight
from leapscope.analysis.slicing import metadata_slices
from leapscope.analysis.stats import benjamini_hochberg, mann_whitney_greater, size_factor

__all__ = ["LowPerformance", "Overfitting", "low_performance", "overfitting"]


class _GroupTest(NamedTuple):
    """One group tested against the rest of its subset: Mann-Whitney p, rank-biserial r, BH-adjusted q."""

    name: str
    group: np.ndarray
    filt: str | None
    p: float
    r: float
    q: float = 1.0


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
    the per-subset figures (``per_subset``: n and mean loss of the group in each pooled subset).

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
        out += [_low_performance_insight(data, subsets, scope, t) for t in _strongest(tests, alpha, max_slices)]
    return out


def _group_tests(data: AnalysisInput, clusters: np.ndarray, scope: np.ndarray, min_samples: int) -> list[_GroupTest]:
    """Every latent cluster and metadata slice of ``scope`` of a testable size, tested on the loss."""
    loss = data.loss
    candidates: list[tuple[str, np.ndarray, str | None]] = [
        (f"latent cluster {c}", scope & (clusters == c), None) for c in np.unique(clusters[scope]) if c >= 0
    ]
    candidates += metadata_slices(data.metadata, scope, min_samples)
    tests = []
    for name, group, filt in candidates:
        n_in = int(group.sum())
        if n_in < min_samples or n_in > 0.5 * scope.sum():
            continue
        p, r = mann_whitney_greater(loss[group], loss[scope & ~group])
        if np.nanmean(loss[group]) < 1.5 * np.nanmean(loss[scope & ~group]):
            p = 1.0  # still counted in the FDR family, never reported
        tests.append(_GroupTest(name, group, filt, p, r))
    return tests


def _strongest(tests: list[_GroupTest], alpha: float, max_slices: int) -> list[_GroupTest]:
    """Significant tests, strongest first, without groups mostly inside a stronger one; at most ``max_slices`` slices."""
    adjusted = benjamini_hochberg([t.p for t in tests])
    found = [t._replace(q=float(q)) for t, q in zip(tests, adjusted, strict=True) if q < alpha and t.r >= 0.2]
    found.sort(key=lambda t: -t.r * size_factor(int(t.group.sum())))
    kept: list[_GroupTest] = []
    n_slices = 0
    for t in found:
        if any((t.group & k.group).sum() / t.group.sum() > 0.7 for k in kept):  # mostly inside a stronger finding
            continue
        is_slice = t.filt is not None
        if is_slice and n_slices >= max_slices:
            continue
        n_slices += is_slice
        kept.append(t)
    return kept


def _low_performance_insight(data: AnalysisInput, subsets: list[str], scope: np.ndarray, t: _GroupTest) -> Insight:
    loss, group, is_slice = data.loss, t.group, t.filt is not None
    subset = "|".join(subsets)  # one subset's name, or the pooled held-out subsets ("validation|test")
    rows = np.flatnonzero(group)
    sentence, meta_stats, best_filter = explain_group(data.metadata, group, scope)
    inside, outside = float(np.nanmean(loss[group])), float(np.nanmean(loss[scope & ~group]))
    stats = {
        "group": t.name,
        "n": len(rows),
        "mean_loss_in": inside,
        "mean_loss_out": outside,
        "p_value": t.p,
        "p_adjusted": t.q,
        "rank_biserial": t.r,
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
    metric_text = (
        f", {data.metric_name} {stats['metric_in']:.3f} vs {stats['metric_out']:.3f}" if data.metric is not None else ""
    )
    explanation = (
        f"{len(rows)} {shown} samples in {what} have mean {data.loss_name} {inside:.3g} vs {outside:.3g} for the "
        f"rest of {shown}{metric_text} (Mann-Whitney p={t.q:.2g} after FDR, rank-biserial {t.r:.2f}){per_subset}; "
        f"{sentence}."
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
        suggested_test=suggested_test(data, rows, t.filt or best_filter, subsets[0] if len(subsets) == 1 else subsets),
        extra={"group_kind": "slice" if is_slice else "cluster"},
    )


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
