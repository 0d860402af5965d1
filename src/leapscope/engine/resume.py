"""A run's life in the catalog: claimed (new, or a stopped run resumed) under its lock, resumed from its last
durable chunk, and finished as complete or failed.

One process evaluates a run at a time: the run's lock (:class:`leapscope.store.RunLock`,
an OS file lock released even by ``kill -9``) is held from choosing the run until its
status is final. A run killed after its merge was committed only finishes; one killed
earlier continues after its last chunk in ``progress.json``, under the same plan.
A full disk leaves a run 'running' (the same command resumes it once space is free).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from leapscope.engine.config import EvaluateConfig
from leapscope.engine.manifest import dependencies
from leapscope.engine.plan import Plan
from leapscope.exceptions import DiskFullError, StoreError
from leapscope.sdk._runtime import redact
from leapscope.store import (
    SAMPLES_FILE,
    Run,
    RunLock,
    RunLockedError,
    RunRow,
    RunWriter,
    VersionRow,
    Workspace,
    summarize,
)

__all__ = [
    "Claim",
    "ResumePoint",
    "claim_run",
    "find_resumable",
    "finish_run",
    "new_run_id",
    "record_failure",
    "resume_point",
]

logger = logging.getLogger("leapscope.engine")


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-<6 hex>``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class Claim:
    """The run this process evaluates, with its lock held; ``lock`` is None when the run turned out complete."""

    run_id: str
    lock: RunLock | None


def find_resumable(ws: Workspace, version_id: int, config: EvaluateConfig) -> tuple[RunRow | None, RunLock | None]:
    """The latest stopped run of this version and config, with its lock now held; else (None, None).

    A run whose lock another process holds is being evaluated, so it is skipped.
    """
    for row in reversed(ws.catalog.runs()):
        if row.version_id == version_id and row.status == "running" and row.config == config.to_dict():
            try:
                lock = RunLock(ws.run_dir(row.id)).acquire()
            except RunLockedError:
                continue
            logger.warning("resuming run %s (stopped before it completed)", row.id)
            return row, lock
    return None, None


def claim_run(ws: Workspace, version: VersionRow, config: EvaluateConfig, resumed: RunRow | None) -> Claim:
    """Take the run to evaluate: ``resumed`` (``--resume``), else a stopped run of this version and config,
    else a new run (registered in the catalog). The lock is released again if claiming fails.

    Raises :class:`StoreError` when ``resumed`` belongs to another version, :class:`RunLockedError`
    when another process evaluates it.
    """
    lock: RunLock | None = None
    if resumed is None:
        resumed, lock = find_resumable(ws, version.id, config)
    try:
        if resumed is None:
            run_id = new_run_id()
            lock = RunLock(ws.run_dir(run_id)).acquire()  # before the catalog row: no other process may resume it
            ws.catalog.create_run(run_id, version, config.to_dict(), dependencies(), os.getpid())
            return Claim(run_id, lock)
        if resumed.version_id != version.id:
            raise StoreError(
                f"run {resumed.id} was started with another model or integration code; fix: evaluate without "
                "--resume to start a new run"
            )
        lock = (
            lock or RunLock(ws.run_dir(resumed.id)).acquire()
        )  # RunLockedError: "run RID is being evaluated by pid N"
        if ws.catalog.run(resumed.id).status == "complete":  # finished meanwhile by the process that held the lock
            lock.release()
            return Claim(resumed.id, None)
        ws.catalog.update_run(resumed.id, pid=os.getpid(), status="running", error=None)
        return Claim(resumed.id, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


@dataclass
class ResumePoint:
    """Where a run's chunk loop starts: ``done`` chunks (index -> progress record), latent ``dims``
    (space -> D) of the chunks written so far; ``committed`` when the merge is already durable."""

    done: dict[int, Any]
    dims: dict[str, int]
    committed: bool = False


def resume_point(writer: RunWriter, plan: Plan) -> ResumePoint:
    """Read the run's commit marker and progress.json. Raises :class:`StoreError` when they belong to another plan."""
    fix = "fix: evaluate without --resume to start a new run"
    committed = writer.committed()
    if committed is not None:  # killed after the merge was durable: only clean up
        if committed.get("plan") not in (None, plan.digest):
            raise StoreError(
                f"run {writer.dir.name} cannot resume: its merged files belong to another plan ({committed['plan']} != "
                f"{plan.digest}); {fix}"
            )
        return ResumePoint({}, {}, committed=True)
    progress = writer.progress()
    if progress.get("plan") not in (None, plan.digest):
        raise StoreError(
            f"run {writer.dir.name} cannot resume: the subsets changed since it started (plan {progress['plan']} != "
            f"{plan.digest}); {fix}"
        )
    intact = writer.intact_chunks(progress)  # a chunk whose parts a crash lost is evaluated again
    return ResumePoint({int(k): v for k, v in intact.items()}, progress.get("dims", {}))


def record_failure(ws: Workspace, run_id: str, exc: BaseException) -> None:
    """Record why a run stopped. A full disk leaves it 'running' (resumed by the same command once space is free);
    anything else marks it 'failed' (``--resume RUN_ID`` still continues it)."""
    error = redact(f"{type(exc).__name__}: {exc}")[:2000]
    try:
        if isinstance(exc, DiskFullError):
            ws.catalog.update_run(run_id, error=error, pid=None)
        else:
            ws.catalog.update_run(run_id, status="failed", error=error, finished_at=time.time())
    except StoreError as catalog_error:  # e.g. the catalog is on the same full disk: the original error matters more
        logger.warning("could not record the failure of run %s in the catalog: %s", run_id, catalog_error)


def finish_run(ws: Workspace, claim: Claim, counts: dict[str, Any], started: float) -> Run:
    """Record the run's final status, counts and summary, release its lock and open it.

    Raises :class:`StoreError` when every sample failed (the run is then 'failed').
    """
    run_id, run_dir = claim.run_id, ws.run_dir(claim.run_id)
    try:
        status = "failed" if counts["failed"] == counts["samples"] else "complete"
        summary = summarize(run_dir / SAMPLES_FILE) if status == "complete" else {}
        ws.catalog.update_run(
            run_id,
            status=status,
            finished_at=time.time(),
            seconds=time.time() - started,
            counts=counts,
            summary=summary,
            error=None if status == "complete" else "every sample failed; see errors.parquet",
        )
    except BaseException as exc:  # never leave a run 'running' forever (it would be re-evaluated on every retry)
        record_failure(ws, run_id, exc)
        raise
    finally:
        if claim.lock is not None:
            claim.lock.release()
    run = ws.open_run(run_id)
    if status == "failed":
        raise StoreError(
            f"run {run_id} failed: every one of its {counts['samples']} samples failed; see `{run_dir}/errors.parquet`"
        )
    return run
