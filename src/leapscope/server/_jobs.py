"""Background work: a process for user code (visuals) and a process for heavy analysis.

Both are spawned processes, so neither user code nor numba/UMAP can block or crash
the server. The analysis worker is warmed at start (UMAP compiles ~30 s), so the
first UMAP map does not pay for it; PCA is served directly meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job", "JobManager", "WorkerPool"]


class WorkerPool:
    """One spawned worker process; restarted if user code kills it."""

    def __init__(self, name: str, warm: Callable[[], Any] | None = None):
        self.name = name
        self._warm = warm
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None
        self.warm_future: cf.Future[Any] | None = None

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                if self._warm is not None:
                    self.warm_future = self._pool.submit(self._warm)
            return self._pool

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        try:
            return self._executor().submit(fn, *args)
        except cf.process.BrokenProcessPool:
            self.reset()
            return self._executor().submit(fn, *args)

    async def run(self, fn: Callable[..., Any], *args: Any, timeout: float = 120.0) -> Any:
        future = self.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except cf.process.BrokenProcessPool:
            self.reset()
            raise RuntimeError(f"the {self.name} worker crashed while running user code; it was restarted") from None

    def reset(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def start(self) -> None:
        self._executor()

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


@dataclass
class Job:
    id: str
    kind: str
    run_id: str
    status: str = "running"
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "run_id": self.run_id, "status": self.status, "error": self.error,
                "seconds": round((self.finished or time.time()) - self.started, 2)}


class JobManager:
    """Tracks analysis jobs run on a :class:`WorkerPool`; one job per (kind, run, key) at a time."""

    def __init__(self, pool: WorkerPool):
        self.pool = pool
        self.jobs: dict[str, Job] = {}
        self._by_key: dict[tuple[str, ...], str] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, run_id: str, key: tuple[str, ...], fn: Callable[..., Any], *args: Any) -> Job:
        with self._lock:
            existing = self._by_key.get((kind, run_id, *key))
            if existing and self.jobs[existing].status == "running":
                return self.jobs[existing]
            job = Job(uuid.uuid4().hex[:12], kind, run_id)
            self.jobs[job.id] = job
            self._by_key[(kind, run_id, *key)] = job.id
        future = self.pool.submit(fn, *args)

        def done(f: cf.Future[Any]) -> None:
            job.finished = time.time()
            try:
                job.result = f.result()
                job.status = "complete"
            except Exception as exc:  # noqa: BLE001 - any failure of the job is reported on its status
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"

        future.add_done_callback(done)
        return job
