"""Pure analysis algorithms: arrays and tables in, results out (no run folder, no catalog).

Where each concept lives:

- :mod:`.projections`: 2-D (or k-D) projections of latent vectors (PCA, UMAP, t-SNE).
- :mod:`.clustering`: k-means on normalised, PCA-reduced latents.
- :mod:`.neighbours`: cosine nearest neighbours, kNN label disagreement, k-center greedy.
- :mod:`.stats`: Mann-Whitney tests with effect sizes, Benjamini-Hochberg, size factor.
- :mod:`.slicing`: categorical metadata columns and candidate metadata slices.
- :mod:`.insights`: the insight detectors (a :class:`~leapscope.analysis.insights.Detector`
  registry, one module per family) and the plain-language explanation of a group.
- :mod:`.attribution`: explanation heatmaps of a model's predictions.

The run-level services over these (``analyze(run)``, ``projection(run)``, threshold tests,
dashboards, sample context) live in :mod:`leapscope.runs`. For the transition, the names they
had here (``analysis.analyze``, ``analysis.RunContext``, ...) still resolve, lazily, to
:mod:`leapscope.runs`; new code imports them from there. (No submodule may be named like one
of them: ``analysis.projection`` is the run-level function, the algorithms are in ``.projections``.)
"""

from __future__ import annotations

import importlib
from typing import Any

from leapscope.analysis.clustering import latent_clusters
from leapscope.analysis.insights import INSIGHT_TYPES, AnalysisInput, Insight, explain_group
from leapscope.analysis.projections import project

_MOVED_TO_RUNS = (
    "RunContext",
    "TestResult",
    "ThresholdTest",
    "aggregate",
    "analysis_input",
    "analyze",
    "compare_runs",
    "confusion_matrix",
    "explain_run",
    "load_insights",
    "metadata_columns",
    "projection",
    "recommend_labeling",
    "render_explanation_png",
    "run_saved_tests",
    "run_test",
    "save_test",
    "saved_tests",
    "similar",
)

__all__ = [
    "INSIGHT_TYPES",
    "AnalysisInput",
    "Insight",
    "RunContext",
    "TestResult",
    "ThresholdTest",
    "aggregate",
    "analysis_input",
    "analyze",
    "compare_runs",
    "confusion_matrix",
    "explain_group",
    "explain_run",
    "latent_clusters",
    "load_insights",
    "metadata_columns",
    "project",
    "projection",
    "recommend_labeling",
    "render_explanation_png",
    "run_saved_tests",
    "run_test",
    "save_test",
    "saved_tests",
    "similar",
]


def __getattr__(name: str) -> Any:
    """Transition: the run-level names moved to :mod:`leapscope.runs` resolve there on first use.

    Resolved by name (``importlib``), so this package imports nothing above it at import time.
    """
    if name in _MOVED_TO_RUNS:
        return getattr(importlib.import_module("leapscope.runs"), name)
    raise AttributeError(f"module 'leapscope.analysis' has no attribute {name!r}")
