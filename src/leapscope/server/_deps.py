"""Shared state and helpers of the routers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from leapscope.server._jobs import JobManager, WorkerPool
from leapscope.store import Run, Workspace

__all__ = ["State", "state"]


@dataclass
class State:
    workspace: Workspace
    visuals: WorkerPool
    analysis: WorkerPool
    jobs: JobManager

    def run(self, run_id: str) -> Run:
        return self.workspace.open_run(run_id)

    @property
    def path(self) -> str:
        return str(self.workspace.path)


def state(request: Request) -> State:
    value: Any = request.app.state.leapscope
    return value  # type: ignore[no-any-return]
