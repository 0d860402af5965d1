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
from leapscope.analysis import Insight
from leapscope.engine import evaluate as _evaluate
from leapscope.exceptions import LeapscopeError
from leapscope.integration import CheckReport, LoadedIntegration, load, run_integration_test
from leapscope.models import ModelWrapper, open_model
from leapscope.store import Run, Workspace

__all__ = ["analyze", "check", "evaluate", "load_integration", "model_factory", "open_run"]


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


def open_run(workspace: str | Path | Workspace | None, run_id: str) -> Run:
    """Open a stored run by id (or unique id prefix).

    Raises
    ------
    RunNotFoundError
        No such run in the workspace.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace, create=False)
    return ws.open_run(run_id)


def evaluate(
    path: str | Path | LoadedIntegration,
    *,
    workspace: str | Path | Workspace | None = None,
    explain: str | None = None,
    explain_subsets: list[str] | None = None,
    **options: Any,
) -> Run:
    """Evaluate every sample and store the run (see :func:`leapscope.engine.evaluate` for options),
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
    return run


def analyze(
    workspace: str | Path | Workspace | None,
    run_id: str,
    *,
    types: list[str] | None = None,
    umap: bool = False,
    seed: int = 0,
) -> list[Insight]:
    """Compute projections (PCA, and UMAP when asked) and every insight of a run; store and return them."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace, create=False)
    run = ws.open_run(run_id)
    if run.latent_spaces:
        runs.projection(run, method="pca", seed=seed)
        if umap:
            runs.projection(run, method="umap", seed=seed)
    return runs.analyze(run, types=types, seed=seed, workspace=ws)
