"""Evaluate: stream every sample through the integration and the model into a run.

Pipeline (one chunk = ``chunk_size`` samples of one subset, split in batches)::

    workers (processes)      parent
    encode_batch ──────────▶ model.predict_with_latent ─▶ metrics, losses (batched)
                             ─▶ rows ─▶ chunk parts (Parquet, .npy) ─▶ progress.json

Where each step lives: :mod:`~leapscope.engine.config` (arguments), :mod:`~leapscope.engine.plan`
(subsets, chunks), :mod:`~leapscope.engine.pool` and :mod:`~leapscope.engine.encode` (workers),
:mod:`~leapscope.engine.setup` (model, integration test, wiring), :mod:`~leapscope.engine.resume`
(claim, lock, resume, final status), :mod:`~leapscope.engine.chunks` (the chunk loop),
:mod:`~leapscope.engine.scoring` (predictions, losses, metrics), :mod:`~leapscope.engine.rows`
(Arrow rows), :mod:`~leapscope.engine.manifest` (manifest.json).

Memory is bounded by the batches in flight and one chunk of rows; the merged
latent array is the only thing that grows with N (and it is written through a
memory map). A killed run resumes from its last durable chunk.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from leapscope.engine.chunks import evaluate_chunks
from leapscope.engine.config import EvaluateConfig, EvaluateOptions, ProgressCallback
from leapscope.engine.manifest import build_manifest
from leapscope.engine.plan import choose_subsets, make_plan
from leapscope.engine.pool import start_workers, stop_workers
from leapscope.engine.ray_backend import RayCluster, close_cluster, evaluate_chunks_ray, open_cluster
from leapscope.engine.resume import Claim, claim_run, finish_run, record_failure
from leapscope.engine.scoring import Scorer
from leapscope.engine.setup import prepare
from leapscope.integration import LoadedIntegration, load, load_subsets
from leapscope.sdk._runtime import with_secret_file
from leapscope.store import MANIFEST_FILE, Run, Workspace, write_json

__all__ = ["evaluate", "run_evaluation"]


@with_secret_file  # AUTH_SECRET is set for this call only, then restored
def evaluate(
    path: str | Path | LoadedIntegration,
    *,
    model: str | Path | None = None,
    workspace: str | Path | Workspace | None = None,
    project: str | None = None,
    version: str | None = None,
    subsets: Sequence[str] | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    latent: Sequence[str] | None = None,
    resume: str | None = None,
    max_samples: int | None = None,
    fail_fast: bool = False,
    secret_file: str | Path | None = None,
    chunk_size: int = 1024,
    on_progress: ProgressCallback | None = None,
    ray: str | None = None,
) -> Run:
    """Evaluate a model version on every sample and store the run.

    Parameters
    ----------
    path : integration folder, ``.py`` file or loaded integration
    model : path, optional
        Replaces the model the integration names.
    workspace : folder or Workspace, optional
        Default ``$LEAPSCOPE_WORKSPACE`` or ``~/.leapscope``.
    project, version : str, optional
        Default: the integration's name; a version per (model hash, code hash).
    subsets : list of str, optional
        Subset states to evaluate (default all).
    batch_size : int, default 64
    workers : int, optional
        Encoding processes (default: one per CPU core; 0 encodes in this process).
    latent : list of str, optional
        Layers whose pooled activations are stored (default: the model's default latent layer).
    resume : str, optional
        A run id to continue; without it, a killed run of the same version and
        config is resumed automatically.
    max_samples : int, optional
        Evaluate only the first N samples of each subset.
    fail_fast : bool
        Stop at the first failing sample instead of recording it.
    secret_file : path, optional
        Its content is exposed to the integration as ``AUTH_SECRET`` (never stored).
    chunk_size : int, default 1024
        Samples per checkpoint.
    on_progress : callable(subset, done, total), optional
    ray : str, optional
        Evaluate on Ray actors instead of local worker processes: ``"local"`` (a cluster of
        ``workers`` CPUs started for this run), ``"auto"`` (``$RAY_ADDRESS``) or a cluster
        address; the run is the same (see :mod:`leapscope.engine.ray_backend`). Needs
        ``pip install 'leapscope[ray]'``.

    Returns
    -------
    Run
        The completed run. Raises :class:`LeapscopeError` subclasses for an invalid
        integration, a failed run, or a resume that does not match.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    loaded = path if isinstance(path, LoadedIntegration) else load(path)
    config = EvaluateConfig.from_arguments(
        subsets=subsets,
        max_samples=max_samples,
        batch_size=batch_size,
        chunk_size=chunk_size,
        latent=latent,
        model=model,
    )
    options = EvaluateOptions(
        project=project,
        version=version,
        workers=workers,
        resume=resume,
        fail_fast=fail_fast,
        on_progress=on_progress,
        ray=ray,
    )
    return run_evaluation(ws, loaded, config, options)


def run_evaluation(ws: Workspace, loaded: LoadedIntegration, config: EvaluateConfig, options: EvaluateOptions) -> Run:
    """:func:`evaluate` with its arguments resolved: ``config`` (replaced by the stored one of ``options.resume``)."""
    integration = loaded.integration
    all_subsets = load_subsets(integration)
    resumed = ws.catalog.run(options.resume) if options.resume else None
    if resumed is not None:
        if resumed.status == "complete":
            return ws.open_run(resumed.id)
        config = EvaluateConfig(**resumed.config)
    plan = make_plan(choose_subsets(all_subsets, config.subsets), config)
    claim: Claim | None = None  # its lock is held from choosing the run until its status is final
    executor = start_workers(integration, all_subsets, 0 if options.ray else options.n_workers, plan)
    cluster: RayCluster | None = None  # with options.ray: Ray actors evaluate the chunks, not local workers
    try:
        cluster = open_cluster(options, loaded, config, plan)  # its actors load while this process prepares
        setup = prepare(loaded, all_subsets, config, plan)
        proj = ws.catalog.project(options.project or integration.name)
        ver = ws.catalog.version(proj, model_hash=setup.model_hash, code_hash=loaded.code_hash, name=options.version)
        claim = claim_run(ws, ver, config, resumed)
        if claim.lock is None:  # finished meanwhile by the process that held the lock
            return ws.open_run(claim.run_id)
        run_dir = ws.run_dir(claim.run_id)
        write_json(run_dir / MANIFEST_FILE, build_manifest(setup, claim.run_id, proj.name, ver.name))
        started = time.time()
        try:
            if cluster is not None:
                counts = evaluate_chunks_ray(cluster, setup, plan, run_dir, options)
            else:
                counts = evaluate_chunks(Scorer(setup, options.fail_fast), plan, run_dir, executor, options)
        except BaseException as exc:
            record_failure(ws, claim.run_id, exc)
            raise
    except BaseException:
        if claim is not None and claim.lock is not None:
            claim.lock.release()
        raise
    finally:
        stop_workers(executor)
        close_cluster(cluster)
    return finish_run(ws, claim, counts, started)
