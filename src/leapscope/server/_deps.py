"""Shared state and helpers of the routers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from leapscope.server._explain import ExplainPool
from leapscope.server._index import Indexes, RunIndex
from leapscope.server._jobs import JobManager, WorkerPool
from leapscope.store import Run, Workspace

__all__ = ["State", "state"]


@dataclass
class State:
    """What the routes share: the workspace, the worker pools, the jobs and the per-run read caches.

    ``visuals`` renders visualizers (user code, cheap); ``explain`` computes heatmaps in its own
    bounded pool, so heavy work never queues cheap work; ``analysis`` runs jobs (UMAP, analyze).
    """

    workspace: Workspace
    visuals: WorkerPool
    analysis: WorkerPool
    jobs: JobManager
    explain: ExplainPool = field(default_factory=ExplainPool)
    indexes: Indexes = field(init=False)
    _complete: dict[str, Run] = field(default_factory=dict)
    _visualizers: dict[str, tuple[Any, list[dict[str, str]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.indexes = Indexes(on_stale=self.forget)

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

    def forget(self, run_id: str) -> None:
        """Drop what is cached of a run whose files changed (its next request reads them again)."""
        with self._lock:
            for key in [k for k, r in self._complete.items() if r.id == run_id or k == run_id]:
                del self._complete[key]
            self._visualizers.pop(run_id, None)

    def index_now(self, run_id: str) -> RunIndex:
        """The read index of a complete run (built on first use: blocking, call it from a worker thread)."""
        found = self.indexes.peek(run_id)
        return found if found is not None else self.indexes.get(self.run(run_id), alias=run_id)

    async def index(self, run_id: str) -> RunIndex:
        """:meth:`index_now` without blocking the event loop: a built index is returned at once."""
        found = self.indexes.peek(run_id)
        if found is not None:
            return found
        return await run_in_threadpool(self.index_now, run_id)

    def cached_visualizers(self, run: Run) -> list[dict[str, str]] | None:
        """The run's visualizers when already known for its current integration file, else None."""
        from leapscope.server import _render

        with self._lock:
            cached = self._visualizers.get(run.id)
        return cached[1] if cached is not None and cached[0] == _render.integration_stamp(run) else None

    async def visualizers(self, run: Run) -> list[dict[str, str]]:
        """The run's visualizers (name, type), asked of the visuals worker once per run and integration file."""
        from leapscope.server import _render

        stamp = _render.integration_stamp(run)
        with self._lock:
            cached = self._visualizers.get(run.id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        found: list[dict[str, str]] = await self.visuals.run(_render.list_visuals, self.path, run.id)
        with self._lock:
            self._visualizers[run.id] = (stamp, found)
        return found

    def shutdown(self) -> None:
        """End every worker process (idempotent; called at app shutdown and when ``serve`` exits)."""
        self.visuals.shutdown()
        self.explain.shutdown()
        self.analysis.shutdown()

    @property
    def path(self) -> str:
        return str(self.workspace.path)


async def state(request: Request) -> State:
    """The app's :class:`State` (an ``async`` dependency: no worker-thread hop per request)."""
    value: Any = request.app.state.leapscope
    return value  # type: ignore[no-any-return]
