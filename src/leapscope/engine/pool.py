"""The encoding workers: forked processes that run the user's encoders ahead of the model loop.

:func:`start_workers` sets :data:`leapscope.engine.encode.STATE` and forks before the
model is loaded, so workers inherit the integration and its subsets (no second
preprocess) and no runtime thread pools exist yet. Each worker exits when the
evaluating process dies (even by ``kill -9``) and takes the run's secret.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

from leapscope.engine import encode
from leapscope.engine.encode import EncodedBatch, EncodeState, encode_batch
from leapscope.engine.plan import Plan
from leapscope.integration._validate import ShapeTracker
from leapscope.sdk._decorators import Integration
from leapscope.sdk._runtime import SECRET_ENV
from leapscope.sdk._subset import Subset

__all__ = ["BatchJob", "encoded_stream", "start_workers", "stop_workers"]

#: (chunk index, subset name, sample ids of one batch)
BatchJob = tuple[int, str, list[Any]]


def start_workers(
    integration: Integration, subsets: list[Subset], n_workers: int, plan: Plan
) -> cf.ProcessPoolExecutor | None:
    """Fork ``n_workers`` encoding processes (None: encode in this process, when 0 or fork is unavailable).

    The plan's first sample is encoded here first: it fixes the reference shapes every worker checks against.
    """
    tracker = ShapeTracker()
    encode.STATE = EncodeState(integration, {s.name: s for s in subsets}, tracker)
    if plan.chunks:  # fix the reference shapes from the first sample so every worker checks against it
        subset, ids = plan.chunks[0]
        encode_batch(subset, ids[:1])
    if n_workers <= 0 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    executor = cf.ProcessPoolExecutor(
        n_workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=encode.init_worker,
        initargs=(os.getpid(), os.environ.get(SECRET_ENV)),
    )
    cf.wait([executor.submit(os.getpid) for _ in range(n_workers)])
    return executor


def stop_workers(executor: cf.ProcessPoolExecutor | None) -> None:
    """Shut the workers down (pending batches cancelled) and drop the encode state."""
    if executor is not None:
        executor.shutdown(cancel_futures=True)
    encode.STATE = None


def encoded_stream(
    executor: cf.ProcessPoolExecutor | None, jobs: list[BatchJob], fail_fast: bool, read_ahead: int
) -> Iterator[EncodedBatch]:
    """The encoded batches of ``jobs``, in order; with workers, up to ``read_ahead`` batches are in flight."""
    if executor is None:
        for _, subset, ids in jobs:
            yield encode_batch(subset, ids, fail_fast)
        return
    in_flight: collections.deque[cf.Future[EncodedBatch]] = collections.deque()
    pending = iter(jobs)
    depth = max(1, read_ahead)
    for _, subset, ids in pending:
        in_flight.append(executor.submit(encode_batch, subset, ids, fail_fast))
        if len(in_flight) >= depth:
            break
    while in_flight:
        result = in_flight.popleft().result()
        nxt = next(pending, None)
        if nxt is not None:
            in_flight.append(executor.submit(encode_batch, nxt[1], nxt[2], fail_fast))
        yield result
