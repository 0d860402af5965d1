"""Run artifacts: the writer used by evaluate and the :class:`Run` reader.

Layout of ``runs/<run_id>/``::

    manifest.json          integration setup, wiring, model signature, subsets, columns
    progress.json          chunks durably written so far (resume point; removed when complete)
    parts/                 per-chunk samples / latent / errors files while the run is running
    samples.parquet        one row per sample, row-aligned with the latent arrays
    latent/<space>.npy     (N, D) float32
    errors.parquet         samples that failed: row, subset, sample_id, function, message
    committed.json         written (atomically) once the three merged files above are durable
    evaluate.lock/.pid     held by the process evaluating the run (see :mod:`leapscope.store._lock`)

Every file is written atomically. ``samples.parquet`` appears only once all chunks
are merged, and only then is the run marked complete. Finalisation is idempotent:
a process killed anywhere in it is finished by the next resume, which re-merges
when ``committed.json`` is missing and otherwise only removes ``parts/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.exceptions import CorruptStorageError, RunNotFoundError, StoreError
from leapscope.store._atomic import (
    atomic_path,
    disk_full_error,
    ensure_free,
    is_disk_full,
    remove_temp_files,
    write_json,
)
from leapscope.store._sql import sql_string

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from leapscope.store._catalog import RunRow

__all__ = ["COMMIT_FILE", "ERRORS_FILE", "MANIFEST_FILE", "SAMPLES_FILE", "Run", "RunWriter", "space_name", "summarize"]

MANIFEST_FILE = "manifest.json"
PROGRESS_FILE = "progress.json"
SAMPLES_FILE = "samples.parquet"
ERRORS_FILE = "errors.parquet"
COMMIT_FILE = "committed.json"
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: bytes of a .npy header (format 1.0 pads it to a multiple of 64; 128 covers a 2-D float32 array)
NPY_HEADER = 128


def space_name(layer: str) -> str:
    """A file-safe latent space name for a layer name (``/fc1/Gemm`` -> ``fc1_Gemm``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", layer).strip("_") or "latent"


def check_run_id(run_id: str) -> str:
    """Refuse ids that could address files outside ``runs/`` (path traversal)."""
    if not RUN_ID.match(run_id):
        raise RunNotFoundError(f"invalid run id {run_id!r}: letters, digits, '-' and '_' only")
    return run_id


def _corrupt(path: Path, what: str, exc: BaseException, fix: str) -> CorruptStorageError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CorruptStorageError(f"{path} is {what} ({type(exc).__name__}: {reason}); fix: {fix}", path=path)


def read_json_file(path: Path, fix: str) -> Any:
    """The JSON content of ``path``; :class:`CorruptStorageError` naming the file when it is not valid JSON."""
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(path, "not valid JSON (damaged or truncated)", exc, fix) from exc


def load_npy(path: Path, *, mmap: bool, fix: str) -> np.ndarray:
    """``np.load`` of a 2-D array; :class:`CorruptStorageError` when the file is truncated or not a .npy."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if is_disk_full(exc) or isinstance(exc, FileNotFoundError):
            raise
        raise _corrupt(path, "not a readable .npy array (damaged or truncated)", exc, fix) from exc
    if array.ndim != 2:
        raise CorruptStorageError(f"{path} holds a {array.ndim}-D array, expected (N, D); fix: {fix}", path=path)
    return array


class RunWriter:
    """Writes a run chunk by chunk; :meth:`finalize` merges the chunks.

    Raises :class:`DiskFullError` (before writing, when the space a chunk or the merge
    needs is not free, or when a write runs out of space) and
    :class:`CorruptStorageError` (a part or progress file cannot be read).
    """

    def __init__(self, directory: Path):
        self.dir = directory
        self.parts = directory / "parts"
        self.parts.mkdir(parents=True, exist_ok=True)

    @property
    def _fix(self) -> str:
        return f"the partial files of run {self.dir.name} are damaged: evaluate again without --resume to start a new run"

    def remove_temp_files(self) -> list[Path]:
        """Remove ``*.tmp`` files left by interrupted writes (call while holding the run lock)."""
        return remove_temp_files(self.dir)

    def progress(self) -> dict[str, Any]:
        """``{"chunks": {index: {"rows": n, "errors": m}}, ...}``; empty for a new run."""
        path = self.dir / PROGRESS_FILE
        if not path.exists():
            return {"chunks": {}}
        data = read_json_file(path, self._fix)
        if not isinstance(data, dict) or not isinstance(data.get("chunks"), dict):
            raise CorruptStorageError(f"{path} has no 'chunks' mapping; fix: {self._fix}", path=path)
        return data

    def committed(self) -> dict[str, Any] | None:
        """The commit record (``{"rows", "failed", "chunks", "spaces", "plan"}``) once the merge is durable, else None."""
        path = self.dir / COMMIT_FILE
        if not path.exists():
            return None
        data = read_json_file(path, f"delete {path} and resume the run: the merge is then redone from parts/ if they are still there")
        return dict(data)

    def write_chunk(
        self, index: int, samples: pa.Table, latents: dict[str, np.ndarray], errors: pa.Table | None, meta: dict[str, Any]
    ) -> None:
        """Durably write one chunk, then record it in progress.json (the checkpoint).

        Raises :class:`DiskFullError` when the chunk's size is not free (checked first).
        """
        import pyarrow.parquet as pq

        needed = samples.nbytes + sum(v.size * 4 for v in latents.values()) + (errors.nbytes if errors is not None else 0)
        ensure_free(self.parts, needed)
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

    def finalize(self, n_chunks: int, spaces: list[str], plan: str | None = None) -> dict[str, Any]:
        """Merge every chunk into samples.parquet, latent/<space>.npy and errors.parquet; idempotent.

        Memory stays bounded by one chunk: parts are streamed into the merged files.
        Once they are durable, ``committed.json`` is written atomically; only then are
        ``parts/`` and ``progress.json`` removed. Called again after a kill, it redoes
        the merge when the commit is missing and otherwise only cleans up.

        Returns the commit record: ``{"rows": N, "failed": rows with an error, ...}``.
        Raises :class:`DiskFullError` before merging when the merged files would not fit.
        """
        record = self.committed() or self._recover_merged(n_chunks, spaces, plan) or self._merge(n_chunks, spaces, plan)
        if self.parts.exists():
            shutil.rmtree(self.parts)
        (self.dir / PROGRESS_FILE).unlink(missing_ok=True)
        self.remove_temp_files()
        return record

    def _merge(self, n_chunks: int, spaces: list[str], plan: str | None) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        sample_parts = [self.parts / f"samples-{i:06d}.parquet" for i in range(n_chunks)]
        latent_parts = {space: [self.parts / f"latent-{space}-{i:06d}.npy" for i in range(n_chunks)] for space in spaces}
        missing = [p.name for p in [*sample_parts, *(p for paths in latent_parts.values() for p in paths)] if not p.exists()]
        if missing:
            raise StoreError(
                f"run {self.dir.name} cannot be finalized: chunks {missing[:5]} are missing from {self.parts}; "
                "fix: evaluate again without --resume to start a new run"
            )
        metadata = [self._parquet_metadata(p) for p in sample_parts]
        part_rows = [m.num_rows for m in metadata]
        n_rows = sum(part_rows)
        dims = {space: (load_npy(paths[0], mmap=True, fix=self._fix).shape[1] if paths else 0) for space, paths in latent_parts.items()}
        error_parts = sorted(self.parts.glob("errors-*.parquet"))
        needed = sum(p.stat().st_size for p in [*sample_parts, *error_parts]) + sum(NPY_HEADER + n_rows * d * 4 for d in dims.values())
        replaced = [self.dir / SAMPLES_FILE, self.dir / ERRORS_FILE, *(self.dir / "latent" / f"{s}.npy" for s in spaces)]
        needed -= sum(p.stat().st_size for p in replaced if p.exists())  # left by an interrupted merge; overwritten
        ensure_free(self.dir, max(0, needed))

        schema = pa.unify_schemas([m.schema.to_arrow_schema() for m in metadata], promote_options="permissive")
        failed = 0
        with atomic_path(self.dir / SAMPLES_FILE) as tmp, pq.ParquetWriter(tmp, schema) as writer:
            for part in sample_parts:
                table = self._read_parquet(part)
                if "error" in table.column_names:
                    failed += table.num_rows - table["error"].null_count
                writer.write_table(_conform(table, schema))
        for space, paths in latent_parts.items():
            self._write_latent(space, paths, part_rows, dims[space])
        if error_parts:
            error_schema = pa.unify_schemas([self._parquet_metadata(p).schema.to_arrow_schema() for p in error_parts], promote_options="permissive")
            with atomic_path(self.dir / ERRORS_FILE) as tmp, pq.ParquetWriter(tmp, error_schema) as writer:
                for part in error_parts:
                    writer.write_table(_conform(self._read_parquet(part), error_schema))
        record = {"rows": n_rows, "failed": failed, "chunks": n_chunks, "spaces": list(spaces), "plan": plan}
        write_json(self.dir / COMMIT_FILE, record)
        return record

    def _write_latent(self, space: str, paths: list[Path], part_rows: list[int], dim: int) -> None:
        """Stream the parts into latent/<space>.npy with plain writes (no sparse memory map: a full disk is an
        ``ENOSPC`` error, never a ``SIGBUS``); the space is reserved up front where the file system allows it."""

        n_rows = sum(part_rows)
        target = self.dir / "latent" / f"{space}.npy"
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False, "shape": (n_rows, dim)}
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            f.flush()
            try:
                os.posix_fallocate(f.fileno(), 0, f.tell() + n_rows * dim * 4)
            except OSError as exc:
                if is_disk_full(exc):
                    raise disk_full_error(target.parent, f.tell() + n_rows * dim * 4, exc) from exc
                # EOPNOTSUPP/EINVAL: this file system cannot reserve space; the writes below still report ENOSPC
            for path, rows in zip(paths, part_rows, strict=True):
                block = load_npy(path, mmap=False, fix=self._fix)
                if block.shape != (rows, dim):
                    raise CorruptStorageError(
                        f"{path} holds {block.shape}, expected ({rows}, {dim}) rows x dims; fix: {self._fix}", path=path
                    )
                f.write(np.ascontiguousarray(block, dtype="<f4").tobytes())

    def _recover_merged(self, n_chunks: int, spaces: list[str], plan: str | None) -> dict[str, Any] | None:
        """Commit a merge finished by a process that died while removing parts/ (before commit records existed)."""
        expected_parts = [self.parts / f"samples-{i:06d}.parquet" for i in range(n_chunks)]
        expected_parts += [self.parts / f"latent-{s}-{i:06d}.npy" for s in spaces for i in range(n_chunks)]
        if all(p.exists() for p in expected_parts) or not (self.dir / SAMPLES_FILE).exists():
            return None  # parts intact: merge (again); or nothing merged
        progress = self.progress()
        expected = sum(int(c.get("rows", 0)) for c in progress["chunks"].values())
        if len(progress["chunks"]) != n_chunks:
            return None
        try:
            table = Run.read_samples_file(self.dir / SAMPLES_FILE, columns=["error"])
            latents_ok = all(
                load_npy(self.dir / "latent" / f"{s}.npy", mmap=True, fix=self._fix).shape[0] == expected for s in spaces
            )
        except (CorruptStorageError, FileNotFoundError):
            return None
        if table.num_rows != expected or not latents_ok:
            return None
        record = {"rows": expected, "failed": table.num_rows - table["error"].null_count, "chunks": n_chunks, "spaces": list(spaces), "plan": plan}
        write_json(self.dir / COMMIT_FILE, record)
        return record

    def _parquet_metadata(self, path: Path) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_metadata(path)
        except (pa.ArrowException, OSError) as exc:
            if is_disk_full(exc):
                raise
            raise _corrupt(path, "not a readable Parquet file (damaged or truncated)", exc, self._fix) from exc

    def _read_parquet(self, path: Path) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise _corrupt(path, "not a readable Parquet file (damaged or truncated)", exc, self._fix) from exc


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

    Reading a damaged artifact (truncated or garbage ``samples.parquet``, a short
    ``latent/*.npy``, invalid ``manifest.json``) raises :class:`CorruptStorageError`
    naming the file and how to recover.

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

    @property
    def _fix(self) -> str:
        return (
            f"the files of run {self.id} are damaged: restore the folder {self.dir} from a backup, or evaluate the "
            "model version again (`leapscope evaluate ...`) to make a new run"
        )

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The run's manifest.json. Raises StoreError (missing), CorruptStorageError (not a JSON object)."""
        path = self.dir / MANIFEST_FILE
        if not path.exists():
            raise StoreError(f"run {self.id} has no manifest ({path}); the run folder is incomplete")
        data = read_json_file(path, self._fix)
        if not isinstance(data, dict):
            raise CorruptStorageError(f"{path} holds a JSON {type(data).__name__}, expected an object; fix: {self._fix}", path=path)
        return dict(data)

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

    @staticmethod
    def read_samples_file(path: Path, columns: list[str] | None = None, fix: str | None = None) -> pa.Table:
        """``pq.read_table(path)``; :class:`CorruptStorageError` naming the file when it is not valid Parquet."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise _corrupt(
                path, "not a readable Parquet file (damaged or truncated)", exc,
                fix or "restore it from a backup, or evaluate the model version again to make a new run",
            ) from exc

    @cached_property
    def samples(self) -> pa.Table:
        """One row per sample (pyarrow Table), row-aligned with :meth:`latent`. Raises CorruptStorageError."""
        return self.read_samples_file(self.samples_path, fix=self._fix)

    @cached_property
    def num_rows(self) -> int:
        """Rows of samples.parquet (read from its footer). Raises CorruptStorageError."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.samples_path
        try:
            return int(pq.read_metadata(path).num_rows)
        except (pa.ArrowException, OSError) as exc:
            raise _corrupt(path, "not a readable Parquet file (damaged or truncated)", exc, self._fix) from exc

    def to_pandas(self) -> pd.DataFrame:
        """:attr:`samples` as a pandas DataFrame."""
        return self.samples.to_pandas()

    @property
    def latent_spaces(self) -> list[str]:
        """Names of the stored latent spaces; the first is the default."""
        return list(self.manifest.get("latent_spaces", {}))

    def latent(self, space: str | None = None) -> np.ndarray:
        """(N, D) float32 latent vectors of ``space`` (default: the first), memory-mapped.

        Raises StoreError (no such space) and CorruptStorageError (a truncated or foreign
        file, or a row count that differs from samples.parquet).
        """
        spaces = self.latent_spaces
        if not spaces:
            raise StoreError(f"run {self.id} stored no latent space (the model has no default latent layer)")
        name = space or spaces[0]
        if name not in spaces:
            raise StoreError(f"run {self.id} has no latent space '{name}'; stored: {', '.join(spaces)}")
        path = self._complete_file(f"latent/{name}.npy")
        array = load_npy(path, mmap=True, fix=self._fix)
        if array.shape[0] != self.num_rows:
            raise CorruptStorageError(
                f"{path} has {array.shape[0]} rows but samples.parquet has {self.num_rows}; fix: {self._fix}", path=path
            )
        return array

    @property
    def errors(self) -> pa.Table:
        """Samples that failed (empty table when none). Raises CorruptStorageError."""
        import pyarrow as pa

        path = self.dir / ERRORS_FILE
        if path.exists():
            return self.read_samples_file(path, fix=self._fix)
        return pa.table({"row": pa.array([], pa.int64()), "subset": pa.array([], pa.string()), "sample_id": pa.array([], pa.string()), "function": pa.array([], pa.string()), "message": pa.array([], pa.string())})

    def sql(self, query: str, parameters: list[Any] | None = None) -> pa.Table:
        """Run a DuckDB query (with optional ``?`` parameters) where the table ``samples`` is this run's samples.parquet."""
        import duckdb

        path = self.samples_path
        self.num_rows  # noqa: B018 - a damaged file is a CorruptStorageError, not a DuckDB error
        con = duckdb.connect()
        try:
            con.execute(f"CREATE VIEW samples AS SELECT * FROM read_parquet({sql_string(path.as_posix())})")
            return con.sql(query, params=parameters).to_arrow_table()
        finally:
            con.close()


def summarize(samples_path: Path) -> dict[str, dict[str, Any]]:
    """Per subset (in row order): ``samples``, ``failed`` and the mean of every ``loss_*`` / ``metric_*`` column.

    Column names come from user metric keys, so they are quoted as identifiers and the
    path is a bound parameter (any quote in either is safe). Raises CorruptStorageError.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from leapscope.store._sql import sql_identifier

    try:
        names = [n for n in pq.read_schema(samples_path).names if n.startswith(("loss_", "metric_"))]
    except (pa.ArrowException, OSError) as exc:
        raise _corrupt(samples_path, "not a readable Parquet file (damaged or truncated)", exc, "evaluate again") from exc
    means = "".join(f", avg({sql_identifier(n)})" for n in names)
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT subset, count(*) AS samples, count(error) AS failed{means} FROM read_parquet(?) "
            "GROUP BY subset ORDER BY min(row)",
            [samples_path.as_posix()],
        ).fetchall()
    finally:
        con.close()
    cols = ["samples", "failed", *names]
    return {
        r[0]: {c: (None if v is None else (int(v) if c in ("samples", "failed") else float(v))) for c, v in zip(cols, r[1:], strict=True)}
        for r in rows
    }
