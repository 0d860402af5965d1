"""Run artifacts: the :class:`Run` reader (the writer used by evaluate is :mod:`leapscope.store._writer`).

Layout of ``runs/<run_id>/``::

    manifest.json          integration setup, wiring, model signature, subsets, columns
    progress.json          chunks durably written so far (resume point; removed when complete)
    parts/                 per-chunk samples / latent / errors files while the run is running
    samples.parquet        one row per sample, row-aligned with the latent arrays
    latent/<space>.npy     (N, D) float32
    errors.parquet         samples that failed: row, subset, sample_id, function, message
    committed.json         written (atomically) once the three merged files above are durable
    evaluate.lock/.pid     held by the process evaluating the run (see :mod:`leapscope.store._lock`)
    insights.json          the last analysis (written by ``leapscope.runs.analyze``)
    projections/           cached projections, one file per cache key (``_schema.projection_file``)
    explanations/          stored heatmaps, ``<method>.npy``

Every name above is defined in :mod:`leapscope.store._schema`.

Every file is written atomically. ``samples.parquet`` appears only once all chunks
are merged, and only then is the run marked complete. Finalisation is idempotent:
a process killed anywhere in it is finished by the next resume, which re-merges
when ``committed.json`` is missing and otherwise only removes ``parts/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.exceptions import CorruptStorageError, RunNotFoundError, StoreError
from leapscope.store._files import corrupt_error, load_npy, read_json_file, read_parquet
from leapscope.store._schema import (
    COMMIT_FILE,
    ERROR_COLUMNS,
    ERRORS_FILE,
    KEY_COLUMNS,
    MANIFEST_FILE,
    PROGRESS_FILE,
    ROW,
    SAMPLE_ID,
    SAMPLES_FILE,
    SCORE_PREFIXES,
    SUBSET,
    latent_file,
)
from leapscope.store._sql import sql_string
from leapscope.store._writer import RunWriter

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from leapscope.store._catalog import RunRow
    from leapscope.store._manifest import Manifest

#: the *_FILE names, RunWriter, read_json_file and load_npy are re-exported for existing imports;
#: they are defined in :mod:`leapscope.store._schema`, :mod:`._writer` and :mod:`._files`
__all__ = [
    "COMMIT_FILE",
    "ERRORS_FILE",
    "MANIFEST_FILE",
    "PROGRESS_FILE",
    "SAMPLES_FILE",
    "Run",
    "RunWriter",
    "load_npy",
    "read_json_file",
    "space_name",
    "summarize",
]

RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def space_name(layer: str) -> str:
    """A file-safe latent space name for a layer name (``/fc1/Gemm`` -> ``fc1_Gemm``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", layer).strip("_") or "latent"


def check_run_id(run_id: str) -> str:
    """Refuse ids that could address files outside ``runs/`` (path traversal)."""
    if not RUN_ID.match(run_id):
        raise RunNotFoundError(f"invalid run id {run_id!r}: letters, digits, '-' and '_' only")
    return run_id


def _holds_binary(data_type: pa.DataType) -> bool:
    """Whether a column type is (or nests) raw bytes, which JSON cannot hold."""
    import pyarrow as pa

    t = pa.types
    if t.is_binary(data_type) or t.is_large_binary(data_type) or t.is_fixed_size_binary(data_type):
        return True
    if getattr(t, "is_binary_view", lambda _: False)(data_type):
        return True
    return any(_holds_binary(data_type.field(i).type) for i in range(data_type.num_fields))


def check_samples_schema(schema: pa.Schema, path: Path, fix: str) -> None:
    """Refuse a samples table without its key columns: ``subset`` (text), ``sample_id`` (text or integer) and,
    when present, ``row`` (integer). Raises CorruptStorageError naming the file and the column."""
    import pyarrow as pa

    t = pa.types

    def text(d: pa.DataType) -> bool:
        return bool(t.is_string(d) or t.is_large_string(d))

    def text_or_int(d: pa.DataType) -> bool:
        return text(d) or bool(t.is_integer(d))

    expected: dict[str, tuple[str, Callable[[pa.DataType], bool]]] = {
        SUBSET: ("text", text),
        SAMPLE_ID: ("text or integer", text_or_int),
    }
    for name, (kind, ok) in expected.items():
        if name not in schema.names:
            raise CorruptStorageError(
                f"{path} has no '{name}' column (every run file has {', '.join(KEY_COLUMNS)}); it was not written by "
                f"leapscope or was edited; fix: {fix}",
                path=path,
            )
        if not ok(schema.field(name).type):
            raise CorruptStorageError(
                f"{path}: column '{name}' is {schema.field(name).type}, expected {kind}; fix: {fix}", path=path
            )
    if ROW in schema.names and not t.is_integer(schema.field(ROW).type):
        raise CorruptStorageError(
            f"{path}: column '{ROW}' is {schema.field(ROW).type}, expected an integer; fix: {fix}", path=path
        )


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
            raise CorruptStorageError(
                f"{path} holds a JSON {type(data).__name__}, expected an object; fix: {self._fix}", path=path
            )
        return dict(data)

    @cached_property
    def typed_manifest(self) -> Manifest:
        """:attr:`manifest` as a typed :class:`~leapscope.store._manifest.Manifest`.

        Raises StoreError (missing) and CorruptStorageError (not a JSON object, or a required key missing).
        """
        from leapscope.store._manifest import Manifest

        try:
            return Manifest.from_dict(self.manifest)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise corrupt_error(self.dir / MANIFEST_FILE, "not a run manifest", exc, self._fix) from exc

    def file(self, name: str) -> Path:
        """``dir / name`` (e.g. ``insights.json``, ``projections/x.npy``), refused when it or a folder on the way is
        a symbolic link that leads outside the run folder: nothing is read or written through it.

        Raises CorruptStorageError naming the link, its target and the fix.
        """
        path = self.dir / name
        root = self.dir.resolve()
        probe = self.dir
        for part in Path(name).parts:
            probe = probe / part
            if probe.is_symlink():
                target = probe.resolve()
                if target != root and root not in target.parents:
                    raise CorruptStorageError(
                        f"{probe} is a symbolic link to {target}, outside the run folder {self.dir}; leapscope neither "
                        f"reads nor writes through it; fix: delete the link (`rm {probe}`), then run the command "
                        "again (the file is made anew where it can be)",
                        path=probe,
                    )
        return path

    def _complete_file(self, name: str) -> Path:
        path = self.file(name)
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
        return read_parquet(path, columns, fix)

    @cached_property
    def samples(self) -> pa.Table:
        """One row per sample (pyarrow Table), row-aligned with :meth:`latent`.

        Binary columns (leapscope never writes them; a foreign or edited file may hold them) are left
        out, so every JSON answer can hold the table; their names are in :attr:`dropped_columns`.
        Raises CorruptStorageError (unreadable file, or a key column ``subset`` / ``sample_id``
        missing or of the wrong type).
        """
        path = self.samples_path
        table = self.read_samples_file(path, fix=self._fix)
        check_samples_schema(table.schema, path, self._fix)
        dropped = [f.name for f in table.schema if _holds_binary(f.type)]
        self.dropped_columns = dropped
        return table.drop_columns(dropped) if dropped else table

    #: binary columns left out of :attr:`samples` (filled when it is read)
    dropped_columns: list[str] = []  # noqa: RUF012 - replaced per instance, never mutated

    @cached_property
    def num_rows(self) -> int:
        """Rows of samples.parquet (read from its footer). Raises CorruptStorageError."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.samples_path
        try:
            return int(pq.read_metadata(path).num_rows)
        except (pa.ArrowException, OSError) as exc:
            raise corrupt_error(path, "not a readable Parquet file (damaged or truncated)", exc, self._fix) from exc

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
        path = self._complete_file(latent_file(name))
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
        return pa.table(
            {name: pa.array([], pa.int64() if i == 0 else pa.string()) for i, name in enumerate(ERROR_COLUMNS)}
        )

    def sql(self, query: str, parameters: list[Any] | None = None) -> pa.Table:
        """Run a DuckDB query (with optional ``?`` parameters) where the table ``samples`` is this run's samples.parquet."""
        import duckdb

        path = self.samples_path
        self.num_rows  # noqa: B018 - a damaged file is a CorruptStorageError, not a DuckDB error
        con = duckdb.connect()
        try:
            con.execute(f"CREATE VIEW samples AS SELECT * FROM read_parquet({sql_string(path.as_posix())})")  # noqa: S608 - path quoted by sql_string
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
        names = [n for n in pq.read_schema(samples_path).names if n.startswith(SCORE_PREFIXES)]
    except (pa.ArrowException, OSError) as exc:
        raise corrupt_error(
            samples_path, "not a readable Parquet file (damaged or truncated)", exc, "evaluate again"
        ) from exc
    means = "".join(f", avg({sql_identifier(n)})" for n in names)
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT subset, count(*) AS samples, count(error) AS failed{means} FROM read_parquet(?) "  # noqa: S608 - sql_identifier
            "GROUP BY subset ORDER BY min(row)",
            [samples_path.as_posix()],
        ).fetchall()
    finally:
        con.close()
    cols = ["samples", "failed", *names]
    return {
        r[0]: {
            c: (None if v is None else (int(v) if c in ("samples", "failed") else float(v)))
            for c, v in zip(cols, r[1:], strict=True)
        }
        for r in rows
    }
