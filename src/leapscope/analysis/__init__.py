"""Population exploration, insights, similar samples and dashboard data.

Pure functions over arrays and tables live in private modules; the run-level API
(``analyze(run)``, ``projection(run)``, ...) reads a stored run and caches results.
"""

from leapscope.analysis._insights import AnalysisInput, explain_group, latent_clusters
from leapscope.analysis._projection import project
from leapscope.analysis._run import (
    aggregate,
    analysis_input,
    analyze,
    compare_runs,
    confusion_matrix,
    load_insights,
    metadata_columns,
    projection,
    recommend_labeling,
    similar,
)
from leapscope.analysis._sample import RunContext, explain_run, render_explanation_png
from leapscope.analysis._tests import TestResult, ThresholdTest, run_saved_tests, run_test, save_test, saved_tests
from leapscope.analysis._types import INSIGHT_TYPES, Insight

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
