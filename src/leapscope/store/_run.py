"""Run artifacts: the writer used by evaluate and the :class:`Run` reader.

Layout of ``runs/<run_id>/``::

    manifest.json          integration setup, wiring, model signature, subsets, columns
    progress.json          chunks durably written so far (resume point; removed when complete)
    parts/                 per-chunk samples / latent / errors files while the run is running
    samples.parquet        one row per sample, row-aligned with the latent arrays
    latent/<space>.npy     (N, D) float32
    errors.parquet         samples that failed: row, subset, sample_id, function, message

Every file is written atomically. ``samples.parquet`` appears only once all chunks
are merged, and only then is the run marked complete.
"""

from __future__ import annotations

import json
import re
import shutil
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.exceptions import RunNotFoundError, StoreError
from leapscope.store._atomic import atomic_path, write_json

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from leapscope.store._catalog import RunRow

__all__ = ["ERRORS_FILE", "MANIFEST_FILE", "SAMPLES_FILE", "Run", "RunWriter", "space_name"]

MANIFEST_FILE = "manifest.json"
PROGRESS_FILE = "progress.json"
SAMPLES_FILE = "samples.parquet"
ERRORS_FILE = "errors.parquet"
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def space_name(layer: str) -> str:
    """A file-safe latent space name for a layer name (``/fc1/Gemm`` -> ``fc1_Gemm``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", layer).strip("_") or "latent"


def check_run_id(run_id: str) -> str:
    """Refuse ids that could address files outside ``runs/`` (path traversal)."""
    if not RUN_ID.match(run_id):
        raise RunNotFoundError(f"invalid run id {run_id!r}: letters, digits, '-' and '_' only")
    return run_id


class RunWriter:
    """Writes a run chunk by chunk; :meth:`finalize` merges the chunks."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.parts = directory / "parts"
        self.parts.mkdir(parents=True, exist_ok=True)

    def progress(self) -> dict[str, Any]:
        """``{"chunks": {index: {"rows": n, "errors": m}}, ...}``; empty for a new run."""
        path = self.dir / PROGRESS_FILE
        return json.loads(path.read_text()) if path.exists() else {"chunks": {}}

    def write_chunk(
        self, index: int, samples: pa.Table, latents: dict[str, np.ndarray], errors: pa.Table | None, meta: dict[str, Any]
    ) -> None:
        """Durably write one chunk, then record it in progress.json (the checkpoint)."""
        import pyarrow.parquet as pq

        with atomic_path(self.parts / f"samples-{index:06d}.parquet") as tmp:
            pq.write_table(samples, tmp)
        for space, values in latents.items():
            with atomic_path(self.parts / f"latent-{space}-{index:06d}.npy") as tmp, open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(values, dtype=np.float32))
        if errors is not None and errors.num_rows:
            with atomic_path(self.parts / f"errors-{index:06d}.parquet") as tmp:
                pq.write_table(errors, tmp)
        progress = self.progress()
        progress["chunks"][str(index)] = {"rows": samples.num_rows, "errors": 0 if errors is None else errors.num_rows}
        progress.update(meta)
        write_json(self.dir / PROGRESS_FILE, progress)

    def finalize(self, n_chunks: int, spaces: list[str]) -> int:
        """Merge every chunk into samples.parquet, latent/<space>.npy and errors.parquet.

        Memory stays bounded by one chunk: parts are streamed into the merged files.
        Returns the number of rows.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        sample_parts = [self.parts / f"samples-{i:06d}.parquet" for i in range(n_chunks)]
        missing = [p.name for p in sample_parts if not p.exists()]
        if missing:
            raise StoreError(f"run {self.dir.name} cannot be finalized: chunks {missing[:5]} are missing")
        schema = pa.unify_schemas([pq.read_schema(p) for p in sample_parts], promote_options="permissive")
        n_rows = 0
        with atomic_path(self.dir / SAMPLES_FILE) as tmp, pq.ParquetWriter(tmp, schema) as writer:
            for part in sample_parts:
                table = pq.read_table(part)
                n_rows += table.num_rows
                writer.write_table(_conform(table, schema))
        (self.dir / "latent").mkdir(exist_ok=True)
        for space in spaces:
            arrays = [self.parts / f"latent-{space}-{i:06d}.npy" for i in range(n_chunks)]
            dim = np.load(arrays[0], mmap_mode="r").shape[1]
            with atomic_path(self.dir / "latent" / f"{space}.npy") as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_rows, dim))
                row = 0
                for path in arrays:
                    block = np.load(path, mmap_mode="r")
                    out[row : row + len(block)] = block
                    row += len(block)
                out.flush()
                del out
        error_parts = sorted(self.parts.glob("errors-*.parquet"))
        if error_parts:
            error_schema = pa.unify_schemas([pq.read_schema(p) for p in error_parts], promote_options="permissive")
            with atomic_path(self.dir / ERRORS_FILE) as tmp, pq.ParquetWriter(tmp, error_schema) as writer:
                for part in error_parts:
                    writer.write_table(_conform(pq.read_table(part), error_schema))
        shutil.rmtree(self.parts)
        (self.dir / PROGRESS_FILE).unlink(missing_ok=True)
        return n_rows


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table[field.name].cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


class Run:
    """A stored run: its catalog row and its artifacts (read-only).

    Attributes
    ----------
    id : str
    dir : Path
    row : RunRow
        Status, config, counts, summary, timings.
    """

    def __init__(self, directory: Path, row: RunRow):
        self.dir = directory
        self.row = row
        self.id = row.id

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.row.project}/{self.row.version} {self.row.status}>"

    @property
    def status(self) -> str:
        return self.row.status

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The run's manifest.json."""
        path = self.dir / MANIFEST_FILE
        if not path.exists():
            raise StoreError(f"run {self.id} has no manifest ({path}); the run folder is incomplete")
        return dict(json.loads(path.read_text()))

    def _complete_file(self, name: str) -> Path:
        path = self.dir / name
        if not path.exists():
            if self.row.status != "complete":
                raise StoreError(
                    f"run {self.id} is {self.row.status}: its artifacts are written when it completes; "
                    f"fix: wait for it, or resume it with `leapscope evaluate ... --resume {self.id}`"
                )
            raise StoreError(f"run {self.id} is missing {name}")
        return path

    @property
    def samples_path(self) -> Path:
        return self._complete_file(SAMPLES_FILE)

    @cached_property
    def samples(self) -> pa.Table:
        """One row per sample (pyarrow Table), row-aligned with :meth:`latent`."""
        import pyarrow.parquet as pq

        return pq.read_table(self.samples_path)

    def to_pandas(self) -> pd.DataFrame:
        """:attr:`samples` as a pandas DataFrame."""
        return self.samples.to_pandas()

    @property
    def latent_spaces(self) -> list[str]:
        """Names of the stored latent spaces; the first is the default."""
        return list(self.manifest.get("latent_spaces", {}))

    def latent(self, space: str | None = None) -> np.ndarray:
        """(N, D) float32 latent vectors of ``space`` (default: the first), memory-mapped."""
        spaces = self.latent_spaces
        if not spaces:
            raise StoreError(f"run {self.id} stored no latent space (the model has no default latent layer)")
        name = space or spaces[0]
        if name not in spaces:
            raise StoreError(f"run {self.id} has no latent space '{name}'; stored: {', '.join(spaces)}")
        return np.load(self._complete_file(f"latent/{name}.npy"), mmap_mode="r")

    @property
    def errors(self) -> pa.Table:
        """Samples that failed (empty table when none)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.dir / ERRORS_FILE
        if path.exists():
            return pq.read_table(path)
        return pa.table({"row": pa.array([], pa.int64()), "subset": pa.array([], pa.string()), "sample_id": pa.array([], pa.string()), "function": pa.array([], pa.string()), "message": pa.array([], pa.string())})

    def sql(self, query: str) -> pa.Table:
        """Run a DuckDB query where the table ``samples`` is this run's samples.parquet."""
        import duckdb

        con = duckdb.connect()
        try:
            con.execute(f"CREATE VIEW samples AS SELECT * FROM read_parquet('{self.samples_path.as_posix()}')")
            return con.execute(query).to_arrow_table()
        finally:
            con.close()
