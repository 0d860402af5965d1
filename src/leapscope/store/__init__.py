"""Workspace catalog (SQLite, WAL) and run artifacts (Parquet, .npy)."""

from leapscope.store._atomic import atomic_path, write_json
from leapscope.store._catalog import SCHEMA_VERSION, Catalog, ProjectRow, RunRow, VersionRow
from leapscope.store._filter import MAX_FILTER_LENGTH, Filter, FilterError, parse_filter
from leapscope.store._lock import RunLock, RunLockedError
from leapscope.store._run import (
    COMMIT_FILE,
    ERRORS_FILE,
    MANIFEST_FILE,
    SAMPLES_FILE,
    Run,
    RunWriter,
    space_name,
    summarize,
)
from leapscope.store._sql import sql_identifier, sql_string
from leapscope.store._workspace import WORKSPACE_ENV, Workspace, default_workspace

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
    "ProjectRow",
    "Run",
    "RunLock",
    "RunLockedError",
    "RunRow",
    "RunWriter",
    "VersionRow",
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
