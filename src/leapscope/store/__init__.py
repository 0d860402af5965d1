"""Workspace catalog (SQLite, WAL) and run artifacts (Parquet, .npy).

Where each concept lives:

- :mod:`._schema`: the run format, defined once: column names of ``samples.parquet``
  (``gt_``/``pred_``/``loss_``/``metric_`` prefixes, reserved columns) and every file name of a
  run folder (chunk parts, merged files, the projection cache key); :mod:`._typescript` emits
  the column names for the web UI.
- :mod:`._manifest`: the typed ``manifest.json`` (:class:`Manifest`) and the :class:`Wiring`.
- :mod:`._writer`: :class:`RunWriter`, chunk by chunk, then an idempotent merge; :mod:`._run`:
  the :class:`Run` reader; :mod:`._files`: reading files, damaged ones as ``CorruptStorageError``.
- :mod:`._catalog`: :class:`Catalog`, every SQL statement of the catalog (rows in :mod:`._rows`,
  schema in :mod:`._migrations`); :mod:`._workspace`: a folder with the catalog and ``runs/``.
- :mod:`._filter_parse`: the ``column op literal`` filter grammar (parsed, never run as code);
  :mod:`._filter`: what a parsed filter selects (SQL with bound parameters, a mask);
  :mod:`._sql`: quoting for the few SQL texts that cannot bind parameters.
- :mod:`._atomic`: atomic, durable writes and disk-full errors; :mod:`._lock`: one evaluation
  per run; :mod:`.recover`: rebuild a lost catalog from the run folders.
"""

from leapscope.store._atomic import atomic_path, write_json
from leapscope.store._catalog import SCHEMA_VERSION, Catalog, ProjectRow, RunRow, TestResultRow, TestRow, VersionRow
from leapscope.store._filter import Filter, FilterError
from leapscope.store._filter_parse import MAX_FILTER_LENGTH, parse_filter
from leapscope.store._lock import RunLock, RunLockedError
from leapscope.store._manifest import Manifest, Wiring, WiringEdge
from leapscope.store._run import Run, space_name, summarize
from leapscope.store._schema import COMMIT_FILE, ERRORS_FILE, MANIFEST_FILE, SAMPLES_FILE
from leapscope.store._sql import sql_identifier, sql_string
from leapscope.store._workspace import WORKSPACE_ENV, Workspace, default_workspace
from leapscope.store._writer import RunWriter

__all__ = [
    "COMMIT_FILE",
    "ERRORS_FILE",
    "MANIFEST_FILE",
    "MAX_FILTER_LENGTH",
    "SAMPLES_FILE",
    "SCHEMA_VERSION",
    "WORKSPACE_ENV",
    "Catalog",
    "Filter",
    "FilterError",
    "Manifest",
    "ProjectRow",
    "Run",
    "RunLock",
    "RunLockedError",
    "RunRow",
    "RunWriter",
    "TestResultRow",
    "TestRow",
    "VersionRow",
    "Wiring",
    "WiringEdge",
    "Workspace",
    "atomic_path",
    "default_workspace",
    "parse_filter",
    "space_name",
    "sql_identifier",
    "sql_string",
    "summarize",
    "write_json",
]
