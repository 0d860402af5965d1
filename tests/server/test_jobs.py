"""JobManager and WorkerPool (server/_jobs.py) with a real spawned worker process."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import pytest

from leapscope.server._jobs import Job, JobManager, WorkerPool
from tests.server import _job_fns

TIMEOUT = 60.0  # a spawned worker imports numpy-free test code: seconds, even on a loaded machine


def wait(job: Job, timeout: float = TIMEOUT) -> Job:
    deadline = time.monotonic() + timeout
    while job.status == "running":
        assert time.monotonic() < deadline, f"job {job.id} ({job.kind}) still running after {timeout} s"
        time.sleep(0.05)
    return job


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool("test-jobs")
    yield workers
    workers.shutdown()


def test_a_job_runs_in_the_worker_and_completes(pool: WorkerPool) -> None:
    jobs = JobManager(pool)
    job = jobs.start("add", "run1", (), _job_fns.add, 2, 3)
    assert jobs.jobs[job.id] is job and job.kind == "add" and job.run_id == "run1"
    wait(job)
    assert (job.status, job.result, job.error) == ("complete", 5, None)
    assert job.finished is not None and job.finished >= job.started
    body = job.to_dict()
    assert set(body) == {"id", "kind", "run_id", "status", "error", "seconds"} and body["status"] == "complete"
    assert body["seconds"] == round(job.finished - job.started, 2)
    worker = pool.submit(_job_fns.pid).result(TIMEOUT)
    assert worker != os.getpid() and worker in pool.pids()


def test_a_failing_job_reports_its_error(pool: WorkerPool) -> None:
    job = wait(JobManager(pool).start("fail", "run1", (), _job_fns.fail, "bad input"))
    assert job.status == "failed" and job.error == "ValueError: bad input" and job.result is None


def test_one_job_per_kind_run_and_key_while_it_runs(pool: WorkerPool) -> None:
    jobs = JobManager(pool)
    first = jobs.start("projection", "run1", ("umap", "latent"), _job_fns.sleep, 0.5)
    again = jobs.start("projection", "run1", ("umap", "latent"), _job_fns.sleep, 0.5)
    other = jobs.start("projection", "run1", ("tsne", "latent"), _job_fns.add, 1, 1)
    assert again is first and other.id != first.id
    wait(first), wait(other)
    assert first.status == other.status == "complete"
    # once finished, the same key starts a new job
    later = jobs.start("projection", "run1", ("umap", "latent"), _job_fns.add, 0, 0)
    assert later.id != first.id and wait(later).result == 0
    assert set(jobs.jobs) == {first.id, other.id, later.id}


def test_a_crashed_worker_fails_its_job_and_is_replaced() -> None:
    workers = WorkerPool("test-crash")
    try:
        jobs = JobManager(workers)
        crashed = wait(jobs.start("crash", "run1", (), _job_fns.crash))
        assert crashed.status == "failed" and "BrokenProcessPool" in (crashed.error or "")
        # the next job gets a new worker process
        assert wait(jobs.start("add", "run1", (), _job_fns.add, 1, 2)).result == 3
        # the async path (visuals) says which worker crashed, and the pool recovers too
        with pytest.raises(RuntimeError, match="the test-crash worker crashed"):
            asyncio.run(workers.run(_job_fns.crash, timeout=TIMEOUT))
        assert asyncio.run(workers.run(_job_fns.add, 2, 2, timeout=TIMEOUT)) == 4
    finally:
        workers.shutdown()


def test_shutdown_ends_the_worker_and_fails_its_jobs() -> None:
    workers = WorkerPool("test-shutdown")
    jobs = JobManager(workers)
    running = jobs.start("sleep", "run1", (), _job_fns.sleep, 60)
    # one worker: these wait behind the first; the pool hands one on to the worker's queue at
    # once (it ends with the process), the other is still pending and is cancelled
    handed_on = jobs.start("sleep", "run2", (), _job_fns.sleep, 60)
    queued = jobs.start("sleep", "run3", (), _job_fns.sleep, 60)
    deadline = time.monotonic() + TIMEOUT
    while not workers.pids():
        assert time.monotonic() < deadline, "the worker process never started"
        time.sleep(0.05)
    pids = workers.pids()
    workers.shutdown()
    assert workers.pids() == []
    for pid in pids:  # the process is gone (reaped by the pool's join)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for job in (running, handed_on, queued):
        assert wait(job, 10).status == "failed" and job.finished is not None
    assert running.error is not None and running.error.startswith("BrokenProcessPool")
    assert queued.error == "cancelled: the server stopped"
    # a stopped pool starts again on the next job
    assert wait(jobs.start("add", "run4", (), _job_fns.add, 4, 5)).result == 9
    workers.shutdown()
