"""What every detector reads (:class:`AnalysisInput`), the :class:`Detector` base and its registry.

A detector is a subclass of :class:`Detector` with a ``name`` (its insight type); defining
the subclass registers it (``Detector.__init_subclass__``), so :func:`detectors` finds it
without any list of ifs. Notation: N samples (rows of a run), D latent dimensions, K classes.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from leapscope.analysis.insights.record import INSIGHT_TYPES, Insight
from leapscope.exceptions import LeapscopeError

__all__ = [
    "HELD_OUT",
    "AnalysisInput",
    "DismissedPairs",
    "DetectOptions",
    "Detector",
    "detector_names",
    "detectors",
    "labeled_subsets",
    "new_insight",
    "other_subsets",
]

HELD_OUT = ("validation", "test")

_REGISTRY: dict[str, Detector] = {}


@dataclass(frozen=True)
class DismissedPairs:
    """Pairs a user marked "not a duplicate" (per project): the duplicate and leakage detectors skip them.

    Attributes
    ----------
    samples : frozenset of frozenset of (subset, sample_id) tuples
    hashes : frozenset of frozenset of str; pairs of ``input_hash`` values
    """

    samples: frozenset[frozenset[tuple[str, str]]] = frozenset()
    hashes: frozenset[frozenset[str]] = frozenset()

    def __len__(self) -> int:
        return len(self.samples) + len(self.hashes)

    def covers(self, data: AnalysisInput, a: int, b: int) -> bool:
        """Whether rows ``a`` and ``b`` of ``data`` form a dismissed pair (by samples, or by their input hashes)."""
        if not self:
            return False
        key = frozenset({(str(data.subset[a]), str(data.sample_id[a])), (str(data.subset[b]), str(data.sample_id[b]))})
        if key in self.samples:
            return True
        if data.input_hash is None or not self.hashes:
            return False
        ha, hb = data.input_hash[a], data.input_hash[b]
        return bool(ha and hb and ha != hb and frozenset({str(ha), str(hb)}) in self.hashes)


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
    latent_name : str or None; the latent space ``latent`` was read from (None: unknown or none)
    dismissed : DismissedPairs; pairs marked "not a duplicate" in the run's project (skipped by the
        ``duplicates`` and ``data_leakage`` detectors)
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
    latent_name: str | None = None
    dismissed: DismissedPairs = DismissedPairs()

    @property
    def n(self) -> int:
        """N, the number of samples."""
        return len(self.subset)

    @property
    def valid(self) -> np.ndarray:
        """(N,) bool: rows whose latent vector is finite."""
        return np.asarray(np.isfinite(self.latent).all(axis=1))

    @property
    def has_latent(self) -> bool:
        """Whether the run has a latent space (D > 0)."""
        return bool(self.latent.shape[1] > 0)


@dataclass(frozen=True)
class DetectOptions:
    """What the run-level ``analyze`` gives every detector besides the data.

    Attributes
    ----------
    clusters : ndarray of shape (N,), int; latent k-means cluster ids (-1: none)
    seed : int; makes every detector deterministic
    min_samples : int; the smallest group a detector reports
    """

    clusters: np.ndarray
    seed: int = 0
    min_samples: int = 10


class Detector(ABC):
    """One insight type. Subclasses set ``name`` and implement :meth:`detect`; defining one registers it.

    ``needs_latent``: the detector is skipped (finds nothing) on runs without a latent space.
    """

    name: ClassVar[str]
    needs_latent: ClassVar[bool] = True
    #: the detector needs class labels (a prediction of kind ``class``); skipped on dense/regression runs
    needs_classes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if inspect.isabstract(cls):
            return
        if cls.name in _REGISTRY:
            raise LeapscopeError(
                f"Detector {cls.__qualname__}: an insight detector named '{cls.name}' is already "
                f"registered ({type(_REGISTRY[cls.name]).__qualname__}); give it another name"
            )
        _REGISTRY[cls.name] = cls()

    def applies(self, data: AnalysisInput) -> bool:
        """Whether this detector can run on ``data`` (default: it has a latent space, if needed)."""
        return data.has_latent or not self.needs_latent

    @abstractmethod
    def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
        """The insights found on ``data`` (possibly none)."""


def detector_names() -> list[str]:
    """Registered insight types: the built-in ones in :data:`INSIGHT_TYPES` order, then any others."""
    return [*(t for t in INSIGHT_TYPES if t in _REGISTRY), *(t for t in _REGISTRY if t not in INSIGHT_TYPES)]


def detectors(names: list[str] | None = None) -> list[Detector]:
    """The registered detectors for ``names`` (default: all, in :func:`detector_names` order).

    Raises
    ------
    LeapscopeError
        An unknown insight type (the message lists the available ones).
    """
    available = detector_names()
    chosen = list(names or available)
    unknown = [t for t in chosen if t not in _REGISTRY]
    if unknown:
        raise LeapscopeError(f"unknown insight type(s) {unknown}; available: {', '.join(available)}")
    return [_REGISTRY[t] for t in chosen]


def new_insight(data: AnalysisInput, rows: np.ndarray, severity: float, **fields: Any) -> Insight:
    """An :class:`Insight` over ``rows`` (int indices into ``data``), sample ids looked up; ``fields`` are the
    other :class:`Insight` fields by name.

    Severity and confidence come from :func:`leapscope.analysis.insights.severity.rate` (one formula per
    type, from ``fields["statistics"]``); ``severity`` is used only for types without a rule.
    """
    from leapscope.analysis.insights.severity import rate

    rows = np.asarray(rows, dtype=np.int64)
    rated, confidence = rate(
        str(fields.get("type")), fields.get("statistics") or {}, str(fields.get("subset")), severity
    )
    return Insight(
        severity=rated,
        rows=rows.tolist(),
        sample_ids=[str(s) for s in data.sample_id[rows]],
        confidence=confidence,
        **fields,
    )


def labeled_subsets(data: AnalysisInput) -> list[str]:
    """Subsets (in run order) with at least one finite loss."""
    return [s for s in dict.fromkeys(data.subset.tolist()) if np.isfinite(data.loss[data.subset == s]).any()]


def other_subsets(data: AnalysisInput) -> list[tuple[str, np.ndarray]]:
    """(subset, rows with a latent) for every subset but training, in run order."""
    out = []
    for subset in dict.fromkeys(data.subset.tolist()):
        rows = np.flatnonzero((data.subset == subset) & data.valid)
        if subset != "training" and len(rows):
            out.append((subset, rows))
    return out
