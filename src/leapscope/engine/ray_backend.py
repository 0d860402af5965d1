"""Scale-out: evaluate a run's chunks on a pool of Ray actors; the driver commits them exactly once.

``evaluate(..., ray="local" | "auto" | ADDRESS)`` (CLI ``--ray``) runs the same evaluation as a
local one, with one difference of *where* the work happens::

    driver (this process)                               Ray actors (one per CPU, each loads once)
    load integration, plan chunks, prepare (model,      load the integration by path, preprocess,
    integration test, wiring), claim the run   ──────▶  model, integration test; then per chunk:
    commit each chunk once (parts + progress.json) ◀──  encode ─▶ predict ─▶ losses/metrics ─▶ rows
    merge (finalize), final status                      returns (Arrow table, latent blocks, errors)

The driver owns ``progress.json`` and the run lock, exactly as a local run: a chunk is written
only by the driver, once (an index already committed is never written again), so a killed
driver resumes like a local run (locally or on Ray: the config, and so the run, are the same).
An actor that dies is restarted by Ray (``max_restarts``) and its task retried there
(``max_task_retries``); one killed for good (``ray.kill``) is replaced and its chunks are sent
to the pool again. Actors are owned by the driver: Ray stops them when the driver exits.

The run's secret (``AUTH_SECRET``) reaches the actors as an argument of their constructor
(Ray's RPC and its in-memory actor table), never through ``runtime_env``, a file or the
environment of a started cluster; the actors redact it from errors and logs as a local
worker does. Ray itself is an optional dependency: ``pip install 'leapscope[ray]'``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from leapscope.engine._ray_worker import ChunkResult, ChunkWorker, WorkerSpec
from leapscope.engine.chunks import Progress
from leapscope.engine.config import EvaluateConfig, EvaluateOptions
from leapscope.engine.plan import Plan
from leapscope.engine.resume import ResumePoint, resume_point
from leapscope.engine.setup import Setup
from leapscope.exceptions import LeapscopeError
from leapscope.integration import LoadedIntegration
from leapscope.sdk._runtime import SECRET_ENV, redact
from leapscope.store import RunWriter

__all__ = ["RayCluster", "close_cluster", "evaluate_chunks_ray", "import_ray", "open_cluster"]

logger = logging.getLogger("leapscope.engine")

INSTALL_FIX = "pip install 'leapscope[ray]'"
#: seconds to wait for a TCP connection to a cluster's address before calling it unreachable
CONNECT_TIMEOUT_S = 5.0
#: chunks queued per actor (one running, one waiting, so an actor never idles between chunks)
DEPTH = 2
#: actor names start with this (``leapscope:<driver pid>-<token>:<n>``), in the driver's namespace
ACTOR_PREFIX = "leapscope:"


def import_ray() -> ModuleType:
    """The ``ray`` module. Raises :class:`LeapscopeError` saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise LeapscopeError(
            f"evaluate(ray=...): Ray is not installed in this environment; fix: {INSTALL_FIX} "
            "(or evaluate without --ray)"
        ) from None
    return ray


@dataclass
class RayCluster:
    """A Ray connection for one evaluation: ``actors`` is the pool size; ``owned`` when this evaluation opened the
    connection (and closes it: a ``local`` cluster is then shut down); ``pool`` the actors started for it."""

    ray: ModuleType
    address: str
    actors: int
    owned: bool
    pool: _Pool | None = None


def _parse_address(target: str) -> tuple[str, int]:
    bare = target.split("://", 1)[1] if "://" in target else target
    host, sep, port = bare.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise LeapscopeError(
            f"evaluate(ray={target!r}): not a Ray address; expected 'local', 'auto', HOST:PORT (the GCS address "
            "`ray start --head` prints) or ray://HOST:PORT; fix: pass one of those"
        )
    return host, int(port)


def _probe(target: str, source: str) -> None:
    """Fail in seconds, not minutes (Ray retries an unreachable GCS for a long time), when nothing listens there."""
    host, port = _parse_address(target)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise LeapscopeError(
            f"evaluate(ray={source!r}): cannot reach a Ray cluster at {host}:{port} ({type(exc).__name__}: {exc}); "
            "fix: start one (`ray start --head`) and pass the address it prints, or use --ray local to start one "
            "for this run"
        ) from None


def open_cluster(
    options: EvaluateOptions,
    loaded: LoadedIntegration | None = None,
    config: EvaluateConfig | None = None,
    plan: Plan | None = None,
) -> RayCluster | None:
    """Connect to the cluster ``options.ray`` names (None when the run is local) and, given the integration,
    config and plan, start the run's actors at once (they load while the driver loads the model).

    ``local`` starts a cluster of ``options.workers`` CPUs (default: this machine's cores) for
    this run; ``auto`` connects to ``$RAY_ADDRESS`` (or the cluster ``ray start`` last started
    on this machine); anything else is an address. A Ray connection already open in this
    process is used as it is (and left open). Raises :class:`LeapscopeError` when Ray is not
    installed, the address is malformed or unreachable, or ``auto`` finds no cluster.
    """
    target = options.ray
    if not target:
        return None
    cluster = _connect(target, options.workers)
    if loaded is not None and config is not None and plan is not None and plan.chunks:
        try:
            cluster.pool = _Pool(cluster, loaded, config, plan, options)
            cluster.pool.start(min(cluster.actors, len(plan.chunks)))
        except BaseException:
            close_cluster(cluster)
            raise
    return cluster


def _connect(target: str, workers: int | None) -> RayCluster:
    ray = import_ray()
    address = (os.environ.get("RAY_ADDRESS") or "auto") if target == "auto" else target
    if address not in ("auto", "local"):
        _probe(address, target)
    if ray.is_initialized():
        return RayCluster(ray, "current", _pool_size(ray, workers), owned=False)
    if address == "local":
        cpus = workers or max(1, os.cpu_count() or 1)
        secret = os.environ.pop(SECRET_ENV, None)  # the cluster's processes must not inherit the secret
        try:
            # Ray's own start-up notes (token setup, dashboard) are not the user's business; errors still show
            context = ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR)
        finally:
            if secret is not None:
                os.environ[SECRET_ENV] = secret
        return RayCluster(ray, str(context.address_info.get("address", "local")), cpus, owned=True)
    try:
        context = ray.init(address=address, logging_level=logging.ERROR)
    except ConnectionError as exc:
        raise LeapscopeError(
            f"evaluate(ray={target!r}): no Ray cluster found ({exc}); fix: set RAY_ADDRESS to the cluster's address, "
            "start one on this machine (`ray start --head`), or use --ray local"
        ) from None
    return RayCluster(ray, str(context.address_info.get("address", address)), _pool_size(ray, workers), True)


def _pool_size(ray: ModuleType, workers: int | None) -> int:
    return workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def close_cluster(cluster: RayCluster | None) -> None:
    """Stop the run's actors; disconnect when :func:`open_cluster` connected (a ``local`` cluster is shut down)."""
    if cluster is None:
        return
    if cluster.pool is not None:
        cluster.pool.stop()
    if cluster.owned:
        cluster.ray.shutdown()


def evaluate_chunks_ray(
    cluster: RayCluster, setup: Setup, plan: Plan, run_dir: Path, options: EvaluateOptions
) -> dict[str, Any]:
    """Evaluate every chunk not done yet on ``cluster``'s actors, commit each once, then merge the run.

    Returns the run's counts, as :func:`leapscope.engine.chunks.evaluate_chunks` does.
    Raises the :class:`LeapscopeError` of an actor that cannot rebuild the evaluation, of the
    first failing sample with fail-fast, or when actors keep dying.
    """
    writer = RunWriter(run_dir)
    writer.remove_temp_files()  # of writes a killed driver left behind (this process holds the run lock)
    point = resume_point(writer, plan)
    if not point.committed:
        if cluster.pool is None:  # open_cluster was not given the plan
            cluster.pool = _Pool(cluster, setup.loaded, setup.config, plan, options)
        cluster.pool.run(setup, writer, point)
    record = writer.finalize(len(plan.chunks), list(setup.spaces), plan.digest)  # idempotent: see RunWriter
    return {"samples": plan.total, "failed": int(record["failed"]), "subsets": plan.counts}


#: a chunk to evaluate: (index, subset, sample ids)
_Job = tuple[int, str, list[Any]]


class _Pool:
    """The actors of one evaluation and the chunks in flight on them."""

    def __init__(
        self,
        cluster: RayCluster,
        loaded: LoadedIntegration,
        config: EvaluateConfig,
        plan: Plan,
        options: EvaluateOptions,
    ):
        self.ray, self.plan, self.options = cluster.ray, plan, options
        self.size, self.pool_id = cluster.actors, f"{os.getpid()}-{secrets.token_hex(3)}"
        first = (plan.chunks[0][0], plan.chunks[0][1][0]) if plan.chunks and plan.chunks[0][1] else None
        self.spec = WorkerSpec(
            entry=str(loaded.entry),
            config=config.to_dict(),
            code_hash=loaded.code_hash,
            plan_digest=plan.digest,
            first_sample=first,
            fail_fast=options.fail_fast,
        )
        self.setup: Setup | None = None
        self.actor_class = self.ray.remote(num_cpus=1, max_restarts=1, max_task_retries=1)(ChunkWorker)
        self.actors: dict[int, Any] = {}  # key -> handle of every live actor
        self.ready: set[int] = set()  # keys of the actors that loaded the evaluation
        self.warming: dict[Any, int] = {}  # ``ready()`` ref -> key of an actor still loading
        self.started = 0
        self.replacements = 0
        self.t0 = time.perf_counter()
        #: driver seconds spent receiving and committing chunks, and the rows it committed
        self.busy_s, self.rows = 0.0, 0

    def _start_actor(self) -> int:
        """Create one actor; it is used once its ``ready()`` answers (the pool does not wait for it)."""
        key = self.started
        self.started += 1
        name = f"{ACTOR_PREFIX}{self.pool_id}:{key}"
        actor = self.actor_class.options(name=name).remote(self.spec, os.environ.get(SECRET_ENV))
        self.actors[key] = actor
        self.warming[actor.ready.remote()] = key
        return key

    def _became_ready(self, ref: Any) -> None:
        key = self.warming.pop(ref)
        try:
            failure = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:  # died while loading: replaced
            self._actor_failed(key, exc)
            return
        if failure["failure"] is not None:
            kind, message = failure["failure"]
            raise LeapscopeError(f"evaluate(ray=...): a Ray worker could not load the evaluation: {kind}: {message}")
        setup = self.setup
        assert setup is not None  # noqa: S101 - set by run(), the only caller
        if failure["model_hash"] != setup.model_hash or failure["spaces"] != list(setup.spaces):
            raise LeapscopeError(
                f"evaluate(ray=...): a Ray worker loaded another model than the driver (hash "
                f"{str(failure['model_hash'])[:12]} != {setup.model_hash[:12]}, latent spaces {failure['spaces']} vs "
                f"{list(setup.spaces)}); fix: give every node the same model file"
            )
        self.ready.add(key)
        if len(self.ready) == 1:
            logger.info("first Ray worker ready after %.1f s", time.perf_counter() - self.t0)

    def start(self, n: int) -> None:
        """Start ``n`` actors (they load the evaluation while the driver prepares its own)."""
        for _ in range(n):
            self._start_actor()

    def stop(self) -> None:
        """Kill every actor of the pool (chunks in flight are dropped: none of them is committed)."""
        for actor in self.actors.values():
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.actors.clear()
        self.ready.clear()
        self.warming.clear()

    def run(self, setup: Setup, writer: RunWriter, point: ResumePoint) -> None:
        """Evaluate the chunks ``point`` lacks and commit each as it arrives (in any order)."""
        ray = self.ray
        self.setup = setup
        plan, first_rows = self.plan, self.plan.first_rows()
        progress = Progress(plan, point.done, self.options.on_progress)
        queue: collections.deque[_Job] = collections.deque(
            (i, subset, ids) for i, (subset, ids) in enumerate(plan.chunks) if i not in point.done
        )
        if not queue:
            return
        committed: set[int] = set(point.done)
        inflight: dict[Any, tuple[int, _Job]] = {}
        load: collections.Counter[int] = collections.Counter()

        def fill() -> None:
            for key in sorted(self.ready):
                while queue and load[key] < DEPTH:
                    job = queue.popleft()
                    ref = self.actors[key].evaluate.remote(job[0], job[1], job[2], first_rows[job[0]])
                    inflight[ref] = (key, job)
                    load[key] += 1

        try:
            if not self.actors:
                self.start(min(self.size, len(queue)))
            while inflight or (queue and self.warming):
                (ref,), _ = ray.wait([*inflight, *self.warming], num_returns=1)
                if ref in self.warming:
                    self._became_ready(ref)
                    fill()
                    continue
                key, job = inflight.pop(ref)
                load[key] -= 1
                busy = time.perf_counter()
                try:
                    result: ChunkResult = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    queue.appendleft(job)  # evaluated again on a live actor; nothing of it was committed
                    self._actor_failed(key, exc)
                    fill()
                    continue
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from None
                    raise
                del ref
                if job[0] not in committed:  # a retried task may deliver a chunk twice: store it once
                    self._commit(writer, point, job, result)
                    committed.add(job[0])
                    self.rows += len(job[2])
                    self.busy_s += time.perf_counter() - busy
                    progress.advance(job[1], len(job[2]))
                fill()
            logger.info(
                "Ray: the driver committed %d rows in %.2f s of its time (%.0f rows/s)",
                self.rows,
                self.busy_s,
                self.rows / max(self.busy_s, 1e-9),
            )
            if queue:  # pragma: no cover - the loop ends with chunks left only when no actor is live or loading
                raise LeapscopeError("evaluate(ray=...): no Ray worker is left to evaluate the remaining chunks")
        finally:
            self.stop()

    def _actor_failed(self, key: int, exc: Exception) -> None:
        """Replace a dead actor (a bounded number of times); an unavailable one is kept (Ray restarts it)."""
        ray = self.ray
        if key not in self.actors:  # another chunk of an actor already replaced
            return
        if not isinstance(exc, ray.exceptions.ActorDiedError):
            logger.warning("Ray worker %s unavailable; its chunk is sent again: %s", key, _first_line(exc))
            return
        del self.actors[key]
        self.ready.discard(key)
        self.replacements += 1
        if self.replacements > 2 * self.size + 2:
            raise LeapscopeError(
                f"evaluate(ray=...): Ray workers keep dying ({self.replacements} replaced); last: {_first_line(exc)}; "
                "fix: check the cluster's memory (`ray status`) and the worker logs, or use fewer --workers"
            )
        new = self._start_actor()
        logger.warning("Ray worker %s died; its chunks are sent again, to worker %s: %s", key, new, _first_line(exc))

    def _commit(self, writer: RunWriter, point: ResumePoint, job: _Job, result: ChunkResult) -> None:
        """Write one evaluated chunk (the checkpoint), with its latent blocks conformed to the run's dims."""
        index, subset, ids = job
        if result.table.num_rows != len(ids):  # pragma: no cover - an actor always returns one row per sample
            raise LeapscopeError(
                f"evaluate(ray=...): chunk {index} of {subset} came back with {result.table.num_rows} rows, "
                f"expected {len(ids)}"
            )
        assert self.setup is not None  # noqa: S101 - set by run(), the only caller
        latents = conform_latents(result.latents, list(self.setup.spaces), point.dims, len(ids))
        writer.write_chunk(index, result.table, latents, result.errors, {"plan": self.plan.digest, "dims": point.dims})


def conform_latents(
    blocks: dict[str, np.ndarray], spaces: list[str], dims: dict[str, int], rows: int
) -> dict[str, np.ndarray]:
    """Space -> (rows, D) float32 blocks with the run's D per space (as :func:`leapscope.engine.rows.latent_blocks`:
    ``dims`` is read and fixed by the first chunk that has a D; a block of another D becomes NaN vectors)."""
    out = {}
    for space in spaces:
        block = blocks.get(space)
        if block is None:
            block = np.full((rows, 0), np.nan, np.float32)
        dim = dims.get(space) or block.shape[1]
        dims[space] = dim
        out[space] = block if block.shape[1] == dim else np.full((rows, dim), np.nan, np.float32)
    return out


def _first_line(exc: BaseException) -> str:
    text = redact(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
