"""Label detector: samples whose given label looks wrong (``mislabeled``), told apart from model failures.

Two kinds of evidence, and one kind of doubt:

* **the model** (confident learning, Northcutt et al. 2021, ``cleanlab.filter.find_label_issues``
  with its defaults on the predicted probabilities): the model confidently predicts another class;
* **the neighbourhood** (a kNN label vote in latent space, cosine, ``k`` neighbours among every
  labeled sample of the run): most neighbours carry one other label. This also works on training
  samples whose flipped label the model memorised (its prediction agrees with the wrong label,
  but its latent vector still sits among samples of the true class);
* **doubt**: inside a detected failing slice (``low_performance``) or out-of-distribution region
  (``out_of_distribution``) the model is wrong because of the shift, not the label, and its latent
  neighbours in the rest of the run are of the classes it confuses. There only the vote among
  the region's own samples counts, and only when the label-noise rate measured outside the
  regions says label errors are expected there (so a clean run yields nothing).

Evidence is used only where it is informative: a subset whose labels the model predicts no better
than chance (one-sided binomial test against the commonest label's share, p < 0.001) is skipped,
and the neighbour vote is ignored when the neighbours' majority label does no better. Pure noise
yields nothing.

**A calibrated null for out-of-sample subsets** (every subset but ``training``): even with clean labels
a few samples pass both tests, the model's honest hard cases, and these are atypical inputs (far from
their latent neighbours), while labels flipped independently of the input are as typical as any sample.
The candidates outside failing regions are counted in the subset's denser half (mean distance to their
``k`` nearest labeled latents below the subset's median); the share ``p0`` of the denser half among the
model's other errors there (the ones the neighbours do not back: honest errors; Laplace-smoothed) is what
chance gives. The subset's label errors are reported only when at least ``MIN_TYPICAL`` (3) candidates
are typical and a one-sided binomial test (typical candidates among all candidates vs ``p0``) gives
p < ``ALPHA`` (0.01); otherwise none are (and none inside its failing regions). Statistics
``typical_candidates`` and ``null_pvalue``. Training samples are exempt: a memorised flip is pulled
towards its wrong class and is atypical by construction. Small subsets (a hundred samples) have little
power: there a few planted flips can go unreported.

Per sample (``extra["samples"]``): a score in [0, 1] and a reason:

* ``"model+neighbours"`` (cleanlab flags it and >= 80 % of the neighbours disagree):
  score = (1 - p(given label) + disagreement) / 2;
* ``"neighbours"`` (>= 80 % of the neighbours carry one other class, whatever the model says;
  memorised training flips): score = disagreement x 0.9;
* ``"neighbours-in-failing-region"`` (inside a failing slice / OOD region: at least ``REGION_VOTE``
  (90 %) of the ``REGION_K`` (12) nearest samples of the region carry another label; at most
  ``REGION_BUDGET`` (1.75) x the label errors expected there, i.e. the noise rate measured outside
  the regions x the region's size, rounded: when more qualify, those with the highest
  distance-weighted share of disagreeing neighbours, and none when more than ``REGION_REJECT`` (3) x
  the expected errors pass the vote): score = 0.5 x disagreement. A shifted
  region's latent is often poorly class-structured, so many correctly labeled samples pass the vote
  there; the budget bounds those false alarms by the noise rate the run shows elsewhere (the slack
  1.75 allows for the outside rate being measured by a detector that misses some errors);
* without a latent space ``"model"`` (cleanlab alone): score = 1 - p(given label).

The insight's ``confidence`` is the mean score of its samples (see
:mod:`leapscope.analysis.insights.severity`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.analysis.insights.base import AnalysisInput, DetectOptions, Detector, new_insight
from leapscope.analysis.insights.record import Insight
from leapscope.analysis.neighbours import l2_normalise

__all__ = ["Mislabeled", "failing_regions", "label_scores", "mislabeled"]

#: share of neighbours that must disagree with the given label
VOTE = 0.8
#: neighbours in the within-region vote, and the share of them that must disagree
REGION_K = 12
REGION_VOTE = 0.9
#: label-error candidates of an out-of-sample subset that must lie in its denser half (see the module docstring)
MIN_TYPICAL = 3
ALPHA = 0.01
#: in a failing region, at most this many times the expected label errors (noise rate outside x region size)
REGION_BUDGET = 1.75
#: in a failing region, no vote is trusted when more than this many times the expected errors pass it
REGION_REJECT = 3.0


def _far_from_training(data: AnalysisInput, k: int = 5, percentile: float = 95.0) -> np.ndarray:
    """(N,) bool: mean cosine distance to the ``k`` nearest training latents above the ``percentile`` of
    the same (leave-one-out) distance of training samples."""
    from leapscope.analysis.neighbours import cosine_neighbours

    far = np.zeros(data.n, bool)
    train = np.flatnonzero((data.subset == "training") & data.valid)
    others = np.flatnonzero((data.subset != "training") & data.valid)
    if len(train) <= k + 1 or len(others) == 0:
        return far
    dist_train, _ = cosine_neighbours(data.latent[train], data.latent[train], k + 1)
    threshold = float(np.percentile(dist_train[:, 1:].mean(axis=1), percentile))
    dist, _ = cosine_neighbours(data.latent[others], data.latent[train], k)
    far[others] = dist.mean(axis=1) > threshold
    return far


def failing_regions(data: AnalysisInput, clusters: np.ndarray | None, *, seed: int = 0) -> np.ndarray:
    """(N,) bool: samples where the model, not the label, is suspect.

    Members of a failing metadata slice (``low_performance``), members of a failing latent cluster
    that lie far from the training data (beyond the 95th percentile of training samples' distance to
    their 5 nearest training latents: a cluster also holds ordinary samples, among them label errors,
    whose loss is high because of the label), and ``out_of_distribution`` samples. ``clusters`` are
    latent k-means ids (computed here when None and the run has a latent).
    """
    from leapscope.analysis.clustering import latent_clusters
    from leapscope.analysis.insights.distribution import out_of_distribution
    from leapscope.analysis.insights.performance import low_performance

    suspect = np.zeros(data.n, bool)
    if clusters is None:
        clusters = latent_clusters(data.latent, seed=seed) if data.has_latent else np.full(data.n, -1)
    far = _far_from_training(data) if data.has_latent else np.zeros(data.n, bool)
    for insight in low_performance(data, clusters=clusters):
        rows = np.asarray(insight.rows, np.int64)
        suspect[rows if insight.extra.get("group_kind") == "slice" else rows[far[rows]]] = True
    if data.has_latent:
        for insight in out_of_distribution(data):
            suspect[insight.rows] = True
    return suspect


def _cleanlab(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab ``find_label_issues`` (defaults); restricted to the classes present when some are missing."""
    from cleanlab.filter import find_label_issues

    present = np.unique(labels)
    if len(present) == probs.shape[1]:
        return np.asarray(find_label_issues(labels, probs, n_jobs=1))
    remap = np.full(probs.shape[1], -1)
    remap[present] = np.arange(len(present))
    sub = probs[:, present]
    sub = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)
    return np.asarray(find_label_issues(remap[labels], sub, n_jobs=1))


def _votes(
    x: np.ndarray, labels: np.ndarray, query: np.ndarray, reference: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each ``query`` row: (share of its ``k`` nearest ``reference`` rows (itself excluded) whose label differs,
    the most common neighbour label, that label's share)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(reference) - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x[reference]).kneighbors(x[query])
    neighbours = reference[idx]
    own = neighbours == query[:, None]
    # drop the sample itself (or the farthest neighbour when it is not among them)
    keep = ~own
    keep[~own.any(axis=1), -1] = False
    nb_labels = labels[neighbours][keep].reshape(len(query), k)
    disagree = (nb_labels != labels[query][:, None]).mean(axis=1)
    n_classes = int(labels.max()) + 1
    counts = np.stack([(nb_labels == c).sum(axis=1) for c in range(n_classes)], axis=1)
    return disagree, counts.argmax(axis=1), counts.max(axis=1) / k


def _region_candidates(
    x: np.ndarray, labels: np.ndarray, region: np.ndarray, budget: int, expected: float | None = None
) -> np.ndarray:
    """Positions (into ``region``) of the region's label-error candidates: at least ``REGION_VOTE`` of the
    ``REGION_K`` nearest region samples carry another label; when more than ``budget`` qualify, the
    ``budget`` whose distance-weighted (1 / cosine distance) share of disagreeing neighbours is highest,
    and none at all when more than ``REGION_REJECT`` x ``expected`` (the label errors expected in the
    region; default ``budget``) qualify. A shifted region's latent is often poorly class-structured: then
    many correctly labeled samples pass the vote, and reporting more than the expected number of errors
    would be mostly false alarms."""
    from sklearn.neighbors import NearestNeighbors

    d, _, _ = _votes(x, labels, region, region, REGION_K)
    top = np.flatnonzero(d >= REGION_VOTE)
    if len(top) <= budget:
        return top
    expected = budget if expected is None else expected
    if len(top) > REGION_REJECT * expected:
        return np.zeros(0, np.int64)  # the vote mostly measures the region's latent confusion: trust none of it
    k = min(REGION_K, len(region) - 1)
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(x[region]).kneighbors(x[region[top]])
    own = idx == top[:, None]
    keep = ~own
    keep[~own.any(axis=1), -1] = False
    dist, idx = dist[keep].reshape(len(top), k), idx[keep].reshape(len(top), k)
    weight = 1.0 / (dist + 1e-6)
    weighted = (weight * (labels[region][idx] != labels[region][top][:, None])).sum(axis=1) / weight.sum(axis=1)
    return np.sort(top[np.argsort(-weighted, kind="stable")[:budget]])


def _typical(x: np.ndarray, query: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """(len(query),) bool: the ``query`` rows whose mean distance to their ``k`` nearest ``reference`` rows
    (themselves excluded) is below the median of ``query``'s: the denser half of the subset."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(reference) - 1)
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(x[reference]).kneighbors(x[query])
    own = reference[idx] == query[:, None]
    keep = ~own
    keep[~own.any(axis=1), -1] = False
    mean = dist[keep].reshape(len(query), k).mean(axis=1)
    return np.asarray(mean < np.median(mean))


def _informative(predicted: np.ndarray, labels: np.ndarray, alpha: float = 1e-3) -> bool:
    """Whether ``predicted`` matches ``labels`` more often than always guessing the commonest label would
    (one-sided binomial test at ``alpha``)."""
    from scipy.stats import binomtest

    prior = float(np.bincount(labels).max() / len(labels))
    hits = int((predicted == labels).sum())
    return prior < 1.0 and float(binomtest(hits, len(labels), prior, alternative="greater").pvalue) < alpha


def label_scores(
    data: AnalysisInput, *, k: int = 10, suspect: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per-sample label-error score and reason (see the module docstring).

    Parameters
    ----------
    data : AnalysisInput with ``pred_probs`` (N, K)
    k : neighbours of the kNN label vote
    suspect : (N,) bool or None; samples in failing regions (see :func:`failing_regions`)

    Returns
    -------
    (score (N,) float in [0, 1], 0 where not flagged; reason (N,) object, "" where not flagged; stats)
    """
    from scipy.stats import binomtest

    n = data.n
    score, reason = np.zeros(n), np.full(n, "", dtype=object)
    stats: dict[str, Any] = {"knn_k": None, "cleanlab_flagged": 0, "suspect": 0, "noise_rate": {}, "typicality": {}}
    if data.pred_probs is None:
        return score, reason, stats
    suspect = np.zeros(n, bool) if suspect is None else suspect
    probs_ok = np.isfinite(data.pred_probs).all(axis=1)
    labeled = (data.labels >= 0) & probs_ok
    use_latent = data.has_latent and int((labeled & data.valid).sum()) > k + 1
    x = l2_normalise(np.nan_to_num(data.latent)) if use_latent else None
    reference = np.flatnonzero(labeled & data.valid) if use_latent else np.zeros(0, np.int64)
    stats["knn_k"] = k if use_latent else None
    stats["suspect"] = int((suspect & labeled).sum())
    for subset in dict.fromkeys(data.subset.tolist()):
        rows = np.flatnonzero((data.subset == subset) & labeled)
        if len(rows) < 20 or len(np.unique(data.labels[rows])) < 2:
            continue
        labels = data.labels[rows]
        probs = data.pred_probs[rows] / data.pred_probs[rows].sum(axis=1, keepdims=True)
        given_p = probs[np.arange(len(rows)), labels]
        if not _informative(probs.argmax(axis=1), labels):
            stats["uninformative"] = [*stats.get("uninformative", []), subset]
            continue  # the model predicts these labels no better than chance: nothing to judge them by
        cl = _cleanlab(labels, probs)
        stats["cleanlab_flagged"] += int(cl.sum())
        if x is None:
            score[rows[cl]], reason[rows[cl]] = 1 - given_p[cl], "model"
            continue
        inside = suspect[rows] & data.valid[rows]
        outside = ~suspect[rows] & data.valid[rows]
        disagree = np.zeros(len(rows))
        majority_share = np.zeros(len(rows))
        if outside.any():
            d, majority, share = _votes(x, data.labels, rows[outside], reference, k)
            if _informative(majority, labels[outside]):  # else the latent carries no label information
                disagree[outside], majority_share[outside] = d, share
        both = outside & cl & (disagree >= VOTE)
        votes_only = outside & ~both & (disagree >= VOTE) & (majority_share >= VOTE)
        if subset != "training" and (both | votes_only).any():
            typical = _typical(x, rows[outside], reference, k)
            cand = (both | votes_only)[outside]
            honest = (probs.argmax(axis=1) != labels)[outside] & ~cand  # model errors the neighbours do not back
            n_typical = int((cand & typical).sum())
            p0 = (int((honest & typical).sum()) + 1) / (int(honest.sum()) + 2)  # Laplace; none honest: no null
            pvalue = (
                float(binomtest(n_typical, int(cand.sum()), p0, alternative="greater").pvalue) if honest.any() else 0.0
            )
            stats["typicality"][subset] = {"typical": n_typical, "p0": round(p0, 4), "pvalue": pvalue}
            if n_typical < MIN_TYPICAL or pvalue >= ALPHA:
                # only atypical inputs disagree: the model's honest hard cases, not label errors
                stats.setdefault("not_significant", []).append(subset)
                both[:], votes_only[:] = False, False
        score[rows[both]] = (1 - given_p[both] + disagree[both]) / 2
        reason[rows[both]] = "model+neighbours"
        score[rows[votes_only]] = 0.9 * disagree[votes_only]
        reason[rows[votes_only]] = "neighbours"
        rate = float((both | votes_only)[outside].mean()) if outside.any() else 0.0
        stats["noise_rate"][subset] = round(rate, 4)
        region = rows[inside]
        budget = round(REGION_BUDGET * rate * len(region))
        if budget and len(region) > REGION_K + 1:
            top = _region_candidates(x, data.labels, region, budget, rate * len(region))
            if len(top):
                d, _, _ = _votes(x, data.labels, region[top], region, REGION_K)
                score[region[top]] = 0.5 * d
                reason[region[top]] = "neighbours-in-failing-region"
    return score, reason, stats


def mislabeled(
    data: AnalysisInput,
    *,
    k: int = 10,
    min_samples: int = 3,
    seed: int = 0,
    clusters: np.ndarray | None = None,
    suspect: np.ndarray | None = None,
) -> list[Insight]:
    """Samples whose given label looks wrong, per subset: see the module docstring.

    ``suspect`` ((N,) bool) marks failing regions; by default :func:`failing_regions` finds them
    (from ``clusters`` when given). One insight per subset with at least ``min_samples`` flagged
    samples, most likely first; ``extra["samples"]`` maps each flagged sample id to
    ``{"score", "reason", "given", "predicted"}``.

    severity: see :mod:`leapscope.analysis.insights.severity` (``mislabeled``).
    """
    if data.pred_probs is None:
        return []
    if suspect is None:
        suspect = failing_regions(data, clusters, seed=seed)
    score, reason, stats = label_scores(data, k=k, suspect=suspect)
    out = []
    for subset in dict.fromkeys(data.subset.tolist()):
        scope = np.flatnonzero((data.subset == subset) & (data.labels >= 0))
        flagged = scope[score[scope] > 0]
        if len(flagged) < min_samples:
            continue
        out.append(
            _insight(data, subset, scope, flagged[np.argsort(-score[flagged], kind="stable")], score, reason, stats)
        )
    return out


def _name(data: AnalysisInput, i: int) -> str:
    return data.class_names[i] if 0 <= i < len(data.class_names) else str(i)


def _insight(
    data: AnalysisInput,
    subset: str,
    scope: np.ndarray,
    picked: np.ndarray,
    score: np.ndarray,
    reason: np.ndarray,
    stats: dict[str, Any],
) -> Insight:
    assert data.pred_probs is not None  # noqa: S101 - mislabeled() returns early without probabilities
    share = len(picked) / len(scope)
    reasons = {r: int((reason[picked] == r).sum()) for r in dict.fromkeys(reason[picked].tolist())}
    predicted = np.nan_to_num(data.pred_probs[picked]).argmax(axis=1)
    samples = {
        str(data.sample_id[r]): {
            "score": round(float(score[r]), 4),
            "reason": str(reason[r]),
            "given": _name(data, int(data.labels[r])),
            "predicted": _name(data, int(p)),
        }
        for r, p in zip(picked, predicted, strict=True)
    }
    examples = ", ".join(
        f"{data.sample_id[r]} (labeled {_name(data, int(data.labels[r]))}, model says {_name(data, int(p))}, "
        f"{reason[r]})"
        for r, p in zip(picked[:3], predicted[:3], strict=True)
    )
    how = "; ".join(f"{n} by {r.replace('+', ' and ')}" for r, n in reasons.items())
    note = (
        " These are training samples: where the model agrees with the label it has memorised it; the latent "
        "neighbours still disagree."
        if subset == "training"
        else ""
    )
    region = (
        f" {stats['suspect']} samples lie in a failing slice or out-of-distribution region: there the model, not the "
        "label, is suspect, so only their neighbours within the region are consulted."
        if stats["suspect"]
        else ""
    )
    explanation = (
        f"{len(picked)} of {len(scope)} {subset} samples ({share:.1%}) look mislabeled ({how}). "
        f"Most likely first: {examples}.{note}{region}"
    )
    statistics = {
        "n": len(picked),
        "n_subset": len(scope),
        "share": share,
        "reasons": reasons,
        "mean_score": float(score[picked].mean()),
        "cleanlab_flagged": stats["cleanlab_flagged"],
        "knn_k": stats["knn_k"],
        "in_failing_regions": stats["suspect"],
        "noise_rate_outside_regions": stats["noise_rate"].get(subset),
        "typical_candidates": stats["typicality"].get(subset, {}).get("typical"),
        "null_pvalue": stats["typicality"].get(subset, {}).get("pvalue"),
        "scores": [round(float(s), 4) for s in score[picked][:50]],
    }
    return new_insight(
        data,
        picked,
        0.0,  # rated by leapscope.analysis.insights.severity
        type="mislabeled",
        subset=subset,
        statistics=statistics,
        explanation=explanation,
        title=f"{subset}: {len(picked)} likely label errors",
        suggested_test=None,
        extra={"samples": samples},
    )


class Mislabeled(Detector):
    """:func:`mislabeled` with the run's latent clusters; runs with predicted probabilities."""

    name = "mislabeled"
    needs_latent = False
    needs_classes = True  # skipped, with that reason, on dense / regression runs

    def applies(self, data: AnalysisInput) -> bool:
        """Predicted class probabilities are needed."""
        return data.pred_probs is not None

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the module docstring."""
        return mislabeled(data, seed=options.seed, clusters=options.clusters)
