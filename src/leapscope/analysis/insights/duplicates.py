"""Duplicate detectors: near-identical samples within a subset (``duplicates``) and across
training and held-out subsets (``data_leakage``)."""

from __future__ import annotations

import numpy as np

from leapscope.analysis.insights.base import AnalysisInput, DetectOptions, Detector, new_insight, other_subsets
from leapscope.analysis.insights.record import Insight
from leapscope.analysis.neighbours import cosine_neighbours

__all__ = ["DataLeakage", "Duplicates", "data_leakage", "duplicates"]


def _groups(pairs: list[tuple[int, int]], n: int) -> list[np.ndarray]:
    """Connected components (of 2+ members) of the graph whose edges are ``pairs`` over ``n`` nodes."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not pairs:
        return []
    a, b = np.array(pairs).T
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    members = [np.flatnonzero(comp == c) for c in np.unique(comp[np.unique(np.concatenate([a, b]))])]
    return [m for m in members if len(m) > 1]


def _duplicate_pairs(data: AnalysisInput, query: np.ndarray, reference: np.ndarray, threshold: float, same: bool) -> list[tuple[int, int]]:
    """(position in ``query``, position in ``reference``) pairs with the same input hash or a latent
    cosine distance below ``threshold``; with ``same`` (query is reference) each unordered pair once."""
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
    dist, idx = cosine_neighbours(data.latent[query], data.latent[reference], k)
    for i in range(len(query)):
        for d, j in zip(dist[i], idx[i], strict=True):
            if d < threshold and (not same or i != j):
                pairs.add((min(i, int(j)), max(i, int(j))) if same else (i, int(j)))
    return sorted(pairs)


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
        stats = {"groups": len(groups), "samples": len(members), "largest": max(sizes), "threshold": threshold}
        out.append(new_insight(data, members, min(1.0, 10 * share), type="duplicates", subset=subset, statistics=stats,
                               explanation=explanation, title=f"{subset}: {len(groups)} duplicate groups",
                               suggested_test=None, extra={"groups": [data.sample_id[rows[g]].tolist() for g in groups[:200]]}))
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
    for subset, rows in other_subsets(data):
        pairs = _duplicate_pairs(data, rows, train, threshold, same=False)
        leaked = sorted({i for i, _ in pairs})
        if len(leaked) < min_samples:
            continue
        share = len(leaked) / len(rows)
        matches = {int(rows[i]): str(data.sample_id[train[j]]) for i, j in pairs}
        example = ", ".join(f"{data.sample_id[rows[i]]} ~ training {matches[int(rows[i])]}" for i in leaked[:3])
        explanation = (f"{len(leaked)} {subset} samples ({share:.1%}) also appear in training (same input or "
                       f"near-identical latent): {example}. Their scores overstate how the model generalises.")
        out.append(new_insight(data, rows[leaked], min(1.0, 20 * share), type="data_leakage", subset=f"{subset}|training",
                               statistics={"n": len(leaked), "share": share, "threshold": threshold},
                               explanation=explanation, title=f"{subset}: {len(leaked)} samples leaked from training",
                               suggested_test=None, extra={"matches": matches}))
    return out


class Duplicates(Detector):
    """:func:`duplicates` with its defaults."""

    name = "duplicates"

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return duplicates(data)


class DataLeakage(Detector):
    """:func:`data_leakage` with its defaults."""

    name = "data_leakage"

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return data_leakage(data)
