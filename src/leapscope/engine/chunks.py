"""The chunk loop: encoded batches -> scored -> rows -> chunk parts (the checkpoint), then the merge.

Only the chunks not yet durable are evaluated (see :func:`leapscope.engine.resume.resume_point`);
memory is bounded by the batches in flight and one chunk of rows.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
from pathlib import Path
from typing import Any

from leapscope.engine.config import EvaluateOptions, ProgressCallback
from leapscope.engine.plan import Plan, batches
from leapscope.engine.pool import BatchJob, encoded_stream
from leapscope.engine.resume import ResumePoint, resume_point
from leapscope.engine.rows import ChunkRows, latent_blocks
from leapscope.engine.scoring import Scorer
from leapscope.store import RunWriter

__all__ = ["evaluate_chunks"]


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


class _Progress:
    """Samples done per subset, reported through ``on_progress`` (first for the chunks already done)."""

    def __init__(self, plan: Plan, done: dict[int, Any], on_progress: ProgressCallback | None):
        self.counts, self.on_progress = plan.counts, on_progress
        self.done: dict[str, int] = collections.Counter()
        for index in done:
            self.done[plan.chunks[index][0]] += len(plan.chunks[index][1])
        if on_progress:
            for subset, total in plan.counts.items():
                on_progress(subset, self.done[subset], total)

    def advance(self, subset: str, n: int) -> None:
        self.done[subset] += n
        if self.on_progress:
            self.on_progress(subset, self.done[subset], self.counts[subset])


def _write_chunks(
    scorer: Scorer,
    plan: Plan,
    writer: RunWriter,
    point: ResumePoint,
    executor: cf.ProcessPoolExecutor | None,
    options: EvaluateOptions,
) -> None:
    progress = _Progress(plan, point.done, options.on_progress)
    first_rows = plan.first_rows()
    todo = [(i, subset, ids) for i, (subset, ids) in enumerate(plan.chunks) if i not in point.done]
    jobs: list[BatchJob] = [(i, subset, b) for i, subset, ids in todo for b in batches(ids, plan.batch_size)]
    results = encoded_stream(executor, jobs, options.fail_fast, options.read_ahead)
    current: int | None = None
    rows: ChunkRows | None = None
    for (index, subset, batch_ids), encoded in zip(jobs, results, strict=True):
        if rows is None or index != current:
            current, rows = index, ChunkRows(list(scorer.spaces), first_rows[index], scorer.labels)
        rows.add_scored(scorer.score(encoded))
        progress.advance(subset, len(batch_ids))
        if rows.n == len(plan.chunks[index][1]):
            errors = rows.error_table()
            latents = latent_blocks(rows, point.dims)  # fixes the dims of new spaces: recorded with the chunk
            writer.write_chunk(index, rows.table(), latents, errors, {"plan": plan.digest, "dims": point.dims})
