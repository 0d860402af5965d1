"""Label detector: samples whose given label looks wrong (``mislabeled``)."""

from __future__ import annotations

import numpy as np

from leapscope.analysis.insights.base import AnalysisInput, DetectOptions, Detector, new_insight
from leapscope.analysis.insights.record import Insight
from leapscope.analysis.neighbours import knn_label_disagreement

__all__ = ["Mislabeled", "mislabeled"]


def mislabeled(data: AnalysisInput, *, k: int = 10, min_samples: int = 3, seed: int = 0) -> list[Insight]:
    """Samples whose given label disagrees with the model and with their latent neighbours.

    1. Confident learning (Northcutt et al. 2021) via ``cleanlab.filter.find_label_issues``
       on the predicted probabilities (its defaults).
    2. kNN label disagreement: among the ``k`` nearest neighbours in latent space
       (cosine), the share whose label differs from the sample's given label.
    A sample is flagged when cleanlab flags it and (with latents) at least half of
    its neighbours disagree, or when every neighbour disagrees and the model
    predicts another class. Ranked by cleanlab's self-confidence label quality.

    severity = min(1, 5 x flagged share of the subset); on ``training`` it is
    halved and the explanation says the model has fit these labels.
    """
    if data.pred_probs is None:
        return []
    from cleanlab.filter import find_label_issues

    out = []
    for subset in dict.fromkeys(data.subset.tolist()):
        scope = (data.subset == subset) & (data.labels >= 0) & np.isfinite(data.pred_probs).all(axis=1)
        rows = np.flatnonzero(scope)
        if len(rows) < 20:
            continue
        labels, probs = data.labels[rows], data.pred_probs[rows]
        probs = probs / probs.sum(axis=1, keepdims=True)
        present = np.unique(labels)
        if len(present) < 2:
            continue
        cl = (
            find_label_issues(labels, probs, n_jobs=1)
            if len(present) == probs.shape[1]
            else _issues_subset(labels, probs)
        )
        disagree = knn_label_disagreement(data.latent[rows], labels, k)
        if disagree is not None:
            flagged = (cl & (disagree >= 0.5)) | ((disagree >= 1.0) & (probs.argmax(1) != labels))
        else:
            flagged = cl
        if flagged.sum() < min_samples:
            continue
        out.append(_mislabeled_insight(data, subset, rows, probs, cl, flagged, k if disagree is not None else None))
    return out


def _mislabeled_insight(
    data: AnalysisInput,
    subset: str,
    rows: np.ndarray,
    probs: np.ndarray,
    cl: np.ndarray,
    flagged: np.ndarray,
    knn_k: int | None,
) -> Insight:
    from cleanlab.rank import get_label_quality_scores

    assert data.pred_probs is not None  # noqa: S101 - mislabeled() returns early without probabilities
    quality = get_label_quality_scores(data.labels[rows], probs)
    order = np.argsort(quality[flagged])
    picked = rows[flagged][order]
    share = float(flagged.mean())
    note = (
        (
            " These are training samples: the model has fit their labels, so flags here are weaker evidence; "
            "held-out subsets are where this insight is meaningful."
        )
        if subset == "training"
        else ""
    )
    given = [data.class_names[i] if i < len(data.class_names) else str(i) for i in data.labels[picked[:3]]]
    predicted = [
        data.class_names[i] if i < len(data.class_names) else str(i) for i in data.pred_probs[picked[:3]].argmax(1)
    ]
    examples = ", ".join(
        f"{s} (labeled {g}, looks like {p})"
        for s, g, p in zip(data.sample_id[picked[:3]], given, predicted, strict=True)
    )
    explanation = (
        f"{len(picked)} of {len(rows)} {subset} samples ({share:.1%}) look mislabeled: cleanlab's confident learning "
        f"flags them{' and most of their ' + str(knn_k) + ' latent neighbours carry another label' if knn_k is not None else ''}. "
        f"Most likely first: {examples}.{note}"
    )
    stats = {
        "n": len(picked),
        "share": share,
        "cleanlab_flagged": int(cl.sum()),
        "knn_k": knn_k,
        "label_quality": [float(q) for q in np.sort(quality[flagged])[:50]],
    }
    severity = min(1.0, 5 * share) * (0.5 if subset == "training" else 1.0)
    return new_insight(
        data,
        picked,
        severity,
        type="mislabeled",
        subset=subset,
        statistics=stats,
        explanation=explanation,
        title=f"{subset}: {len(picked)} likely label errors",
        suggested_test=None,
        extra={},
    )


def _issues_subset(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab needs every class present; restrict to the classes that are."""
    from cleanlab.filter import find_label_issues

    present = np.unique(labels)
    remap = {c: i for i, c in enumerate(present)}
    sub = probs[:, present]
    sub = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)
    return np.asarray(find_label_issues(np.array([remap[c] for c in labels]), sub, n_jobs=1))


class Mislabeled(Detector):
    """:func:`mislabeled`; runs with predicted probabilities or a latent space."""

    name = "mislabeled"

    def applies(self, data: AnalysisInput) -> bool:
        """Predicted probabilities or a latent space are needed."""
        return data.has_latent or data.pred_probs is not None

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return mislabeled(data, seed=options.seed)
