"""The insight record: one automatically found issue, as stored in ``insights.json`` and the catalog."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["INSIGHT_TYPES", "Insight", "InsightType"]

InsightType = Literal[
    "low_performance", "mislabeled", "duplicates", "data_leakage", "out_of_distribution", "domain_gap", "overfitting"
]
INSIGHT_TYPES: tuple[str, ...] = (
    "low_performance",
    "mislabeled",
    "duplicates",
    "data_leakage",
    "out_of_distribution",
    "domain_gap",
    "overfitting",
)


@dataclass
class Insight:
    """One automatically found issue.

    Attributes
    ----------
    type : InsightType
    severity : float in [0, 1]
        ``impact x confidence`` (formula per type: :mod:`leapscope.analysis.insights.severity`,
        docs/insights.md), comparable across types. Insights are ranked by it.
    subset : str
        The subset it concerns (``"validation"``, or ``"validation|training"`` for
        cross-subset findings).
    rows : list of int
        Rows of samples.parquet (and of the latent arrays).
    sample_ids : list of str
    statistics : dict
        Test statistics, p-values, effect sizes, sizes.
    explanation : str
        Plain language, naming the over-represented metadata.
    suggested_test : dict or None
        ``{"filter": <filter: column op literal [and ...]>, "metric": <column>, "min"|"max": <threshold>}``.
    title : str
        One line for lists.
    confidence : float in [0, 1] or None
        How sure the finding is real: ``1 - p`` of the detector's test, or a calibrated mean
        probability (``mislabeled``); None for detector types without a rule (and insights stored
        before confidences existed).
    """

    type: InsightType
    severity: float
    subset: str
    rows: list[int]
    sample_ids: list[str]
    statistics: dict[str, Any]
    explanation: str
    title: str
    suggested_test: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (inverse of :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Insight:
        """The insight of a :meth:`to_dict` dict."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
