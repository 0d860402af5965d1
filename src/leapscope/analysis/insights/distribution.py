"""Distribution detectors: samples far from training (``out_of_distribution``) and metadata groups
that form their own, worse region of latent space (``domain_gap``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leapscope.analysis.clustering import reduce_latent
from leapscope.analysis.insights.base import AnalysisInput, DetectOptions, Detector, new_insight, other_subsets
from leapscope.analysis.insights.explain import explain_group, suggested_test
from leapscope.analysis.insights.record import Insight
from leapscope.analysis.neighbours import cosine_neighbours
from leapscope.analysis.slicing import category_codes, equality_filter, is_categorical, show_value
from leapscope.analysis.stats import benjamini_hochberg, mann_whitney_greater

__all__ = ["DomainGap", "OutOfDistribution", "domain_gap", "out_of_distribution"]


def out_of_distribution(
    data: AnalysisInput, *, k: int = 5, percentile: float = 99.0, min_samples: int = 5
) -> list[Insight]:
    """Samples far from the training distribution in latent space.

    Score = mean cosine distance to the ``k`` nearest training samples; the
    threshold is the ``percentile`` of the same score of training samples (leaving
    each one out). Reported per non-training subset when more samples exceed it
    than the calibration rate predicts (and at least ``min_samples``).

    severity: see :mod:`leapscope.analysis.insights.severity` (impact ``min(1, excess share / 0.1) x
    (0.5 + 0.5 x [OOD loss significantly higher])`` times the confidence ``1 - p`` of a one-sided binomial
    test of the far count against the calibration rate).
    """
    train = np.flatnonzero((data.subset == "training") & data.valid)
    out: list[Insight] = []
    if len(train) <= k + 1:
        return out
    dist_train, _ = cosine_neighbours(data.latent[train], data.latent[train], k + 1)
    threshold = float(np.percentile(dist_train[:, 1:].mean(axis=1), percentile))
    expected = 1 - percentile / 100
    for subset, rows in other_subsets(data):
        dist, _ = cosine_neighbours(data.latent[rows], data.latent[train], k)
        score = dist.mean(axis=1)
        far = score > threshold
        share = float(far.mean())
        if far.sum() < min_samples or share <= 2 * expected:
            continue
        calibration = {"threshold": threshold, "percentile": percentile, "k": k, "expected": expected}
        out.append(_ood_insight(data, subset, rows, score, calibration))
    return out


def _ood_insight(
    data: AnalysisInput, subset: str, rows: np.ndarray, score: np.ndarray, calibration: dict[str, Any]
) -> Insight:
    threshold, percentile, k, expected = (calibration[key] for key in ("threshold", "percentile", "k", "expected"))
    far = score > threshold
    share = float(far.mean())
    p, r = mann_whitney_greater(data.loss[rows][far], data.loss[rows][~far])
    sentence, meta, filt = explain_group(
        data.metadata, np.isin(np.arange(data.n), rows[far]), np.isin(np.arange(data.n), rows)
    )
    picked = rows[far][np.argsort(-score[far])]
    loss_in = float(np.nanmean(data.loss[rows][far])) if np.isfinite(data.loss[rows][far]).any() else None
    loss_out = float(np.nanmean(data.loss[rows][~far])) if np.isfinite(data.loss[rows][~far]).any() else None
    loss_text = (
        f" Their mean {data.loss_name} is {loss_in:.3g} vs {loss_out:.3g}."
        if loss_in is not None and loss_out is not None
        else ""
    )
    explanation = (
        f"{int(far.sum())} {subset} samples ({share:.1%}, vs {expected:.0%} expected) lie farther from the "
        f"training data than {percentile:.0f}% of training samples do (mean cosine distance to {k} nearest "
        f"training latents > {threshold:.3g}).{loss_text} {sentence[0].upper() + sentence[1:]}."
    )
    severity = min(1.0, (share - expected) / 0.1) * (0.5 + 0.5 * (p < 0.05))  # x confidence: see severity.py
    from scipy.stats import binomtest

    p_far = float(binomtest(int(far.sum()), len(rows), expected, alternative="greater").pvalue)
    stats = {
        "n": int(far.sum()),
        "n_subset": len(rows),
        "share": share,
        "expected": expected,
        "p_far": p_far,
        "threshold": threshold,
        "percentile": percentile,
        "mean_loss_in": loss_in,
        "mean_loss_out": loss_out,
        "p_value": p,
        "rank_biserial": r,
        "metadata": meta,
    }
    return new_insight(
        data,
        picked,
        severity,
        type="out_of_distribution",
        subset=subset,
        statistics=stats,
        explanation=explanation,
        title=f"{subset}: {int(far.sum())} out-of-distribution samples",
        suggested_test=suggested_test(data, picked, filt, subset) if filt else None,
        extra={"scores": {str(data.sample_id[i]): float(s) for i, s in zip(rows[far], score[far], strict=True)}},
    )


def _carries_label(data: AnalysisInput, rows: np.ndarray, values: np.ndarray) -> bool:
    """Whether a column carries the label itself (NMI with the given label >= 0.5, or one value per class)."""
    from sklearn.metrics import normalized_mutual_info_score

    return bool(
        (data.labels[rows] >= 0).all()
        and (
            normalized_mutual_info_score(data.labels[rows], values) >= 0.5
            or pd.DataFrame({"y": data.labels[rows], "v": values}).groupby("y")["v"].nunique().max() == 1
        )
    )


def _domain_tests(data: AnalysisInput, rows: np.ndarray, min_samples: int, seed: int) -> list[tuple[Any, ...]]:
    """(column, value, member mask over ``rows``, AUC, loss p, loss r) for every candidate metadata group."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    z = reduce_latent(data.latent[rows], dims=10, seed=seed)
    tests = []
    for name in data.metadata.columns:
        column = data.metadata[name].iloc[rows]
        if not is_categorical(column) or not (2 <= column.nunique() <= 20):
            continue
        codes, categories = category_codes(column)  # a missing value is a category of its own
        if _carries_label(data, rows, codes):
            continue
        for code, value in enumerate(categories):
            member = codes == code
            if member.sum() < min_samples or (~member).sum() < min_samples:
                continue
            proba = cross_val_predict(LogisticRegression(max_iter=500), z, member, cv=3, method="predict_proba")[:, 1]
            auc = float(roc_auc_score(member, proba))
            p, r = mann_whitney_greater(data.loss[rows][member], data.loss[rows][~member])
            tests.append((name, value, member, auc, p, r))
    return tests


def domain_gap(data: AnalysisInput, *, min_samples: int = 20, seed: int = 0, alpha: float = 0.05) -> list[Insight]:
    """Metadata-defined groups whose latents differ from the rest AND whose loss is worse.

    For each categorical metadata column (2-20 values) and each value with at
    least ``min_samples`` samples: a classifier two-sample test (Lopez-Paz & Oquab
    2017): logistic regression on PCA-reduced latents, 3-fold out-of-fold AUC for
    "in group vs rest", and a Mann-Whitney test of the loss. Columns that carry the
    label itself (normalised mutual information with the given label >= 0.5) are
    skipped: a class always differs in latent space. Reported when AUC >= 0.7 and the
    BH-adjusted loss p < ``alpha``.

    severity: ``2 x (AUC - 0.5) x r`` (rank-biserial of the loss) times ``1 - p_adjusted`` (see
    :mod:`leapscope.analysis.insights.severity`).
    """
    scope = data.valid & np.isfinite(data.loss)
    rows = np.flatnonzero(scope)
    if len(rows) < 2 * min_samples:
        return []
    tests = _domain_tests(data, rows, min_samples, seed)
    if not tests:
        return []
    adjusted = benjamini_hochberg([t[4] for t in tests])
    out = []
    for (name, value, member, auc, p, r), q in zip(tests, adjusted, strict=True):
        if auc < 0.7 or q >= alpha or r <= 0:
            continue
        group = rows[member]
        filt = equality_filter(data.metadata, name, value)
        inside, outside = float(np.nanmean(data.loss[group])), float(np.nanmean(data.loss[rows[~member]]))
        # the test compares ranks: quote medians (the means may point the other way when a few losses are huge)
        med_in, med_out = float(np.nanmedian(data.loss[group])), float(np.nanmedian(data.loss[rows[~member]]))
        means = f"; means {inside:.3g} vs {outside:.3g}" if (inside > outside) != (med_in > med_out) else ""
        explanation = (
            f"samples with {name} = {show_value(value)} ({len(group)}) form their own region of latent space "
            f"(classifier two-sample test AUC {auc:.2f}) and have worse {data.loss_name}: median {med_in:.3g} vs "
            f"{med_out:.3g}{means} (Mann-Whitney p={q:.2g} after FDR). The model treats this group as a different domain."
        )
        stats = {
            "column": name,
            "value": value,
            "auc": auc,
            "mean_loss_in": inside,
            "mean_loss_out": outside,
            "median_loss_in": med_in,
            "median_loss_out": med_out,
            "p_value": p,
            "p_adjusted": float(q),
            "rank_biserial": r,
        }
        test = suggested_test(data, group, filt, list(dict.fromkeys(data.subset[group].tolist())))
        out.append(
            new_insight(
                data,
                group,
                2 * (auc - 0.5) * r,
                type="domain_gap",
                subset="|".join(dict.fromkeys(data.subset[group].tolist())),
                statistics=stats,
                explanation=explanation,
                title=f"{name} = {show_value(value)} is a domain gap (AUC {auc:.2f})",
                suggested_test=test,
                extra={},
            )
        )
    return out


class OutOfDistribution(Detector):
    """:func:`out_of_distribution` with its defaults."""

    name = "out_of_distribution"

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return out_of_distribution(data)


class DomainGap(Detector):
    """:func:`domain_gap` on groups of at least twice the run's ``min_samples``."""

    name = "domain_gap"

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return domain_gap(data, min_samples=2 * options.min_samples, seed=options.seed)
