"""The Python API: what the CLI and the server call.

>>> import leapscope as ls
>>> report = ls.check("examples/digits")                    # doctest: +SKIP
>>> report.valid                                             # doctest: +SKIP
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leapscope import runs
from leapscope.engine import evaluate as _evaluate
from leapscope.exceptions import LeapscopeError
from leapscope.integration import CheckReport, LoadedIntegration, load, run_integration_test
from leapscope.models import ModelWrapper, open_model
from leapscope.notebook import InsightList, NotebookRun, as_notebook_run
from leapscope.notebook import launch as launch
from leapscope.store import Workspace

__all__ = ["analyze", "check", "evaluate", "launch", "load_integration", "model_factory", "open_run"]


def load_integration(path: str | Path) -> LoadedIntegration:
    """Import the integration in a folder (with ``leapscope.yaml``) or a ``.py`` file."""
    return load(path)


def model_factory(source: Any) -> ModelWrapper:
    """Turn what ``@load_model`` returned (path or object) into a :class:`ModelWrapper`."""
    return open_model(source)


def check(path: str | Path | LoadedIntegration, *, samples: int = 3, model: str | Path | None = None) -> CheckReport:
    """Run the integration test of an integration.

    Parameters
    ----------
    path : folder, ``.py`` file or a loaded integration
    samples : int, default 3
        Samples per subset for the real pass.
    model : path, optional
        A model file that replaces the one the integration names.

    Returns
    -------
    CheckReport
        ``report.valid`` is True when every mandatory part passes.

    Raises
    ------
    IntegrationLoadError
        The integration cannot be imported (problems inside it are in the report).
    """
    loaded = path if isinstance(path, LoadedIntegration) else load(path)
    return run_integration_test(loaded, model_factory, samples=samples, model_source=model)


def open_run(workspace: str | Path | Workspace | None, run_id: str) -> NotebookRun:
    """Open a stored run by id (or unique id prefix); in a notebook it displays its summary
    (see :class:`leapscope.notebook.NotebookRun` for ``sample()``, ``map()``, ``insights()``).

    Raises
    ------
    RunNotFoundError
        No such run in the workspace.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace, create=False)
    return as_notebook_run(ws.open_run(run_id))


def evaluate(
    path: str | Path | LoadedIntegration,
    *,
    workspace: str | Path | Workspace | None = None,
    explain: str | None = None,
    explain_subsets: list[str] | None = None,
    **options: Any,
) -> NotebookRun:
    """Evaluate every sample and store the run (see :func:`leapscope.engine.evaluate` for options;
    ``ray="local" | "auto" | ADDRESS`` evaluates on Ray actors, see docs/scale-out.md),
    then run the project's saved threshold tests on it. With ``explain=METHOD``, also store
    heatmaps of ``explain_subsets`` (default validation) in ``explanations/<method>.npy``."""
    if explain:
        from leapscope.analysis.attribution import METHODS

        if explain not in METHODS:  # before minutes of evaluation, not after
            raise LeapscopeError(f"evaluate: unknown explain method {explain!r}; methods: {', '.join(METHODS)}")
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    run = _evaluate(path, workspace=ws, **options)
    runs.run_saved_tests(ws, run)
    if explain:
        runs.explain_run(run, explain, explain_subsets or ["validation"])
    return as_notebook_run(run)


def analyze(
    workspace: str | Path | Workspace | None,
    run_id: str,
    *,
    types: list[str] | None = None,
    umap: bool = False,
    seed: int = 0,
    min_group_size: int = 10,
    space: str | None = None,
) -> InsightList:
    """Compute projections (PCA, and UMAP when asked) and every insight of a run; store and return them
    (ranked; a list that displays as a table in a notebook).

    ``min_group_size`` is the smallest group an insight reports (``runs.AnalyzeConfig.min_samples``);
    which detectors ran and which were skipped, and why, is stored with the insights
    (``runs.load_statuses(run)``). ``space`` is the latent space of the projections and insights (a layer
    space or an ``@ls.latent_space`` name; default the run's first); an unknown one is a StoreError."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace, create=False)
    run = ws.open_run(run_id)
    if space is not None and space not in run.latent_spaces:
        run.latent(space)  # StoreError naming the stored spaces
    if run.latent_spaces:
        runs.projection(run, space=space, method="pca", seed=seed)
        if umap:
            runs.projection(run, space=space, method="umap", seed=seed)
    found = runs.analyze(run, types=types, seed=seed, min_samples=min_group_size, workspace=ws, space=space)
    return InsightList(found, run=run)
