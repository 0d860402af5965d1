"""The explanation pool: heatmaps run in their own bounded set of worker processes.

Heatmaps (gradients through the model, occlusion) cost 0.1 s to many seconds; visuals cost a
few milliseconds. Each kind has its own workers, so a visual never queues behind a heatmap:

- at most ``workers`` explanation processes (spawned on demand; default one per two cores,
  1 to 4: :func:`default_workers`), each running at a lower CPU priority (``nice``) with torch capped at
  ``cpu_count // workers`` threads, so the server and the visuals worker get the CPU first;
- they are processes, not threads, because an explanation runs the user's integration code
  (encoders, visualizers), which never runs in the server process;
- a request goes to an idle worker that already holds the run's model (each worker keeps its
  runs warm, see :mod:`leapscope.server._render`), else to any idle one, else it waits (FIFO);
- identical requests in flight are computed once (the second one joins the first);
- a waiting request is *superseded* when the same client (``client`` parameter) asks for
  another explanation of the same sample of the same run: it is dropped before it starts
  and answers 409 ``Superseded`` (:class:`SupersededError`). One that is already computing
  runs to its end (stopping it would mean killing its worker and its warm model).

All of this state is touched from the event loop only (the routes are ``async``).
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from leapscope.exceptions import LeapscopeError
from leapscope.server import _render
from leapscope.server._jobs import WorkerPool

__all__ = ["MAX_CLIENT_KEYS", "ExplainPool", "SupersededError", "default_workers"]

#: (client, run, sample) keys remembered for superseding
MAX_CLIENT_KEYS = 4096


class SupersededError(LeapscopeError):
    """A waiting explanation request was replaced by a newer one of the same client and sample (HTTP 409)."""


def default_workers() -> int:
    """One explanation worker per two cores, at least 1 and at most 4 (1 on a 2-core machine: the
    server and the visuals worker keep the other core, and a run's model is loaded once)."""
    return min(4, max(1, (os.cpu_count() or 1) // 2))


class _Waiter:
    def __init__(self, run_id: str, supersede: tuple[str, ...] | None):
        self.run_id = run_id
        self.supersede = supersede
        self.future: asyncio.Future[int] = asyncio.get_running_loop().create_future()


class ExplainPool:
    """A bounded pool of explanation worker processes (see the module docstring).

    Parameters
    ----------
    workers : int, optional
        Most processes (default :func:`default_workers`).
    nice : int
        CPU niceness added in each worker (0: same priority as the server).
    timeout : float
        Seconds one explanation may take before the request fails (the worker keeps going).
    """

    def __init__(self, workers: int | None = None, *, nice: int = 10, timeout: float = 300.0):
        self.size = max(1, workers if workers is not None else default_workers())
        threads = max(1, (os.cpu_count() or 1) // self.size)
        self._slots = [
            WorkerPool(f"explain-{i}", initializer=_render.explain_worker_init, initargs=(nice, threads))
            for i in range(self.size)
        ]
        self.timeout = timeout
        self._busy = [False] * self.size
        self._warm: list[set[str]] = [set() for _ in range(self.size)]
        self._waiting: deque[_Waiter] = deque()
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self._latest: OrderedDict[tuple[str, ...], tuple[Any, ...]] = OrderedDict()  # the last MAX_CLIENT_KEYS
        self._prewarming: set[str] = set()
        self.prewarm_errors: dict[str, str] = {}  # run id -> why loading it ahead failed (diagnostics)
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = 0  # explanations that reached a worker (for tests and diagnostics)
        self.superseded = 0

    # ------------------------------------------------------------------------------ slots

    def _free_slot(self, run_id: str) -> int | None:
        idle = [i for i in range(self.size) if not self._busy[i]]
        if not idle:
            return None
        warm = [i for i in idle if run_id in self._warm[i]]
        # a warm worker first; else a started one (its imports are paid); else the next to start
        started = [i for i in idle if self._slots[i].pids()]
        return (warm or started or idle)[0]

    async def _acquire(self, run_id: str, supersede: tuple[str, ...] | None) -> int:
        slot = self._free_slot(run_id) if not self._waiting else None
        if slot is not None:
            self._busy[slot] = True
            return slot
        waiter = _Waiter(run_id, supersede)
        self._waiting.append(waiter)
        try:
            return await waiter.future  # the slot handed over by _release (or SupersededError)
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                self._release(waiter.future.result())  # handed a slot just as this request was cancelled
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            raise

    def _release(self, slot: int) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.future.done():
                waiter.future.set_result(slot)  # stays busy: handed over
                return
        self._busy[slot] = False

    def _supersede(self, key: tuple[str, ...], request: tuple[Any, ...]) -> None:
        """Drop the waiting requests of ``key`` that ask for something other than ``request``."""
        previous = self._latest.pop(key, None)
        self._latest[key] = request
        while len(self._latest) > MAX_CLIENT_KEYS:
            self._latest.popitem(last=False)
        if previous is None or previous == request:
            return
        for waiter in list(self._waiting):
            if waiter.supersede == key and not waiter.future.done():
                self._waiting.remove(waiter)
                waiter.future.set_exception(
                    SupersededError(
                        "explanation: superseded by a newer request of the same client for this sample "
                        f"({', '.join(str(p) for p in request[2:] if p)}); nothing was computed"
                    )
                )
                self.superseded += 1

    # ------------------------------------------------------------------------------ requests

    def prewarm(self, workspace: str, run_id: str) -> None:
        """Load ``run_id`` in an idle worker now (a sample page opened: its heatmap request follows).

        Nothing when a worker already holds the run, is loading it, or none is idle; never waits.
        Call it from the event loop.
        """
        if run_id in self._prewarming or any(run_id in warm for warm in self._warm) or self._waiting:
            return
        slot = self._free_slot(run_id)
        if slot is None:
            return
        self._busy[slot] = True
        self._prewarming.add(run_id)

        async def load() -> None:
            try:
                await self._slots[slot].run(_render.warm_context, workspace, run_id, timeout=self.timeout)
                self._warm[slot].add(run_id)
            except Exception as exc:  # noqa: BLE001 - the heatmap request that follows reports the failure
                self.prewarm_errors[run_id] = f"{type(exc).__name__}: {exc}"
            finally:
                self._prewarming.discard(run_id)
                self._release(slot)

        task = asyncio.get_running_loop().create_task(load())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        """Start the first worker process now (its imports are paid before the first heatmap)."""
        self._slots[0].start()

    async def run(
        self,
        fn: Callable[..., Any],
        workspace: str,
        run_id: str,
        *args: Any,
        supersede: tuple[str, ...] | None = None,
    ) -> Any:
        """``fn(workspace, run_id, *args)`` in an explanation worker.

        ``supersede``: a key such as ``(client, subset, sample_id)``; a newer request of the same
        run and key with other arguments drops this one while it waits.

        Raises
        ------
        SupersededError
            A newer request with the same ``supersede`` key came while this one waited.
        RuntimeError
            The worker crashed (it is restarted) or took longer than ``timeout``.
        """
        request = (getattr(fn, "__name__", str(fn)), run_id, *args)
        key = (run_id, *supersede) if supersede else None
        if key is not None:
            self._supersede(key, request)
        joined = self._inflight.get(request)
        if joined is not None:
            return await asyncio.shield(joined)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[request] = future
        try:
            slot = await self._acquire(run_id, key)
        except BaseException as exc:
            self._inflight.pop(request, None)
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # joined requests see it; nobody else needs to retrieve it
            else:
                future.cancel()
            raise
        try:
            self.started += 1
            result = await self._slots[slot].run(fn, workspace, run_id, *args, timeout=self.timeout)
            self._warm[slot].add(run_id)
            future.set_result(result)
            return result
        except TimeoutError:
            slow = RuntimeError(
                f"explanation ({', '.join(str(a) for a in args if a)}) took more than {self.timeout:.0f} s; "
                "fix: choose a cheaper method (saliency, gradcam) or a smaller target"
            )
            future.set_exception(slow)
            future.exception()
            raise slow from None
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()
            else:
                future.cancel()
            raise
        finally:
            self._inflight.pop(request, None)
            self._release(slot)

    def pids(self) -> list[int]:
        """Process ids of the live explanation workers."""
        return [pid for slot in self._slots for pid in slot.pids()]

    def shutdown(self) -> None:
        """End every explanation worker (pending work is cancelled)."""
        for slot in self._slots:
            slot.shutdown()
        self._warm = [set() for _ in range(self.size)]
