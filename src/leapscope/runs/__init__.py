"""Run-level services: read a stored run, call the pure algorithms of :mod:`leapscope.analysis`,
cache results in the run folder and write the catalog. The CLI, the server and the report call these.

Where each service lives:

- :mod:`.analyze`: ``analyze(run)`` (every registered insight detector, :class:`AnalyzeConfig`),
  ``load_insights``; :mod:`.inputs` assembles the detectors' ``AnalysisInput`` from a run.
- :mod:`.projections`: ``projection(run)``, cached under ``projections/``.
- :mod:`.similar`: ``similar`` (nearest samples) and ``recommend_labeling`` (k-center coreset).
- :mod:`.dashboards`: ``aggregate``, ``confusion_matrix``, ``compare_runs``, ``metadata_columns``.
- :mod:`.tests`: threshold tests (``ThresholdTest``, ``run_test``, saved tests per project).
- :mod:`.sample`: one sample re-encoded through its integration (:class:`RunContext`: visuals,
  explanations), ``explain_run`` and ``render_explanation_png``.
- :mod:`.columns`: which samples.parquet columns are metadata, labels, metric directions.
"""

from leapscope.runs.analyze import AnalyzeConfig, analyze, load_insights
from leapscope.runs.columns import metadata_columns
from leapscope.runs.dashboards import aggregate, compare_runs, confusion_matrix
from leapscope.runs.inputs import analysis_input
from leapscope.runs.projections import projection
from leapscope.runs.sample import RunContext, explain_run, render_explanation_png
from leapscope.runs.similar import recommend_labeling, similar
from leapscope.runs.tests import (
    MAX_NAME_LENGTH,
    TestResult,
    ThresholdTest,
    run_saved_tests,
    run_test,
    save_test,
    saved_tests,
)

__all__ = [
    "MAX_NAME_LENGTH",
    "AnalyzeConfig",
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
]
