"""Workspace catalog (SQLite, WAL) and run artifacts (Parquet, .npy)."""

from leapscope.store._atomic import atomic_path, write_json
from leapscope.store._catalog import SCHEMA_VERSION, Catalog, ProjectRow, RunRow, VersionRow
from leapscope.store._run import ERRORS_FILE, MANIFEST_FILE, SAMPLES_FILE, Run, RunWriter, space_name
from leapscope.store._workspace import WORKSPACE_ENV, Workspace, default_workspace

__all__ = [
    "ERRORS_FILE",
    "MANIFEST_FILE",
    "SAMPLES_FILE",
    "SCHEMA_VERSION",
    "WORKSPACE_ENV",
    "Catalog",
    "ProjectRow",
    "Run",
    "RunRow",
    "RunWriter",
    "VersionRow",
    "Workspace",
    "atomic_path",
    "default_workspace",
    "space_name",
    "write_json",
]
