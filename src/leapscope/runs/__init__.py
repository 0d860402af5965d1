"""Run-level services: read a stored run, call the pure algorithms of :mod:`leapscope.analysis`,
cache results in the run folder and write the catalog. The CLI, the server and the report call these.

Where each service lives:

- :mod:`.analyze`: ``analyze(run)`` (every registered insight detector, :class:`AnalyzeConfig`),
  ``load_insights``; :mod:`.inputs` assembles the detectors' ``AnalysisInput`` from a run.
- :mod:`.projections`: ``projection(run)``, cached under ``projections/``.
- :mod:`.similar`: ``similar`` (nearest samples) and ``recommend_labeling`` (k-center coreset).
- :mod:`.dashboards`: ``aggregate``, ``confusion_matrix``, ``compare_runs``, ``metadata_columns``.
- :mod:`.dismissals`: "not a duplicate" pairs per project (``dismiss_pair``, ``undismiss_pair``,
  ``list_dismissals``), skipped by later ``analyze`` calls.
- :mod:`.tests`: threshold tests (``ThresholdTest``, ``run_test``, saved tests per project).
- :mod:`.sample`: one sample re-encoded through its integration (:class:`RunContext`: visuals,
  explanations), ``explain_run`` and ``render_explanation_png``.
- :mod:`.explain`: ``explain_samples`` (several samples, one batched call), ``explain_targets``,
  ``explain_methods``, ``model_layers``, ``prediction_summary`` (for the CLI, server and UI).
- :mod:`.columns`: which samples.parquet columns are metadata, labels, metric directions.
"""

from leapscope.runs.analyze import (
    AnalyzeConfig,
    DetectorStatus,
    analyze,
    load_insights,
    load_statuses,
    read_insights_file,
)
from leapscope.runs.columns import metadata_columns
from leapscope.runs.dashboards import aggregate, compare_runs, confusion_matrix, confusion_reason
from leapscope.runs.dismissals import Dismissal, dismiss_pair, list_dismissals, undismiss_pair
from leapscope.runs.explain import (
    ExplainedSample,
    explain_methods,
    explain_samples,
    explain_targets,
    model_layers,
    prediction_summary,
)
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
    "DetectorStatus",
    "Dismissal",
    "RunContext",
    "TestResult",
    "ThresholdTest",
    "aggregate",
    "analysis_input",
    "analyze",
    "compare_runs",
    "confusion_matrix",
    "confusion_reason",
    "dismiss_pair",
    "ExplainedSample",
    "explain_methods",
    "explain_run",
    "explain_samples",
    "explain_targets",
    "model_layers",
    "prediction_summary",
    "list_dismissals",
    "load_insights",
    "load_statuses",
    "read_insights_file",
    "metadata_columns",
    "projection",
    "recommend_labeling",
    "render_explanation_png",
    "run_saved_tests",
    "run_test",
    "save_test",
    "saved_tests",
    "similar",
    "undismiss_pair",
]
