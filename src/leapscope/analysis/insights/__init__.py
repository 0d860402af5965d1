"""Insight detectors: pure functions over arrays and one metadata table, one module per family.

- :mod:`.record`: the :class:`Insight` record and the built-in :data:`INSIGHT_TYPES`.
- :mod:`.base`: :class:`AnalysisInput` (what detectors read), the :class:`Detector` base and
  its registry (:func:`detectors`); defining a ``Detector`` subclass registers it.
- :mod:`.performance`: ``low_performance``, ``overfitting``; :mod:`.labels`: ``mislabeled``;
  :mod:`.duplicates`: ``duplicates``, ``data_leakage``; :mod:`.distribution`:
  ``out_of_distribution``, ``domain_gap``.
- :mod:`.explain`: the plain-language explanation of a group and the threshold test it suggests.

Every detector takes an :class:`AnalysisInput`, never reports a group smaller than
``min_samples``, is deterministic for a seed, and returns :class:`Insight` records whose
``severity`` formula is given in its docstring. Statistics live in
:mod:`leapscope.analysis.stats`, clustering in :mod:`leapscope.analysis.clustering`, neighbours in
:mod:`leapscope.analysis.neighbours`, metadata slices in :mod:`leapscope.analysis.slicing`.
"""

from leapscope.analysis.insights.base import (
    AnalysisInput,
    DetectOptions,
    Detector,
    DismissedPairs,
    detector_names,
    detectors,
)
from leapscope.analysis.insights.distribution import domain_gap, out_of_distribution
from leapscope.analysis.insights.duplicates import data_leakage, duplicates
from leapscope.analysis.insights.explain import explain_group, suggested_test
from leapscope.analysis.insights.labels import mislabeled
from leapscope.analysis.insights.performance import low_performance, overfitting
from leapscope.analysis.insights.record import INSIGHT_TYPES, Insight, InsightType

__all__ = [
    "INSIGHT_TYPES",
    "AnalysisInput",
    "DetectOptions",
    "Detector",
    "DismissedPairs",
    "Insight",
    "InsightType",
    "data_leakage",
    "detector_names",
    "detectors",
    "domain_gap",
    "duplicates",
    "explain_group",
    "low_performance",
    "mislabeled",
    "out_of_distribution",
    "overfitting",
    "suggested_test",
]
