"""Analysis jobs, run in the analysis worker process (importable by spawned processes)."""

from __future__ import annotations

from typing import Any

__all__ = ["analyze_job", "projection_job"]


def projection_job(workspace: str, run_id: str, method: str, space: str | None) -> bool:
    from leapscope import runs as services
    from leapscope.store import Workspace

    services.projection(Workspace(workspace).open_run(run_id), method=method, space=space)  # type: ignore[arg-type]
    return True


def analyze_job(workspace: str, run_id: str) -> int:
    """``leapscope.analyze`` (PCA projection, then every insight) in the worker; the number of insights."""
    from leapscope import runs as services
    from leapscope.store import Workspace

    ws = Workspace(workspace, create=False)
    run = ws.open_run(run_id)
    if run.latent_spaces:
        services.projection(run, method="pca")
    return len(services.analyze(run, workspace=ws))


def noop(*args: Any) -> None:
    return None
