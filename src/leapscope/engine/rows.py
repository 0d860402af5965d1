"""Arrow rows of samples.parquet, one scored batch at a time, assembled into a chunk.

Columns of one batch, in this order: ``row``, ``subset``, ``sample_id``,
``input_hash``; ``gt_<name>`` (and ``_label``); ``pred_<name>`` (and ``_label``,
``_score``); ``loss_*`` and ``metric_*``; metadata; ``error`` (null unless the sample
failed). A sample that failed has nulls where it has no value, and NaN latent vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.engine.encode import EncodedBatch
from leapscope.engine.scoring import Errors, ScoredBatch, argmax_labels, labels_for
from leapscope.sdk._runtime import redact
from leapscope.store._schema import (
    ERROR,
    FUNCTION,
    INPUT_HASH,
    MESSAGE,
    ROW,
    SAMPLE_ID,
    SUBSET,
    gt_column,
    label_column,
    pred_column,
    score_column,
)

__all__ = ["MAX_STORED_VALUES", "ChunkRows", "batch_columns", "latent_blocks", "scalars", "vectors"]

#: vectors longer than this are not stored per sample (a segmentation mask would bloat the table)
MAX_STORED_VALUES = 4096


class ChunkRows:
    """One chunk being assembled: pyarrow column segments per batch, latent blocks, error records.

    ``first_row`` is the row number of the chunk's first sample; ``labels`` maps
    prediction names to their class labels.
    """

    def __init__(self, spaces: list[str], first_row: int, labels: dict[str, list[str]]):
        self.segments: dict[str, list[Any]] = {}
        self.latents: dict[str, list[np.ndarray]] = {s: [] for s in spaces}
        self.errors: list[dict[str, Any]] = []
        self.n = 0
        self.first_row, self.labels = first_row, labels

    def add_scored(self, scored: ScoredBatch) -> None:
        """Append the rows, latent vectors and error records of one scored batch."""
        start = self.first_row + self.n
        columns = batch_columns(scored, start, self.labels)
        self.errors.extend(_error_records(scored, start))
        failed = np.asarray(sorted(scored.errors), dtype=np.int64)
        for space, blocks in self.latents.items():
            values = scored.latents.get(space)
            block = np.full((scored.size, 0 if values is None else values.shape[1]), np.nan, np.float32)
            if values is not None:
                block[scored.ok] = values
                block[failed] = np.nan  # a sample whose metric failed is an error row: no latent either
            blocks.append(block)
        self.add(columns, scored.size)

    def add(self, columns: dict[str, Any], size: int) -> None:
        """Append one batch's columns (pyarrow arrays of length ``size``)."""
        import pyarrow as pa

        for name in set(self.segments) - set(columns):  # a column this batch lacks
            columns[name] = pa.nulls(size)
        for name, array in columns.items():
            if name not in self.segments:
                self.segments[name] = [pa.nulls(self.n)] if self.n else []  # a column first seen mid-chunk
            self.segments[name].append(array)
        self.n += size

    def table(self) -> Any:
        """The chunk's rows as one ``pyarrow.Table`` (mixed-type columns promoted by arrow)."""
        import pyarrow as pa

        data = {}
        for name, parts in self.segments.items():
            types = {p.type for p in parts if p.type != pa.null()}
            if len(types) > 1:  # e.g. int metadata in one batch, float in another: let arrow promote
                data[name] = pa.array([v for p in parts for v in p.to_pylist()])
            else:
                target = types.pop() if types else pa.null()
                data[name] = pa.concat_arrays([p.cast(target) for p in parts])
        return pa.table(data)

    def error_table(self) -> Any:
        """The chunk's error records as a ``pyarrow.Table``, or None when no sample failed."""
        import pyarrow as pa

        if not self.errors:
            return None
        return pa.Table.from_pylist(self.errors)


def latent_blocks(rows: ChunkRows, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Space -> (rows.n, D) float32 latent vectors of the chunk; ``dims`` (space -> D) is read and updated so that
    every chunk of a run has the same D (a chunk whose model calls all failed gets NaN vectors of that D)."""
    out = {}
    for space, blocks in rows.latents.items():
        dim = dims.get(space) or max((b.shape[1] for b in blocks), default=0)
        dims[space] = dim
        out[space] = np.concatenate(
            [b if b.shape[1] == dim else np.full((len(b), dim), np.nan, np.float32) for b in blocks]
        )
    return out


def batch_columns(scored: ScoredBatch, start: int, labels: dict[str, list[str]]) -> dict[str, Any]:
    """Column name -> pyarrow array (``scored.size`` rows) of one scored batch whose first row is ``start``."""
    batch, size = scored.batch, scored.size
    columns = _id_columns(batch, start)
    for name, arr in batch.gts.items():
        columns.update(_vector_columns(gt_column(name), arr, scored.ok, size, labels_for(_per_sample(arr), labels)))
    for name, arr in scored.predictions.items():
        found = labels_for(_per_sample(arr), labels, prediction=name)
        columns.update(_vector_columns(pred_column(name), arr, scored.scored, size, found, with_score=True))
    for column, arr in scored.scores.items():
        columns[column] = scalars(arr.astype(np.float64), scored.scored, size, np.asarray(np.isfinite(arr)))
    for column, arr in scored.summaries.items():  # per-kind summaries (engine.scoring.summary_columns)
        columns[column] = _summary(arr, scored.scored, size)
    columns.update(_metadata_columns(batch))
    columns[ERROR] = _error_messages(scored.errors, size)
    return columns


def _id_columns(batch: EncodedBatch, start: int) -> dict[str, Any]:
    import pyarrow as pa

    size = len(batch.sample_ids)
    return {
        ROW: pa.array(np.arange(start, start + size, dtype=np.int64)),
        SUBSET: pa.array([batch.subset] * size, pa.string()),
        SAMPLE_ID: pa.array([str(i) for i in batch.sample_ids], pa.string()),
        INPUT_HASH: pa.array(batch.input_hashes, pa.string()),
    }


def _per_sample(values: np.ndarray) -> int:
    return int(np.prod(values.shape[1:], dtype=np.int64))


def _vector_columns(
    name: str, values: np.ndarray, ok: np.ndarray, size: int, labels: list[str] | None, with_score: bool = False
) -> dict[str, Any]:
    """``name`` as a list<float32> column (unless longer than :data:`MAX_STORED_VALUES` per sample), plus
    ``name_label`` (arg-max label) when ``labels`` fit, and then ``name_score`` (max value) when ``with_score``."""
    import pyarrow as pa

    if _per_sample(values) > MAX_STORED_VALUES:
        return {}
    columns = {name: vectors(values, ok, size)}
    if labels is None:
        return columns
    flat = values.reshape(len(values), -1)
    names, has_label = argmax_labels(flat, labels)
    names_column = scalars(names, ok, size, has_label)
    columns[label_column(name)] = (
        names_column.cast(pa.string()) if names_column.type != pa.null() else pa.nulls(size, pa.string())
    )
    if with_score:
        columns[score_column(name)] = scalars(flat.max(1).astype(np.float64), ok, size)
    return columns


def _summary(values: np.ndarray, ok: np.ndarray, size: int) -> Any:
    """A summary column: float64 (null where not finite) or, for object arrays, string."""
    import pyarrow as pa

    if values.dtype == object:
        return scalars(values, ok, size).cast(pa.string())
    return scalars(values.astype(np.float64), ok, size, np.asarray(np.isfinite(values)))


def _metadata_columns(batch: EncodedBatch) -> dict[str, Any]:
    import pyarrow as pa

    keys = dict.fromkeys(k for meta in batch.metadata for k in meta)
    return {key: pa.array([meta.get(key) for meta in batch.metadata]) for key in keys}


def _error_messages(errors: Errors, size: int) -> Any:
    """The ``error`` column: per failed sample ``function: first line of message; ...``, else null."""
    import pyarrow as pa

    messages: list[str | None] = [None] * size
    for position, sample_errors in errors.items():
        messages[position] = "; ".join(f"{f}: {m.splitlines()[0]}" for f, m in sample_errors)
    return pa.array(messages, pa.string())


def _error_records(scored: ScoredBatch, start: int) -> list[dict[str, Any]]:
    """Rows of errors.parquet (row, subset, sample_id, function, message; redacted) of one scored batch."""
    batch = scored.batch
    return [
        {
            ROW: start + position,
            SUBSET: batch.subset,
            SAMPLE_ID: str(batch.sample_ids[position]),
            FUNCTION: redact(function),
            MESSAGE: redact(message),
        }
        for position, sample_errors in scored.errors.items()
        for function, message in sample_errors
    ]


def vectors(values: np.ndarray, ok: np.ndarray, size: int) -> Any:
    """(n_ok, ...) arrays -> a list<float32> column of ``size`` rows, null where not ok."""
    import pyarrow as pa

    flat = np.asarray(values, np.float32).reshape(len(values), -1)
    full = np.zeros((size, flat.shape[1]), np.float32)
    full[ok] = flat
    offsets = np.arange(size + 1, dtype=np.int32) * flat.shape[1]
    mask = np.ones(size, bool)
    mask[ok] = False
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(full.ravel()), mask=pa.array(mask))


def scalars(values: np.ndarray, ok: np.ndarray, size: int, valid: np.ndarray | None = None) -> Any:
    """(n_ok,) values -> a column of ``size`` rows, null where not ok (or not ``valid``)."""
    import pyarrow as pa

    full = np.zeros(size, values.dtype if values.dtype.kind in "fiub" else object)
    full[ok] = values
    mask = np.ones(size, bool)
    mask[ok] = False if valid is None else ~valid
    return pa.array(full, mask=mask)
