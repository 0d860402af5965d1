"""Writing a run chunk by chunk (:class:`RunWriter`), and the idempotent merge of the chunks.

The run folder's layout and life cycle are described in :mod:`leapscope.store._run`; the
chunk part names are built in :mod:`leapscope.store._schema` and used only here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.exceptions import CorruptStorageError, StoreError
from leapscope.store._atomic import (
    atomic_path,
    disk_full_error,
    ensure_free,
    is_disk_full,
    remove_temp_files,
    write_json,
)
from leapscope.store._files import corrupt_error, load_npy, read_json_file, read_parquet
from leapscope.store._schema import (
    COMMIT_FILE,
    ERROR,
    ERRORS_FILE,
    ERRORS_PART_GLOB,
    PARTS_DIR,
    PROGRESS_FILE,
    SAMPLES_FILE,
    errors_part,
    latent_file,
    latent_part,
    samples_part,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["NPY_HEADER", "RunWriter"]

#: chunk parts live until the merge (which compresses): written uncompressed, without statistics (cheaper)
_PART_OPTIONS: dict[str, Any] = {"compression": "none", "write_statistics": False}
#: bytes of a .npy header (format 1.0 pads it to a multiple of 64; 128 covers a 2-D float32 array)
NPY_HEADER = 128


class RunWriter:
    """Writes a run chunk by chunk; :meth:`finalize` merges the chunks.

    Raises :class:`DiskFullError` (before writing, when the space a chunk or the merge
    needs is not free, or when a write runs out of space) and
    :class:`CorruptStorageError` (a part or progress file cannot be read).
    """

    def __init__(self, directory: Path):
        self.dir = directory
        self.parts = directory / PARTS_DIR
        self.parts.mkdir(parents=True, exist_ok=True)

    @property
    def _fix(self) -> str:
        return (
            f"the partial files of run {self.dir.name} are damaged: evaluate again without --resume to start a new run"
        )

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
        data = read_json_file(
            path, f"delete {path} and resume the run: the merge is then redone from parts/ if they are still there"
        )
        return dict(data)

    def write_chunk(
        self,
        index: int,
        samples: pa.Table,
        latents: dict[str, np.ndarray],
        errors: pa.Table | None,
        meta: dict[str, Any],
    ) -> None:
        """Write one chunk, then record it in progress.json (the checkpoint).

        One fsync per chunk: the part files are written and renamed without fsync, and their sizes and
        blake2b digests are recorded in progress.json, which alone is fsynced. After a crash,
        :meth:`intact_chunks` keeps only the chunks whose parts still match (the others are evaluated
        again), so progress.json never vouches for a part the disk lost.
        Raises :class:`DiskFullError` when the chunk's size is not free (checked first).
        """
        import pyarrow.parquet as pq

        needed = (
            samples.nbytes + sum(v.size * 4 for v in latents.values()) + (errors.nbytes if errors is not None else 0)
        )
        ensure_free(self.parts, needed)
        files: dict[str, list[Any]] = {}
        with atomic_path(self.parts / samples_part(index), sync=False) as tmp:
            pq.write_table(samples, tmp, **_PART_OPTIONS)
            files[samples_part(index)] = _fingerprint(tmp)
        for space, values in latents.items():
            with atomic_path(self.parts / latent_part(space, index), sync=False) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, np.ascontiguousarray(values, dtype=np.float32))
                files[latent_part(space, index)] = _fingerprint(tmp)
        if errors is not None and errors.num_rows:
            with atomic_path(self.parts / errors_part(index), sync=False) as tmp:
                pq.write_table(errors, tmp, **_PART_OPTIONS)
                files[errors_part(index)] = _fingerprint(tmp)
        progress = self.progress()
        progress["chunks"][str(index)] = {
            "rows": samples.num_rows,
            "errors": 0 if errors is None else errors.num_rows,
            "files": files,
        }
        progress.update(meta)
        # fsync of progress.json only: a rename that did not reach the disk leaves the previous (whole) progress.json
        write_json(self.dir / PROGRESS_FILE, progress, sync_dir=False)

    def intact_chunks(self, progress: dict[str, Any]) -> dict[str, Any]:
        """The chunks of ``progress`` (``progress()["chunks"]``-style, index -> record) whose part files are all
        there with the size and digest recorded by :meth:`write_chunk` (records without ``files``, of runs written
        before fingerprints existed, are kept: their parts were fsynced one by one)."""
        intact = {}
        for index, record in progress["chunks"].items():
            files = record.get("files") if isinstance(record, dict) else None
            if files is None or all(_matches(self.parts / name, expected) for name, expected in files.items()):
                intact[index] = record
        return intact

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

        sample_parts = [self.parts / samples_part(i) for i in range(n_chunks)]
        latent_parts = {space: [self.parts / latent_part(space, i) for i in range(n_chunks)] for space in spaces}
        missing = [
            p.name for p in [*sample_parts, *(p for paths in latent_parts.values() for p in paths)] if not p.exists()
        ]
        if missing:
            raise StoreError(
                f"run {self.dir.name} cannot be finalized: chunks {missing[:5]} are missing from {self.parts}; "
                "fix: evaluate again without --resume to start a new run"
            )
        metadata = [self._parquet_metadata(p) for p in sample_parts]
        part_rows = [m.num_rows for m in metadata]
        n_rows = sum(part_rows)
        dims = {
            space: (load_npy(paths[0], mmap=True, fix=self._fix).shape[1] if paths else 0)
            for space, paths in latent_parts.items()
        }
        error_parts = sorted(self.parts.glob(ERRORS_PART_GLOB))
        needed = sum(p.stat().st_size for p in [*sample_parts, *error_parts]) + sum(
            NPY_HEADER + n_rows * d * 4 for d in dims.values()
        )
        replaced = [self.dir / SAMPLES_FILE, self.dir / ERRORS_FILE, *(self.dir / latent_file(s) for s in spaces)]
        needed -= sum(p.stat().st_size for p in replaced if p.exists())  # left by an interrupted merge; overwritten
        ensure_free(self.dir, max(0, needed))

        schema = pa.unify_schemas([m.schema.to_arrow_schema() for m in metadata], promote_options="permissive")
        failed = 0
        with atomic_path(self.dir / SAMPLES_FILE) as tmp, pq.ParquetWriter(tmp, schema) as writer:
            for part in sample_parts:
                table = self._read_parquet(part)
                if ERROR in table.column_names:
                    failed += table.num_rows - table[ERROR].null_count
                writer.write_table(_conform(table, schema))
        for space, paths in latent_parts.items():
            self._write_latent(space, paths, part_rows, dims[space])
        if error_parts:
            error_schema = pa.unify_schemas(
                [self._parquet_metadata(p).schema.to_arrow_schema() for p in error_parts], promote_options="permissive"
            )
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
        target = self.dir / latent_file(space)
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
            "fortran_order": False,
            "shape": (n_rows, dim),
        }
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
        expected_parts = [self.parts / samples_part(i) for i in range(n_chunks)]
        expected_parts += [self.parts / latent_part(s, i) for s in spaces for i in range(n_chunks)]
        if all(p.exists() for p in expected_parts) or not (self.dir / SAMPLES_FILE).exists():
            return None  # parts intact: merge (again); or nothing merged
        progress = self.progress()
        expected = sum(int(c.get("rows", 0)) for c in progress["chunks"].values())
        if len(progress["chunks"]) != n_chunks:
            return None
        try:
            table = read_parquet(self.dir / SAMPLES_FILE, columns=[ERROR])
            latents_ok = all(
                load_npy(self.dir / latent_file(s), mmap=True, fix=self._fix).shape[0] == expected for s in spaces
            )
        except (CorruptStorageError, FileNotFoundError):
            return None
        if table.num_rows != expected or not latents_ok:
            return None
        record = {
            "rows": expected,
            "failed": table.num_rows - table[ERROR].null_count,
            "chunks": n_chunks,
            "spaces": list(spaces),
            "plan": plan,
        }
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
            raise corrupt_error(path, "not a readable Parquet file (damaged or truncated)", exc, self._fix) from exc

    def _read_parquet(self, path: Path) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise corrupt_error(path, "not a readable Parquet file (damaged or truncated)", exc, self._fix) from exc


def _fingerprint(path: Path) -> list[Any]:
    """``[size in bytes, blake2b-128 hex]`` of a file's content."""
    data = path.read_bytes()
    return [len(data), hashlib.blake2b(data, digest_size=16).hexdigest()]


def _matches(path: Path, expected: Any) -> bool:
    """Whether ``path`` exists with the ``[size, digest]`` of :func:`_fingerprint` (size checked first)."""
    try:
        if path.stat().st_size != int(expected[0]):
            return False
        return _fingerprint(path) == list(expected)
    except (OSError, TypeError, ValueError, IndexError):
        return False


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table[field.name].cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)
