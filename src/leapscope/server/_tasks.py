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
    from leapscope import api

    return len(api.analyze(workspace, run_id))


def noop(*args: Any) -> None:
    return None
