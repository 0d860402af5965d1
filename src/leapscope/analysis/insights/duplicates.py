"""Duplicate detectors: identical or near-identical samples within a subset (``duplicates``) and
held-out samples that repeat a training sample (``data_leakage``).

Two kinds of evidence, never mixed in one insight:

* **exact**: equal ``input_hash`` (the engine's hash of the encoded inputs). Always trusted.
* **near**: a Euclidean distance in the run's latent space that is an *outlier of closeness*,
  calibrated on this run (:func:`calibrate`). With N the valid samples, one representative per
  distinct input hash, and ``nn`` each representative's distance to its nearest other
  representative:

  - ``median = median(nn)``; the *bulk* is ``nn >= BULK_FLOOR x median`` (so planted copies,
    however many, below half the samples cannot drag the scale down);
  - ``threshold = NEAR_FRACTION x (1st percentile of the bulk)`` (0.1 x P1);
  - the latent is **collapsed** (no near-duplicate is claimed at all, only exact ones) when the
    median is 0 or more than ``COLLAPSE_SHARE`` (1%) of the representatives have
    ``nn <= COLLAPSE_REL x median`` (1e-6): many distinct inputs share one vector, so a small
    latent distance says nothing about the inputs. All-zero vectors ("dead" activations) are
    never near-duplicates either;
  - the latent is **saturated** (likewise no near claim) when more than ``COLLAPSE_SHARE`` (1%) of the
    representatives have ``threshold <= nn < BULK_FLOOR x median``: no gap separates close pairs from
    the bulk, closeness is a continuous lower tail (e.g. softmax probabilities, where every confident
    sample crowds its class's corner), not a few outliers. Planted copies sit far below the threshold
    and leave that gap empty.

Severity = impact x confidence (:mod:`leapscope.analysis.insights.severity`; ``share`` = share of
the subset's samples involved): impact ``duplicates`` ``min(1, 10 x share)``, ``data_leakage``
``min(1, 20 x share)``, x ``NEAR_SEVERITY`` (0.5) for near claims; confidence 1 for exact claims,
``1 - p`` for near ones, where ``p = (#{bulk nn <= d} + 1) / (#bulk + 1)`` is the empirical chance
that a sample of this run lies as close to its nearest neighbour as the claim's median pair
distance ``d`` (``statistics["p_value"]``). A near claim never outranks an exact claim of the same
size. Every insight's ``statistics["pairs"]`` lists pairs (first ``MAX_PAIRS``) with both
samples (row, subset, sample_id), the distance, the space (``"input_hash"`` or the latent name)
and the threshold; ``statistics["calibration"]`` holds the run's calibration.

Pairs the project's users dismissed as "not a duplicate" (``AnalysisInput.dismissed``, stored in
the catalog by :mod:`leapscope.runs.dismissals`) are never reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from leapscope.analysis.insights.base import AnalysisInput, DetectOptions, Detector, new_insight, other_subsets
from leapscope.analysis.insights.record import Insight

__all__ = ["Calibration", "DataLeakage", "Duplicates", "calibrate", "data_leakage", "duplicates"]

NEAR_FRACTION = 0.1
BULK_FLOOR = 0.1
COLLAPSE_REL = 1e-6
COLLAPSE_SHARE = 0.01
NEAR_SEVERITY = 0.5
MAX_PAIRS = 100
EXACT_SPACE = "input_hash"


@dataclass
class Calibration:
    """How near-duplicates were judged on one run (see the module docstring).

    Attributes
    ----------
    space : str; the latent space name (``"latent"`` when unknown)
    metric : str; ``"euclidean"``
    checked : bool; whether near-duplicates were looked for at all
    threshold : float or None; a latent distance below it is a near-duplicate
    median_nn, p1_nn : float or None; median and bulk 1st percentile of nearest-neighbour distances
    collapsed : bool; the latent maps many distinct inputs to one vector (near-duplicates off)
    collapsed_share : float; share of representatives with ~0 distance to their nearest neighbour
    dead_vectors : int; all-zero latent vectors (never near-duplicates)
    note : str; why near-duplicates were or were not checked
    """

    space: str
    metric: str = "euclidean"
    checked: bool = False
    threshold: float | None = None
    median_nn: float | None = None
    p1_nn: float | None = None
    collapsed: bool = False
    collapsed_share: float = 0.0
    dead_vectors: int = 0
    note: str = ""


@dataclass
class _Graph:
    """Rows grouped by input key, and near edges between keys (by representative row)."""

    key: np.ndarray  # (N,) int key id per row, -1 for invalid rows
    rep: np.ndarray  # (K,) representative row per key
    near: dict[int, dict[int, float]]  # key -> {other key: latent distance}
    calibration: Calibration
    bulk: np.ndarray  # sorted bulk nearest-neighbour distances (for the near claims' p-values)

    def p_value(self, distance: float) -> float:
        """Empirical P(a bulk nearest-neighbour distance <= ``distance``), +1 smoothed."""
        return float((np.searchsorted(self.bulk, distance, side="right") + 1) / (len(self.bulk) + 1))


def _keys(data: AnalysisInput, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) key ids (equal input hash = equal key; rows without a hash get their own; -1 invalid) and the
    (K,) first row of each key."""
    key = np.full(data.n, -1, np.int64)
    ids: dict[str, int] = {}
    reps: list[int] = []
    hashes = data.input_hash
    for row in np.flatnonzero(valid):
        h = hashes[row] if hashes is not None else None
        name = f"h:{h}" if h else f"r:{row}"
        if name not in ids:
            ids[name] = len(reps)
            reps.append(int(row))
        key[row] = ids[name]
    return key, np.asarray(reps, np.int64)


def calibrate(latent: np.ndarray, space: str = "latent") -> tuple[Calibration, np.ndarray, np.ndarray]:
    """Calibrate the near-duplicate threshold on ``latent`` (K, D) float, one row per distinct input.

    Returns (calibration, dead (K,) bool all-zero rows, nn (K,) float nearest-neighbour distances, NaN
    when not computed). Near-duplicates are off (``checked`` False) with D == 0, K < 3, a zero median
    or a collapsed latent (see the module docstring).
    """
    from sklearn.neighbors import NearestNeighbors

    cal = Calibration(space=space)
    k = len(latent)
    nn = np.full(k, np.nan)
    if latent.ndim != 2 or latent.shape[1] == 0 or k < 3:
        cal.note = "no latent space: only exact duplicates (equal input_hash) are reported"
        return cal, np.zeros(k, bool), nn
    x = np.asarray(latent, np.float64)
    norms = np.linalg.norm(x, axis=1)
    dead = norms <= 1e-12 * max(float(np.median(norms)), 1e-30)
    cal.dead_vectors = int(dead.sum())
    dist, idx = NearestNeighbors(n_neighbors=2).fit(x).kneighbors(x)
    own = idx[:, 0] == np.arange(k)
    nn = np.where(own, dist[:, 1], dist[:, 0])  # identical vectors may list the other one first
    median = float(np.median(nn))
    cal.median_nn = median
    cal.collapsed_share = float(np.mean(nn <= COLLAPSE_REL * median)) if median > 0 else 1.0
    if median <= 0 or cal.collapsed_share > COLLAPSE_SHARE:
        cal.collapsed = True
        cal.note = (
            f"latent '{space}' is collapsed ({cal.collapsed_share:.1%} of distinct inputs lie at ~0 distance "
            f"from another, more than {COLLAPSE_SHARE:.0%}): near-duplicates are not judged from it, only "
            f"exact duplicates (equal input_hash) are reported"
        )
        return cal, dead, nn
    bulk = nn[nn >= BULK_FLOOR * median]
    cal.p1_nn = float(np.percentile(bulk, 1))
    cal.threshold = NEAR_FRACTION * cal.p1_nn
    tail = float(np.mean((nn >= cal.threshold) & (nn < BULK_FLOOR * median)))
    if tail > COLLAPSE_SHARE:
        # no gap between would-be near-duplicates and the bulk: a saturated space (e.g. softmax
        # probabilities, every confident sample crowding its class's corner) has a continuous lower tail
        # of closeness, not a few outliers, so a small distance says nothing about the inputs there
        cal.collapsed = True
        cal.collapsed_share = float(np.mean(nn < BULK_FLOOR * median))
        cal.threshold = None
        cal.note = (
            f"latent '{space}' is saturated ({tail:.1%} of distinct inputs lie between the near-duplicate threshold "
            f"and {BULK_FLOOR} x the median nearest-neighbour distance, more than {COLLAPSE_SHARE:.0%}: no gap "
            "separates close pairs from the rest): near-duplicates are not judged from it, only exact duplicates "
            "(equal input_hash) are reported"
        )
        return cal, dead, nn
    cal.checked = True
    cal.note = (
        f"near-duplicate: Euclidean distance in latent '{space}' below {NEAR_FRACTION} x the 1st percentile "
        f"({cal.p1_nn:.4g}) of nearest-neighbour distances (median {median:.4g})"
    )
    return cal, dead, nn


def _graph(data: AnalysisInput) -> _Graph:
    """Exact keys and calibrated near edges of the whole run (all subsets pooled)."""
    from sklearn.neighbors import NearestNeighbors

    valid = data.valid
    key, rep = _keys(data, valid)
    space = data.latent_name or "latent"
    latent = data.latent[rep] if data.has_latent else np.zeros((len(rep), 0), np.float32)
    cal, dead, nn = calibrate(latent, space)
    bulk = np.sort(nn[np.isfinite(nn) & (nn >= BULK_FLOOR * (cal.median_nn or 0.0))]) if cal.checked else np.zeros(0)
    near: dict[int, dict[int, float]] = {}
    if cal.checked and cal.threshold is not None and cal.threshold > 0:
        x = np.asarray(latent, np.float64)
        dist, idx = NearestNeighbors(radius=cal.threshold).fit(x).radius_neighbors(x, sort_results=True)
        for a in range(len(rep)):
            if dead[a]:
                continue
            for d, b in zip(dist[a], idx[a], strict=True):
                b = int(b)
                if b != a and not dead[b] and d < cal.threshold:
                    near.setdefault(a, {})[b] = float(d)
    return _Graph(key=key, rep=rep, near=near, calibration=cal, bulk=bulk)


def _sample(data: AnalysisInput, row: int) -> dict[str, Any]:
    return {"row": int(row), "subset": str(data.subset[row]), "sample_id": str(data.sample_id[row])}


def _pair(data: AnalysisInput, a: int, b: int, distance: float, space: str, threshold: float) -> dict[str, Any]:
    return {
        "a": _sample(data, a),
        "b": _sample(data, b),
        "distance": round(float(distance), 6),
        "space": space,
        "threshold": round(float(threshold), 6),
    }


def _describe(p: dict[str, Any]) -> str:
    a, b = p["a"], p["b"]
    if p["space"] == EXACT_SPACE:
        return f"{a['sample_id']} ({a['subset']}) = {b['sample_id']} ({b['subset']}), same input_hash"
    return (
        f"{a['sample_id']} ({a['subset']}) ~ {b['sample_id']} ({b['subset']}), latent '{p['space']}' distance "
        f"{p['distance']:.3g} < threshold {p['threshold']:.3g}"
    )


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


def _stats(kind: str, pairs: list[dict[str, Any]], graph: _Graph, threshold: float) -> dict[str, Any]:
    cal = graph.calibration
    space = EXACT_SPACE if kind == "exact" else cal.space
    median = float(np.median([p["distance"] for p in pairs])) if pairs else 0.0
    return {
        "p_value": 0.0 if kind == "exact" else graph.p_value(median),
        "kind": kind,
        "space": space,
        "metric": "equal hash" if kind == "exact" else cal.metric,
        "threshold": round(float(threshold), 6),
        "pairs": pairs[:MAX_PAIRS],
        "n_pairs": len(pairs),
        "calibration": asdict(cal),
    }


def duplicates(data: AnalysisInput, *, min_groups: int = 1) -> list[Insight]:
    """Groups of identical (equal ``input_hash``) or near-identical (calibrated latent distance) samples
    within a subset: per subset, at most one ``exact`` and one ``near`` insight (``statistics["kind"]``).

    ``extra["groups"]`` lists each group's sample ids. Severity: see the module docstring.
    """
    graph = _graph(data)
    cal = graph.calibration
    out: list[Insight] = []
    for subset in dict.fromkeys(data.subset.tolist()):
        rows = np.flatnonzero((data.subset == subset) & (graph.key >= 0))
        if len(rows) < 2:
            continue
        position = {int(r): i for i, r in enumerate(rows)}
        first: dict[int, int] = {}  # key -> first row of the subset
        exact_edges: list[tuple[int, int]] = []
        exact_pairs: list[dict[str, Any]] = []
        for r in rows:
            k = int(graph.key[r])
            if k in first:
                if data.dismissed.covers(data, first[k], int(r)):
                    continue
                exact_edges.append((position[first[k]], position[int(r)]))
                exact_pairs.append(_pair(data, first[k], int(r), 0.0, EXACT_SPACE, 0.0))
            else:
                first[k] = int(r)
        near_edges: list[tuple[int, int]] = []
        near_pairs: list[dict[str, Any]] = []
        for k, rep_row in first.items():
            for other, d in graph.near.get(k, {}).items():
                if other > k and other in first and not data.dismissed.covers(data, rep_row, first[other]):
                    near_edges.append((position[rep_row], position[first[other]]))
                    near_pairs.append(_pair(data, rep_row, first[other], d, cal.space, cal.threshold or 0.0))
        near_pairs.sort(key=lambda p: p["distance"])
        for kind, edges, pairs in (("exact", exact_edges, exact_pairs), ("near", near_edges + exact_edges, near_pairs)):
            if not pairs:
                continue
            groups = _groups(edges, len(rows))
            if kind == "near":  # only groups held together by a near edge
                touched = {a for a, _ in near_edges} | {b for _, b in near_edges}
                groups = [g for g in groups if touched & set(g.tolist())]
            if len(groups) < min_groups:
                continue
            members = np.concatenate([rows[g] for g in groups])
            share = len(members) / len(rows)
            base = min(1.0, 10 * share)
            severity = base if kind == "exact" else NEAR_SEVERITY * base
            what = "identical" if kind == "exact" else "near-identical"
            examples = "; ".join(_describe(p) for p in pairs[:3])
            explanation = (
                f"{len(groups)} groups of {what} {subset} samples ({len(members)} samples, {share:.1%}): "
                f"{examples}. Duplicates over-weight some samples in training and inflate held-out scores."
            )
            if kind == "near":
                explanation += f" Judged in latent space only: {cal.note}; check the pairs side by side."
            elif not cal.checked:
                explanation += f" ({cal.note}.)"
            stats = _stats(kind, pairs, graph, 0.0 if kind == "exact" else cal.threshold or 0.0)
            stats.update(groups=len(groups), samples=len(members), largest=max(len(g) for g in groups), share=share)
            title = f"{subset}: {len(groups)} {'exact' if kind == 'exact' else 'near'}-duplicate groups"
            out.append(
                new_insight(
                    data,
                    members,
                    severity,
                    type="duplicates",
                    subset=subset,
                    statistics=stats,
                    explanation=explanation,
                    title=title,
                    suggested_test=None,
                    extra={"groups": [data.sample_id[rows[g]].tolist() for g in groups[:200]]},
                )
            )
    return out


def data_leakage(data: AnalysisInput, *, min_samples: int = 1) -> list[Insight]:
    """Held-out samples that repeat a training sample: equal ``input_hash`` (``exact``) or, failing that,
    a calibrated near-duplicate latent distance to a training sample (``near``); per held-out subset at
    most one insight of each kind (``statistics["kind"]``).

    ``extra["matches"]`` maps each leaked row to its training partner's sample id. Severity: see the
    module docstring.
    """
    graph = _graph(data)
    cal = graph.calibration
    train = np.flatnonzero((data.subset == "training") & (graph.key >= 0))
    out: list[Insight] = []
    if len(train) == 0:
        return out
    train_row: dict[int, int] = {}  # key -> first training row
    for r in train:
        train_row.setdefault(int(graph.key[r]), int(r))
    for subset, rows in other_subsets(data):
        rows = rows[graph.key[rows] >= 0]
        if len(rows) == 0:
            continue
        found: dict[str, list[dict[str, Any]]] = {"exact": [], "near": []}
        for r in rows:
            k = int(graph.key[r])
            if k in train_row:
                if data.dismissed.covers(data, int(r), train_row[k]):
                    continue
                found["exact"].append(_pair(data, int(r), train_row[k], 0.0, EXACT_SPACE, 0.0))
                continue
            partners = [
                (d, o)
                for o, d in graph.near.get(k, {}).items()
                if o in train_row and not data.dismissed.covers(data, int(r), train_row[o])
            ]
            if partners:
                d, o = min(partners)
                found["near"].append(_pair(data, int(r), train_row[o], d, cal.space, cal.threshold or 0.0))
        for kind, pairs in found.items():
            if len(pairs) < min_samples:
                continue
            leaked = np.array([p["a"]["row"] for p in pairs], np.int64)
            share = len(leaked) / len(rows)
            base = min(1.0, 20 * share)
            severity = base if kind == "exact" else NEAR_SEVERITY * base
            how = "the same input (equal input_hash)" if kind == "exact" else "a near-identical latent vector"
            ordered = pairs if kind == "exact" else sorted(pairs, key=lambda p: p["distance"])
            examples = "; ".join(_describe(p) for p in ordered[:3])
            explanation = (
                f"{len(leaked)} {subset} samples ({share:.1%}) also appear in training as {how}: "
                f"{examples}. Their scores overstate how the model generalises."
            )
            if kind == "near":
                explanation += f" Judged in latent space only: {cal.note}; check the pairs side by side."
            elif not cal.checked:
                explanation += f" ({cal.note}.)"
            stats = _stats(kind, ordered, graph, 0.0 if kind == "exact" else cal.threshold or 0.0)
            stats.update(n=len(leaked), share=share)
            title = (
                f"{subset}: {len(leaked)} samples {'exactly' if kind == 'exact' else 'nearly'} repeat training samples"
            )
            out.append(
                new_insight(
                    data,
                    leaked,
                    severity,
                    type="data_leakage",
                    subset=f"{subset}|training",
                    statistics=stats,
                    explanation=explanation,
                    title=title,
                    suggested_test=None,
                    extra={"matches": {p["a"]["row"]: p["b"]["sample_id"] for p in pairs}},
                )
            )
    return out


class Duplicates(Detector):
    """:func:`duplicates` with its defaults (runs without a latent space too: exact duplicates only)."""

    name = "duplicates"
    needs_latent = False

    def applies(self, data: AnalysisInput) -> bool:
        """A latent space or input hashes: without a latent only exact (equal ``input_hash``) pairs are judged."""
        return data.has_latent or data.input_hash is not None

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return duplicates(data)


class DataLeakage(Detector):
    """:func:`data_leakage` with its defaults (runs without a latent space too: exact leakage only)."""

    name = "data_leakage"
    needs_latent = False

    def applies(self, data: AnalysisInput) -> bool:
        """A latent space or input hashes: without a latent only exact (equal ``input_hash``) pairs are judged."""
        return data.has_latent or data.input_hash is not None

    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """See the class docstring."""
        return data_leakage(data)
