"""leapscope in Jupyter: the Python API's objects display themselves, and ``launch`` serves the app inline.

- :class:`NotebookRun` (what ``ls.evaluate`` / ``ls.open_run`` return): a summary table per
  subset, status and links; ``run.sample(id).show()``, ``run.sample(id).explain()``,
  ``run.map(color="loss_…")`` (a Plotly scatter), ``run.insights()``, ``run.to_pandas()``.
- ``ls.check(...)`` reports (status table and wiring) and insights (ranked table, the top ones
  with sample thumbnails) render as HTML through IPython's display formatters, registered
  when this package is imported inside IPython (the SDK itself stays free of display code).
- :func:`launch`: the web app in a background thread; the returned :class:`App` shows it in an IFrame.

>>> import leapscope as ls
>>> app = ls.launch("lsws")                 # doctest: +SKIP
>>> run = ls.open_run("lsws", "20261201-…") # doctest: +SKIP
>>> run.map(color="loss_ce")                # doctest: +SKIP
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from leapscope.notebook._display import check_report_html, insight_html, insights_html, run_html
from leapscope.notebook._launch import App, launch
from leapscope.notebook._run import Heatmap, InsightList, NotebookRun, SampleView, as_notebook_run

__all__ = [
    "App",
    "Heatmap",
    "InsightList",
    "NotebookRun",
    "SampleView",
    "as_notebook_run",
    "check_report_html",
    "insight_html",
    "insights_html",
    "launch",
    "register_formatters",
    "run_html",
]


def register_formatters(shell: Any = None) -> bool:
    """Teach IPython's HTML formatter to draw check reports, insights and plain runs.

    Called on import; returns False outside IPython (nothing to register).
    """
    if shell is None:
        ipython = sys.modules.get("IPython")  # never import IPython here: the CLI imports this package too
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False
    from leapscope.analysis import Insight
    from leapscope.integration import CheckReport
    from leapscope.store import Run

    html = shell.display_formatter.formatters["text/html"]
    html.for_type(CheckReport, check_report_html)
    html.for_type(Insight, insight_html)
    html.for_type(Run, lambda run: as_notebook_run(run)._repr_html_())
    return True


# cleanlab and umap import tqdm.auto, which warns in a kernel without ipywidgets: progress bars are not needed
warnings.filterwarnings("ignore", message="IProgress not found")
register_formatters()
