"""Background work: a process for user code (visuals) and a process for heavy analysis.

Both are spawned processes, so neither user code nor numba/UMAP can block or crash
the server. The analysis worker is warmed at start (UMAP compiles ~30 s), so the
first UMAP map does not pay for it; PCA is served directly meanwhile.

Workers never outlive the server: :meth:`WorkerPool.shutdown` terminates them, and each
worker watches its parent (:func:`leapscope._process.die_with_parent`: ``prctl(PR_SET_PDEATHSIG)``
on Linux, a liveness poll elsewhere), so even ``kill -9`` of the server leaves no worker behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leapscope._process import die_with_parent

__all__ = ["Job", "JobManager", "WorkerPool"]


def _terminate(pool: cf.ProcessPoolExecutor, timeout: float = 3.0) -> None:
    """Shut ``pool`` down now: cancel pending work and end its processes (SIGTERM, then SIGKILL)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(1.0)


class WorkerPool:
    """One spawned worker process; restarted if user code kills it.

    Processes are created from one dedicated thread of the pool (so the parent-death signal
    armed by :func:`leapscope._process.die_with_parent` does not fire when some request thread ends).
    """

    def __init__(
        self,
        name: str,
        warm: Callable[[], Any] | None = None,
        initializer: Callable[..., Any] = die_with_parent,
        initargs: tuple[Any, ...] = (),
    ):
        self.name = name
        self._warm = warm
        self._initializer = initializer
        self._initargs = initargs  # after the server's pid, which comes first
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._spawner = cf.ThreadPoolExecutor(1, thread_name_prefix=f"leapscope-{name}-spawner")
        self.warm_future: cf.Future[Any] | None = None

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=self._initializer,
                    initargs=(os.getpid(), *self._initargs),
                )
                if self._warm is not None:
                    self.warm_future = self._spawner.submit(self._pool.submit, self._warm).result()
            return self._pool

    def _submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        pool = self._executor()
        # submitting may start the process: do it on the spawner thread
        future: cf.Future[Any] = self._spawner.submit(pool.submit, fn, *args).result()
        return future

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        try:
            return self._submit(fn, *args)
        except cf.process.BrokenProcessPool:
            self.reset()
            return self._submit(fn, *args)

    async def run(self, fn: Callable[..., Any], *args: Any, timeout: float = 120.0) -> Any:
        future = self.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except cf.process.BrokenProcessPool:
            self.reset()
            raise RuntimeError(f"the {self.name} worker crashed while running user code; it was restarted") from None

    def reset(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            _terminate(pool)

    def start(self) -> None:
        self._executor()

    def shutdown(self) -> None:
        """End the worker process now (pending work is cancelled); the pool can start again later."""
        self.reset()

    def pids(self) -> list[int]:
        """Process ids of the live worker processes (for tests and diagnostics)."""
        with self._lock:
            pool = self._pool
        processes = (getattr(pool, "_processes", None) or {}) if pool is not None else {}
        return [p.pid for p in processes.values() if p.pid is not None and p.is_alive()]


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
        return {
            "id": self.id,
            "kind": self.kind,
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "seconds": round((self.finished or time.time()) - self.started, 2),
        }


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
            except cf.CancelledError:  # the server is shutting down
                job.status, job.error = "failed", "cancelled: the server stopped"
            except Exception as exc:  # noqa: BLE001 - any failure of the job is reported on its status
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"

        future.add_done_callback(done)
        return job
