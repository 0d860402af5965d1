"""The chunk loop: encoded batches -> scored -> rows -> chunk parts (the checkpoint), then the merge.

Only the chunks not yet durable are evaluated (see :func:`leapscope.engine.resume.resume_point`);
memory is bounded by the batches in flight and one chunk of rows.

Two stages overlap: this thread produces encoded batches (encoding them itself with
``workers=0``, else collecting them from the encoding processes) while a scoring thread
predicts, scores, assembles rows and writes each chunk. The model runtime, NumPy and the
Parquet writer release the GIL, so encoding runs while the model does. Batches stay in
plan order; progress is reported from this thread.

The seam for other executors (Ray actors): :func:`evaluate_chunk` turns ONE chunk into
its :class:`~leapscope.engine.rows.ChunkRows`, :func:`commit_chunk` makes it durable.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from leapscope.engine.config import EvaluateOptions, ProgressCallback
from leapscope.engine.encode import EncodedBatch, encode_batch
from leapscope.engine.plan import Plan, batches
from leapscope.engine.pool import BatchJob, encoded_stream
from leapscope.engine.resume import ResumePoint, resume_point
from leapscope.engine.rows import ChunkRows, latent_blocks
from leapscope.engine.scoring import Scorer
from leapscope.store import RunWriter

__all__ = ["Progress", "commit_chunk", "evaluate_chunk", "evaluate_chunks"]


def evaluate_chunk(
    scorer: Scorer,
    subset: str,
    sample_ids: list[Any],
    first_row: int,
    *,
    batch_size: int,
    fail_fast: bool = False,
    encoded: Iterable[EncodedBatch] | None = None,
) -> ChunkRows:
    """Evaluate ONE chunk: ``sample_ids`` of ``subset`` whose first sample is row ``first_row`` of the run.

    The chunk's batches (of ``batch_size``) are encoded here with :func:`leapscope.engine.encode.encode_batch`
    (:data:`leapscope.engine.encode.STATE` must be set), or taken from ``encoded`` (the chunk's batches, in order,
    encoded elsewhere); each is predicted and scored by ``scorer``. Returns the chunk's
    :class:`~leapscope.engine.rows.ChunkRows` (``.table()``: the samples.parquet rows, ``.error_table()``: the
    errors.parquet records or None; latent blocks via :func:`~leapscope.engine.rows.latent_blocks`). A failing
    sample is an error row; with ``fail_fast`` its :class:`LeapscopeError` is raised. Writes nothing.
    """
    rows = ChunkRows(list(scorer.spaces), first_row, scorer.labels)
    stream = (
        encoded
        if encoded is not None
        else (encode_batch(subset, ids, fail_fast) for ids in batches(sample_ids, batch_size))
    )
    for batch in stream:
        rows.add_scored(scorer.score(batch))
    return rows


def commit_chunk(writer: RunWriter, index: int, rows: ChunkRows, dims: dict[str, int], plan_digest: str) -> None:
    """Durably write chunk ``index`` (its rows, latent blocks and error records) and record it in progress.json.

    ``dims`` (space -> D) is read and updated: it fixes the latent width of a space the first time
    a chunk has it, and is recorded with the chunk (see :func:`~leapscope.engine.rows.latent_blocks`).
    Raises :class:`DiskFullError` before writing when the chunk would not fit.
    """
    errors = rows.error_table()
    latents = latent_blocks(rows, dims)
    writer.write_chunk(index, rows.table(), latents, errors, {"plan": plan_digest, "dims": dims})


def evaluate_chunks(
    scorer: Scorer, plan: Plan, run_dir: Path, executor: cf.ProcessPoolExecutor | None, options: EvaluateOptions
) -> dict[str, Any]:
    """Encode (in ``executor``'s workers), predict and write every chunk not done yet, then merge the run.

    Returns the run's counts: ``{"samples": N, "failed": F, "subsets": {name: n}}``.
    """
    writer = RunWriter(run_dir)
    writer.remove_temp_files()  # of writes a killed process left behind (this process holds the run lock)
    point = resume_point(writer, plan)
    if not point.committed:
        _write_chunks(scorer, plan, writer, point, executor, options)
    record = writer.finalize(len(plan.chunks), list(scorer.spaces), plan.digest)  # idempotent: see RunWriter
    return {"samples": plan.total, "failed": int(record["failed"]), "subsets": plan.counts}


class Progress:
    """Samples done (local) or committed (Ray) per subset, reported through ``on_progress`` (first for the chunks already done)."""

    def __init__(self, plan: Plan, done: dict[int, Any], on_progress: ProgressCallback | None):
        self.counts, self.on_progress = plan.counts, on_progress
        self.done: dict[str, int] = collections.Counter()
        for index in done:
            self.done[plan.chunks[index][0]] += len(plan.chunks[index][1])
        if on_progress:
            for subset, total in plan.counts.items():
                on_progress(subset, self.done[subset], total)

    def advance(self, subset: str, n: int) -> None:
        """Count ``n`` more samples of ``subset`` as done and report the new total."""
        self.done[subset] += n
        if self.on_progress:
            self.on_progress(subset, self.done[subset], self.counts[subset])


_END = object()  # the producer's last item (also after it failed)
_POLL = 0.1  # seconds between checks that the other stage is still alive


class _Scoring(threading.Thread):
    """The scoring stage: takes encoded batches from :attr:`inbox` (in plan order), evaluates and commits each
    chunk (:func:`evaluate_chunk`, :func:`commit_chunk`), and reports scored batches in :attr:`scored`."""

    def __init__(
        self, scorer: Scorer, plan: Plan, writer: RunWriter, point: ResumePoint, todo: list[tuple[int, int]], depth: int
    ):
        super().__init__(name="leapscope-scoring", daemon=True)
        self.scorer, self.plan, self.writer, self.point, self.todo = scorer, plan, writer, point, todo
        self.inbox: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.scored: collections.deque[tuple[str, int]] = collections.deque()
        self.error: BaseException | None = None
        self.ended = False  # the producer's end was received (nothing more will be taken)

    def _batches(self, n: int) -> Iterator[EncodedBatch]:
        for _ in range(n):
            item = self.inbox.get()
            if item is _END:
                self.ended = True
                return
            yield item
            self.scored.append((item.subset, len(item.sample_ids)))

    def run(self) -> None:
        first_rows = self.plan.first_rows()
        try:
            for index, n_batches in self.todo:
                subset, ids = self.plan.chunks[index]
                batches_in = self._batches(n_batches)
                rows = evaluate_chunk(self.scorer, subset, ids, first_rows[index], batch_size=0, encoded=batches_in)
                if self.ended or rows.n != len(ids):
                    return  # the producer stopped early: this chunk is incomplete and is not written
                commit_chunk(self.writer, index, rows, self.point.dims, self.plan.digest)
        except BaseException as exc:  # noqa: BLE001 - handed to the producer's thread, which raises it
            self.error = exc
        finally:
            self.ended = True

    def put(self, item: Any) -> bool:
        """Hand ``item`` over; False when the scoring stage has stopped (it failed)."""
        while not self.ended:
            try:
                self.inbox.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False


def _write_chunks(
    scorer: Scorer,
    plan: Plan,
    writer: RunWriter,
    point: ResumePoint,
    executor: cf.ProcessPoolExecutor | None,
    options: EvaluateOptions,
) -> None:
    progress = Progress(plan, point.done, options.on_progress)
    todo = [(i, subset, ids) for i, (subset, ids) in enumerate(plan.chunks) if i not in point.done]
    jobs: list[BatchJob] = [(i, subset, b) for i, subset, ids in todo for b in batches(ids, plan.batch_size)]
    n_batches = collections.Counter(i for i, _, _ in jobs)
    stage = _Scoring(scorer, plan, writer, point, [(i, n_batches[i]) for i, _, _ in todo], options.read_ahead)
    stage.start()

    def report() -> None:
        while stage.scored:
            progress.advance(*stage.scored.popleft())

    failure: BaseException | None = None
    try:
        for encoded in encoded_stream(executor, jobs, options.fail_fast, options.read_ahead):
            if not stage.put(encoded):
                break
            report()
    except BaseException as exc:  # noqa: BLE001 - re-raised below, once the scoring stage has stopped
        failure = exc
    finally:
        stage.put(_END)
        while stage.is_alive():
            stage.join(_POLL)
        report()
    if stage.error is not None:  # from an earlier batch than a failure here (batches are scored in order)
        raise stage.error
    if failure is not None:
        raise failure
