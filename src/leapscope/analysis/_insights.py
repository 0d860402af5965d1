"""Insight detectors: pure functions over arrays and one metadata table.

Notation: N samples (rows of a run), D latent dimensions, K classes. Every
detector takes an :class:`AnalysisInput`, never reports a group smaller than
``min_samples``, is deterministic for a seed, and returns :class:`Insight` records
whose ``severity`` formula is given in its docstring.

Statistics: one-sided Mann-Whitney U tests (scipy) with the rank-biserial
correlation as effect size (r = 2U / (n1 n2) - 1), and Benjamini-Hochberg
false-discovery control across the groups tested by one detector
(``scipy.stats.false_discovery_control``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leapscope.analysis._types import Insight

__all__ = [
    "AnalysisInput",
    "data_leakage",
    "domain_gap",
    "duplicates",
    "explain_group",
    "latent_clusters",
    "low_performance",
    "mislabeled",
    "out_of_distribution",
    "overfitting",
]

HELD_OUT = ("validation", "test")


@dataclass
class AnalysisInput:
    """What the detectors read.

    Attributes
    ----------
    subset, sample_id : ndarray of shape (N,), str
    latent : ndarray of shape (N, D), float32; NaN rows are failed samples
    loss : ndarray of shape (N,), float; NaN where unknown (lower is better)
    loss_name : str (a samples.parquet column)
    metric : ndarray of shape (N,) or None; higher is better
    metric_name : str or None
    labels : ndarray of shape (N,), int; the given class index, -1 if none
    pred_probs : ndarray of shape (N, K) or None
    class_names : list of str
    metadata : DataFrame with N rows
    input_hash : ndarray of shape (N,), str or None
    """

    subset: np.ndarray
    sample_id: np.ndarray
    latent: np.ndarray
    loss: np.ndarray
    loss_name: str
    metric: np.ndarray | None
    metric_name: str | None
    labels: np.ndarray
    pred_probs: np.ndarray | None
    class_names: list[str]
    metadata: pd.DataFrame
    input_hash: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.subset)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.latent).all(axis=1)


# --- statistics ---------------------------------------------------------------------


def _greater(inside: np.ndarray, outside: np.ndarray) -> tuple[float, float]:
    """One-sided Mann-Whitney p-value that ``inside`` > ``outside``, and the rank-biserial r."""
    from scipy.stats import mannwhitneyu

    inside, outside = inside[np.isfinite(inside)], outside[np.isfinite(outside)]
    if len(inside) == 0 or len(outside) == 0:
        return 1.0, 0.0
    u, p = mannwhitneyu(inside, outside, alternative="greater")
    return float(p), float(2 * u / (len(inside) * len(outside)) - 1)


def _fdr(pvalues: list[float]) -> np.ndarray:
    from scipy.stats import false_discovery_control

    return np.asarray(false_discovery_control(np.asarray(pvalues, dtype=float)) if pvalues else [], dtype=float)


def _size_factor(n: int) -> float:
    """0.5 at 10 samples, 1.0 from 100 samples: small groups matter less."""
    return float(min(1.0, math.log10(max(n, 1)) / 2))


def _reduce(latent: np.ndarray, dims: int = 16, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA

    x = latent / np.maximum(np.linalg.norm(latent, axis=1, keepdims=True), 1e-12)
    k = min(dims, x.shape[1], len(x))
    return np.asarray(PCA(n_components=k, random_state=seed).fit_transform(x), dtype=np.float32)


def latent_clusters(latent: np.ndarray, *, seed: int = 0, n_clusters: int | None = None) -> np.ndarray:
    """k-means cluster ids of L2-normalised, PCA-reduced latents (NaN rows get -1).

    ``n_clusters`` defaults to clip(sqrt(N / 10), 4, 30).
    """
    from sklearn.cluster import KMeans

    valid = np.isfinite(latent).all(axis=1)
    labels = np.full(len(latent), -1, np.int64)
    n = int(valid.sum())
    if n < 8:
        return labels
    k = n_clusters or int(np.clip(round(math.sqrt(n / 10)), 4, 30))
    z = _reduce(latent[valid], seed=seed)
    labels[valid] = KMeans(n_clusters=min(k, n), n_init=4, random_state=seed).fit_predict(z)
    return labels


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _categorical(column: pd.Series) -> bool:
    """Strings, booleans, categories, and integers with at most 12 distinct values."""
    types = pd.api.types
    if not types.is_numeric_dtype(column.dtype) or types.is_bool_dtype(column.dtype):
        return True
    return bool(types.is_integer_dtype(column.dtype) and column.nunique() <= 12)


def explain_group(metadata: pd.DataFrame, inside: np.ndarray, scope: np.ndarray) -> tuple[str, dict[str, Any], str | None]:
    """Which metadata values are over-represented in ``inside`` (within ``scope``).

    Categorical columns: the value with the highest lift P(value | group) /
    P(value | scope) among values covering >= 30 % of the group, with the mutual
    information between group membership and the column (scikit-learn).
    Numeric columns: standardised mean difference >= 0.5.

    Returns (sentence, statistics, leapscope filter (``column op literal``, see ``leapscope.store.parse_filter``) of the strongest predicate or None).
    """
    from sklearn.metrics import mutual_info_score

    parts: list[tuple[float, str, str | None]] = []
    stats: dict[str, Any] = {}
    member = inside[scope]
    for name in metadata.columns:
        column = metadata[name][scope]
        if column.isna().all():
            continue
        if _categorical(column):
            values = column.astype(str)
            mi = float(mutual_info_score(member, values))
            in_freq = values[member].value_counts(normalize=True)
            all_freq = values.value_counts(normalize=True)
            best = None
            for value, frac_in in in_freq.items():
                lift = frac_in / all_freq[value]
                if frac_in >= 0.3 and lift >= 1.5 and (best is None or lift > best[1]):
                    best = (value, lift, frac_in, all_freq[value])
            if best is not None:
                value, lift, frac_in, frac_all = best
                stats[name] = {"value": value, "lift": round(float(lift), 3), "share_in": round(float(frac_in), 3),
                               "share_all": round(float(frac_all), 3), "mutual_information": round(mi, 4)}
                literal = metadata[name].dropna().iloc[0]
                filt = f"{name} == {value!r}" if isinstance(literal, str) else f"{name} == {value}"
                parts.append((lift * (1 + mi), f"{name} = {value!r} ({frac_in:.0%} of the group vs {frac_all:.0%} overall, lift {lift:.1f})", filt))
        else:
            values = column.astype(float)
            a, b = values[member], values[~member]
            std = float(values.std()) or 1.0
            d = (float(a.mean()) - float(b.mean())) / std
            if abs(d) >= 0.5:
                stats[name] = {"mean_in": round(float(a.mean()), 4), "mean_out": round(float(b.mean()), 4), "std_diff": round(d, 3)}
                edge = float(np.nanquantile(a, 0.25 if d > 0 else 0.75))
                filt = f"{name} >= {edge:.4g}" if d > 0 else f"{name} <= {edge:.4g}"
                parts.append((abs(d), f"{'higher' if d > 0 else 'lower'} {name} ({a.mean():.3g} vs {b.mean():.3g})", filt))
    parts.sort(key=lambda p: -p[0])
    if not parts:
        return "no metadata value is over-represented", stats, None
    return "over-represented: " + "; ".join(p[1] for p in parts[:3]), stats, parts[0][2]


def _suggested_test(data: AnalysisInput, rows: np.ndarray, filt: str | None, subset: str) -> dict[str, Any] | None:
    """A filter + threshold that would catch a regression: today's value in the group, with a margin."""
    where = f"subset == {subset!r}" + (f" and {filt}" if filt else "")
    if data.metric is not None and data.metric_name:
        value = float(np.nanmean(data.metric[rows]))
        return {"filter": where, "metric": data.metric_name, "min": round(max(0.0, value - 0.05), 3), "current": round(value, 4)}
    value = float(np.nanmean(data.loss[rows]))
    return {"filter": where, "metric": data.loss_name, "max": round(value * 1.2 + 1e-3, 4), "current": round(value, 4)}


def _insight(data: AnalysisInput, kind: Any, rows: np.ndarray, severity: float, subset: str, stats: dict[str, Any],
             explanation: str, title: str, test: dict[str, Any] | None = None, **extra: Any) -> Insight:
    rows = np.asarray(rows, dtype=np.int64)
    return Insight(
        type=kind,
        severity=round(float(np.clip(severity, 0.0, 1.0)), 4),
        subset=subset,
        rows=rows.tolist(),
        sample_ids=[str(s) for s in data.sample_id[rows]],
        statistics=stats,
        explanation=explanation,
        title=title,
        suggested_test=test,
        extra=extra,
    )


# --- detectors ----------------------------------------------------------------------


def low_performance(data: AnalysisInput, *, clusters: np.ndarray, min_samples: int = 10, alpha: float = 0.05,
                    max_slices: int = 3) -> list[Insight]:
    """Latent clusters and metadata slices whose loss is significantly higher.

    For every labeled subset, each k-means cluster (and each SliceLine-style
    metadata slice: one or two predicates ``col == value`` / numeric quartile
    bounds; Sagadeeva & Boehm 2021) is tested against the rest of the subset with a
    one-sided Mann-Whitney U test on the loss; p-values are BH-adjusted per subset.
    Reported when adjusted p < ``alpha``, rank-biserial r >= 0.2, and the group's
    mean loss is at least 1.5x the rest's (ranks alone can favour a group whose
    typical loss is higher but whose mean is lower). Held-out subsets are analysed
    when the run has any (training losses say little about failures), else all.

    severity = r x size_factor(n), size_factor = min(1, log10(n) / 2).
    """
    out: list[Insight] = []
    loss = data.loss
    labeled = _labeled_subsets(data)
    held_out = [s for s in labeled if s != "training"]
    for subset in held_out or labeled:
        scope = (data.subset == subset) & np.isfinite(loss)
        if scope.sum() < 2 * min_samples:
            continue
        candidates: list[tuple[str, np.ndarray, str | None]] = []
        for c in np.unique(clusters[scope]):
            if c < 0:
                continue
            candidates.append((f"latent cluster {c}", scope & (clusters == c), None))
        candidates += _slices(data.metadata, scope, min_samples)
        tests = []
        for name, group, filt in candidates:
            n_in = int(group.sum())
            if n_in < min_samples or n_in > 0.5 * scope.sum():
                continue
            p, r = _greater(loss[group], loss[scope & ~group])
            if np.nanmean(loss[group]) < 1.5 * np.nanmean(loss[scope & ~group]):
                p = 1.0  # still counted in the FDR family, never reported
            tests.append((name, group, filt, p, r))
        if not tests:
            continue
        adjusted = _fdr([t[3] for t in tests])
        found = []
        for (name, group, filt, p, r), q in zip(tests, adjusted, strict=True):
            if q < alpha and r >= 0.2:
                found.append((name, group, filt, p, r, float(q)))
        found.sort(key=lambda t: -t[4] * _size_factor(int(t[1].sum())))
        kept: list[np.ndarray] = []
        n_slices = 0
        for name, group, filt, p, r, q in found:
            if any((group & k).sum() / group.sum() > 0.7 for k in kept):  # mostly inside a stronger finding
                continue
            is_slice = filt is not None
            if is_slice and n_slices >= max_slices:
                continue
            n_slices += is_slice
            kept.append(group)
            rows = np.flatnonzero(group)
            sentence, meta_stats, best_filter = explain_group(data.metadata, group, scope)
            inside, outside = float(np.nanmean(loss[group])), float(np.nanmean(loss[scope & ~group]))
            stats = {"group": name, "n": len(rows), "mean_loss_in": inside, "mean_loss_out": outside, "p_value": p,
                     "p_adjusted": q, "rank_biserial": r, "metadata": meta_stats}
            if data.metric is not None:
                stats["metric_in"] = float(np.nanmean(data.metric[group]))
                stats["metric_out"] = float(np.nanmean(data.metric[scope & ~group]))
            what = f"slice {filt}" if is_slice else name
            metric_text = f", {data.metric_name} {stats['metric_in']:.3f} vs {stats['metric_out']:.3f}" if data.metric is not None else ""
            explanation = (
                f"{len(rows)} {subset} samples in {what} have mean {data.loss_name} {inside:.3g} vs {outside:.3g} for the "
                f"rest of {subset}{metric_text} (Mann-Whitney p={q:.2g} after FDR, rank-biserial {r:.2f}); {sentence}."
            )
            out.append(_insight(data, "low_performance", rows, r * _size_factor(len(rows)), subset, stats, explanation,
                                f"{subset}: {what} fails ({data.loss_name} {inside:.3g} vs {outside:.3g})",
                                _suggested_test(data, rows, filt or best_filter, subset), group_kind="slice" if is_slice else "cluster"))
    return out


def _slices(metadata: pd.DataFrame, scope: np.ndarray, min_samples: int) -> list[tuple[str, np.ndarray, str | None]]:
    predicates: list[tuple[str, np.ndarray]] = []
    for name in metadata.columns:
        column = metadata[name]
        if column[scope].isna().all():
            continue
        if _categorical(column[scope]):
            for value in column[scope].dropna().unique():
                mask = (column == value).to_numpy() & scope
                if mask.sum() >= min_samples:
                    literal = f"{value!r}" if isinstance(value, str) else f"{value}"
                    predicates.append((f"{name} == {literal}", mask))
        else:
            values = column.astype(float).to_numpy()
            lo, hi = np.nanquantile(values[scope], [0.25, 0.75])
            predicates.append((f"{name} <= {lo:.4g}", (values <= lo) & scope))
            predicates.append((f"{name} >= {hi:.4g}", (values >= hi) & scope))
    out: list[tuple[str, np.ndarray, str | None]] = [(p, m, p) for p, m in predicates]
    for (p1, m1), (p2, m2) in itertools.combinations(predicates, 2):
        if p1.split()[0] == p2.split()[0]:
            continue
        mask = m1 & m2
        if mask.sum() >= min_samples:
            out.append((f"{p1} and {p2}", mask, f"{p1} and {p2}"))
    return out


def _labeled_subsets(data: AnalysisInput) -> list[str]:
    return [s for s in dict.fromkeys(data.subset.tolist()) if np.isfinite(data.loss[data.subset == s]).any()]


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
    from cleanlab.rank import get_label_quality_scores

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
        cl = find_label_issues(labels, probs, n_jobs=1) if len(present) == probs.shape[1] else _issues_subset(labels, probs)
        disagree = _knn_disagreement(data.latent[rows], labels, k)
        if disagree is not None:
            flagged = (cl & (disagree >= 0.5)) | ((disagree >= 1.0) & (probs.argmax(1) != labels))
        else:
            flagged = cl
        if flagged.sum() < min_samples:
            continue
        quality = get_label_quality_scores(labels, probs)
        order = np.argsort(quality[flagged])
        picked = rows[flagged][order]
        share = float(flagged.mean())
        note = (" These are training samples: the model has fit their labels, so flags here are weaker evidence; "
                "held-out subsets are where this insight is meaningful.") if subset == "training" else ""
        given = [data.class_names[i] if i < len(data.class_names) else str(i) for i in data.labels[picked[:3]]]
        predicted = [data.class_names[i] if i < len(data.class_names) else str(i) for i in data.pred_probs[picked[:3]].argmax(1)]
        examples = ", ".join(f"{s} (labeled {g}, looks like {p})" for s, g, p in zip(data.sample_id[picked[:3]], given, predicted, strict=True))
        explanation = (
            f"{len(picked)} of {len(rows)} {subset} samples ({share:.1%}) look mislabeled: cleanlab's confident learning "
            f"flags them{' and most of their ' + str(k) + ' latent neighbours carry another label' if disagree is not None else ''}. "
            f"Most likely first: {examples}.{note}"
        )
        stats = {"n": len(picked), "share": share, "cleanlab_flagged": int(cl.sum()),
                 "knn_k": k if disagree is not None else None, "label_quality": [float(q) for q in np.sort(quality[flagged])[:50]]}
        severity = min(1.0, 5 * share) * (0.5 if subset == "training" else 1.0)
        out.append(_insight(data, "mislabeled", picked, severity, subset, stats, explanation,
                            f"{subset}: {len(picked)} likely label errors", None))
    return out


def _issues_subset(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab needs every class present; restrict to the classes that are."""
    from cleanlab.filter import find_label_issues

    present = np.unique(labels)
    remap = {c: i for i, c in enumerate(present)}
    sub = probs[:, present]
    sub = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)
    return np.asarray(find_label_issues(np.array([remap[c] for c in labels]), sub, n_jobs=1))


def _knn_disagreement(latent: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray | None:
    from sklearn.neighbors import NearestNeighbors

    valid = np.isfinite(latent).all(axis=1)
    if latent.shape[1] == 0 or not valid.all() or len(latent) <= k:
        return None
    x = latent / np.maximum(np.linalg.norm(latent, axis=1, keepdims=True), 1e-12)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    neighbours = labels[idx[:, 1:]]
    return np.asarray((neighbours != labels[:, None]).mean(axis=1))


def _cosine_neighbours(query: np.ndarray, reference: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    q = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
    r = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    dist, idx = NearestNeighbors(n_neighbors=min(k, len(r))).fit(r).kneighbors(q)
    return (dist**2) / 2, idx  # squared chord / 2 = cosine distance


def _groups(pairs: list[tuple[int, int]], n: int) -> list[np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not pairs:
        return []
    a, b = np.array(pairs).T
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    members = [np.flatnonzero(comp == c) for c in np.unique(comp[np.unique(np.concatenate([a, b]))])]
    return [m for m in members if len(m) > 1]


def duplicates(data: AnalysisInput, *, threshold: float = 1e-4, min_groups: int = 1) -> list[Insight]:
    """Near-duplicate groups within a subset.

    Two samples are duplicates when their encoded inputs hash the same, or their
    latent cosine distance is below ``threshold``; groups are connected components.

    severity = min(1, 10 x share of the subset's samples that have a duplicate).
    """
    out = []
    for subset in dict.fromkeys(data.subset.tolist()):
        rows = np.flatnonzero((data.subset == subset) & data.valid)
        if len(rows) < 2:
            continue
        pairs = _duplicate_pairs(data, rows, rows, threshold, same=True)
        groups = _groups(pairs, len(rows))
        if len(groups) < min_groups:
            continue
        members = np.concatenate([rows[g] for g in groups])
        share = len(members) / len(rows)
        sizes = [len(g) for g in groups]
        example = ", ".join(str(s) for s in data.sample_id[rows[groups[0]]][:4])
        explanation = (f"{len(groups)} groups of near-identical {subset} samples ({len(members)} samples, {share:.1%}); "
                       f"e.g. {example}. Duplicates over-weight some samples in training and inflate held-out scores.")
        out.append(_insight(data, "duplicates", members, min(1.0, 10 * share), subset,
                            {"groups": len(groups), "samples": len(members), "largest": max(sizes), "threshold": threshold},
                            explanation, f"{subset}: {len(groups)} duplicate groups", None,
                            groups=[data.sample_id[rows[g]].tolist() for g in groups[:200]]))
    return out


def _duplicate_pairs(data: AnalysisInput, query: np.ndarray, reference: np.ndarray, threshold: float, same: bool) -> list[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    if data.input_hash is not None:
        positions: dict[str, list[int]] = {}
        for j, h in enumerate(data.input_hash[reference]):
            if h:
                positions.setdefault(h, []).append(j)
        for i, h in enumerate(data.input_hash[query]):
            for j in positions.get(h, []) if h else []:
                if not same or i != j:
                    pairs.add((min(i, j), max(i, j)) if same else (i, j))
    k = 6 if same else 1
    dist, idx = _cosine_neighbours(data.latent[query], data.latent[reference], k)
    for i in range(len(query)):
        for d, j in zip(dist[i], idx[i], strict=True):
            if d < threshold and (not same or i != j):
                pairs.add((min(i, int(j)), max(i, int(j))) if same else (i, int(j)))
    return sorted(pairs)


def _other_subsets(data: AnalysisInput) -> list[tuple[str, np.ndarray]]:
    """(subset, rows with a latent) for every subset but training, in run order."""
    out = []
    for subset in dict.fromkeys(data.subset.tolist()):
        rows = np.flatnonzero((data.subset == subset) & data.valid)
        if subset != "training" and len(rows):
            out.append((subset, rows))
    return out


def data_leakage(data: AnalysisInput, *, threshold: float = 1e-4, min_samples: int = 1) -> list[Insight]:
    """Held-out samples that (nearly) duplicate a training sample.

    Same input hash, or latent cosine distance to the nearest training sample below
    ``threshold``. severity = min(1, 20 x leaked share of the held-out subset).
    """
    train = np.flatnonzero((data.subset == "training") & data.valid)
    out: list[Insight] = []
    if len(train) == 0:
        return out
    for subset, rows in _other_subsets(data):
        pairs = _duplicate_pairs(data, rows, train, threshold, same=False)
        leaked = sorted({i for i, _ in pairs})
        if len(leaked) < min_samples:
            continue
        share = len(leaked) / len(rows)
        matches = {int(rows[i]): str(data.sample_id[train[j]]) for i, j in pairs}
        example = ", ".join(f"{data.sample_id[rows[i]]} ~ training {matches[int(rows[i])]}" for i in leaked[:3])
        explanation = (f"{len(leaked)} {subset} samples ({share:.1%}) also appear in training (same input or "
                       f"near-identical latent): {example}. Their scores overstate how the model generalises.")
        out.append(_insight(data, "data_leakage", rows[leaked], min(1.0, 20 * share), f"{subset}|training",
                            {"n": len(leaked), "share": share, "threshold": threshold}, explanation,
                            f"{subset}: {len(leaked)} samples leaked from training", None, matches=matches))
    return out


def out_of_distribution(data: AnalysisInput, *, k: int = 5, percentile: float = 99.0, min_samples: int = 5) -> list[Insight]:
    """Samples far from the training distribution in latent space.

    Score = mean cosine distance to the ``k`` nearest training samples; the
    threshold is the ``percentile`` of the same score of training samples (leaving
    each one out). Reported per non-training subset when more samples exceed it
    than the calibration rate predicts (and at least ``min_samples``).

    severity = min(1, excess share / 0.1) x (0.5 + 0.5 x [OOD loss significantly higher]).
    """
    train = np.flatnonzero((data.subset == "training") & data.valid)
    out: list[Insight] = []
    if len(train) <= k + 1:
        return out
    dist_train, _ = _cosine_neighbours(data.latent[train], data.latent[train], k + 1)
    threshold = float(np.percentile(dist_train[:, 1:].mean(axis=1), percentile))
    expected = 1 - percentile / 100
    for subset, rows in _other_subsets(data):
        dist, _ = _cosine_neighbours(data.latent[rows], data.latent[train], k)
        score = dist.mean(axis=1)
        far = score > threshold
        share = float(far.mean())
        if far.sum() < min_samples or share <= 2 * expected:
            continue
        p, r = _greater(data.loss[rows][far], data.loss[rows][~far])
        sentence, meta, filt = explain_group(data.metadata, np.isin(np.arange(data.n), rows[far]), np.isin(np.arange(data.n), rows))
        picked = rows[far][np.argsort(-score[far])]
        loss_in = float(np.nanmean(data.loss[rows][far])) if np.isfinite(data.loss[rows][far]).any() else None
        loss_out = float(np.nanmean(data.loss[rows][~far])) if np.isfinite(data.loss[rows][~far]).any() else None
        loss_text = f" Their mean {data.loss_name} is {loss_in:.3g} vs {loss_out:.3g}." if loss_in is not None and loss_out is not None else ""
        explanation = (f"{int(far.sum())} {subset} samples ({share:.1%}, vs {expected:.0%} expected) lie farther from the "
                       f"training data than {percentile:.0f}% of training samples do (mean cosine distance to {k} nearest "
                       f"training latents > {threshold:.3g}).{loss_text} {sentence[0].upper() + sentence[1:]}.")
        severity = min(1.0, (share - expected) / 0.1) * (0.5 + 0.5 * (p < 0.05))
        out.append(_insight(data, "out_of_distribution", picked, severity, subset,
                            {"n": int(far.sum()), "share": share, "threshold": threshold, "percentile": percentile,
                             "mean_loss_in": loss_in, "mean_loss_out": loss_out, "p_value": p, "rank_biserial": r, "metadata": meta},
                            explanation, f"{subset}: {int(far.sum())} out-of-distribution samples",
                            _suggested_test(data, picked, filt, subset) if filt else None,
                            scores={str(data.sample_id[i]): float(s) for i, s in zip(rows[far], score[far], strict=True)}))
    return out


def domain_gap(data: AnalysisInput, *, min_samples: int = 20, seed: int = 0, alpha: float = 0.05) -> list[Insight]:
    """Metadata-defined groups whose latents differ from the rest AND whose loss is worse.

    For each categorical metadata column (2-20 values) and each value with at
    least ``min_samples`` samples: a classifier two-sample test (Lopez-Paz & Oquab
    2017): logistic regression on PCA-reduced latents, 3-fold out-of-fold AUC for
    "in group vs rest", and a Mann-Whitney test of the loss. Columns that carry the
    label itself (normalised mutual information with the given label >= 0.5) are
    skipped: a class always differs in latent space. Reported when AUC >= 0.7 and the
    BH-adjusted loss p < ``alpha``.

    severity = 2 x (AUC - 0.5) x r (rank-biserial of the loss).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import normalized_mutual_info_score, roc_auc_score
    from sklearn.model_selection import cross_val_predict

    scope = data.valid & np.isfinite(data.loss)
    rows = np.flatnonzero(scope)
    if len(rows) < 2 * min_samples:
        return []
    z = _reduce(data.latent[rows], dims=10, seed=seed)
    tests = []
    for name in data.metadata.columns:
        column = data.metadata[name].iloc[rows]
        if not _categorical(column) or not (2 <= column.nunique() <= 20):
            continue
        values = column.astype(str).to_numpy()
        if (data.labels[rows] >= 0).all() and (
            normalized_mutual_info_score(data.labels[rows], values) >= 0.5
            or pd.DataFrame({"y": data.labels[rows], "v": values}).groupby("y")["v"].nunique().max() == 1
        ):
            continue
        for value in np.unique(values):
            member = values == value
            if member.sum() < min_samples or (~member).sum() < min_samples:
                continue
            proba = cross_val_predict(LogisticRegression(max_iter=500), z, member, cv=3, method="predict_proba")[:, 1]
            auc = float(roc_auc_score(member, proba))
            p, r = _greater(data.loss[rows][member], data.loss[rows][~member])
            tests.append((name, value, member, auc, p, r))
    if not tests:
        return []
    adjusted = _fdr([t[4] for t in tests])
    out = []
    for (name, value, member, auc, p, r), q in zip(tests, adjusted, strict=True):
        if auc < 0.7 or q >= alpha or r <= 0:
            continue
        group = rows[member]
        literal = data.metadata[name].dropna().iloc[0]
        filt = f"{name} == {value!r}" if isinstance(literal, str) else f"{name} == {value}"
        inside, outside = float(np.nanmean(data.loss[group])), float(np.nanmean(data.loss[rows[~member]]))
        explanation = (f"samples with {name} = {value!r} ({len(group)}) form their own region of latent space (classifier "
                       f"two-sample test AUC {auc:.2f}) and have worse {data.loss_name}: {inside:.3g} vs {outside:.3g} "
                       f"(p={q:.2g} after FDR). The model treats this group as a different domain.")
        subsets = "|".join(dict.fromkeys(data.subset[group].tolist()))
        out.append(_insight(data, "domain_gap", group, 2 * (auc - 0.5) * r, subsets,
                            {"column": name, "value": value, "auc": auc, "mean_loss_in": inside, "mean_loss_out": outside,
                             "p_value": p, "p_adjusted": float(q), "rank_biserial": r},
                            explanation, f"{name} = {value!r} is a domain gap (AUC {auc:.2f})",
                            {"filter": filt, "metric": data.loss_name, "max": round(inside * 1.2 + 1e-3, 4), "current": inside}))
    return out


def overfitting(data: AnalysisInput, *, clusters: np.ndarray, min_samples: int = 10, alpha: float = 0.05) -> list[Insight]:
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
        p, r = _greater(data.loss[h_rows], data.loss[t_rows])
        tests.append((c, t_rows, h_rows, p, r))
    if not tests:
        return []
    adjusted = _fdr([t[3] for t in tests])
    out = []
    for (c, t_rows, h_rows, p, r), q in zip(tests, adjusted, strict=True):
        lt, lh = float(np.nanmean(data.loss[t_rows])), float(np.nanmean(data.loss[h_rows]))
        if q >= alpha or r < 0.3 or lh < 2 * lt:
            continue
        rows = np.flatnonzero(h_rows)
        sentence, meta, _filt = explain_group(data.metadata, h_rows, held)
        explanation = (f"latent cluster {c}: training {data.loss_name} {lt:.3g} but held-out {lh:.3g} "
                       f"({int(h_rows.sum())} held-out vs {int(t_rows.sum())} training samples; p={q:.2g} after FDR, "
                       f"rank-biserial {r:.2f}). The model memorised this region; {sentence}.")
        out.append(_insight(data, "overfitting", rows, r * _size_factor(len(rows)), "|".join(HELD_OUT),
                            {"cluster": int(c), "train_loss": lt, "heldout_loss": lh, "n_train": int(t_rows.sum()),
                             "n_heldout": int(h_rows.sum()), "p_value": p, "p_adjusted": float(q), "rank_biserial": r, "metadata": meta},
                            explanation, f"cluster {c} overfits ({data.loss_name} {lt:.3g} train vs {lh:.3g} held-out)",
                            None))
    return out
