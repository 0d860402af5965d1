"""Shared state and helpers of the routers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
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
    _complete: dict[str, Run] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, run_id: str) -> Run:
        """The run; complete runs are immutable, so their object (and loaded tables) is reused."""
        with self._lock:
            cached = self._complete.get(run_id)
        if cached is not None:
            return cached
        run = self.workspace.open_run(run_id)
        if run.status == "complete":
            with self._lock:
                self._complete[run_id] = self._complete[run.id] = run
        return run

    def shutdown(self) -> None:
        """End both worker processes (idempotent; called at app shutdown and when ``serve`` exits)."""
        self.visuals.shutdown()
        self.analysis.shutdown()

    @property
    def path(self) -> str:
        return str(self.workspace.path)


def state(request: Request) -> State:
    value: Any = request.app.state.leapscope
    return value  # type: ignore[no-any-return]
