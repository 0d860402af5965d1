"""The workspace catalog: projects, versions, runs and insights in SQLite (WAL).

WAL mode lets a server read while an evaluation writes. Every operation opens a
short-lived connection (``busy_timeout`` 30 s), so no lock is held between calls.
Schema changes are numbered migrations recorded in ``schema_version``; an older
catalog is upgraded on open, a newer one is refused.

A catalog that is not a readable SQLite database (garbage, malformed pages) raises
:class:`CorruptStorageError`; so does an empty or missing catalog next to existing
run folders (it would otherwise silently show an empty workspace). A full disk is a
:class:`DiskFullError`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapscope.exceptions import CorruptStorageError, DiskFullError, RunNotFoundError, StoreError

__all__ = ["SCHEMA_VERSION", "Catalog", "ProjectRow", "RunRow", "VersionRow"]

MIGRATIONS: list[str] = [
    # 1: projects, versions, runs, insights
    """
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name TEXT NOT NULL,
        model_hash TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (project_id, name)
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        version_id INTEGER NOT NULL REFERENCES versions(id),
        status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
        config TEXT NOT NULL,
        created_at REAL NOT NULL,
        finished_at REAL,
        seconds REAL,
        counts TEXT,
        summary TEXT,
        dependencies TEXT,
        error TEXT,
        pid INTEGER
    );
    CREATE INDEX runs_by_version ON runs(version_id);
    CREATE TABLE insights (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id),
        type TEXT NOT NULL,
        severity REAL NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX insights_by_run ON insights(run_id);
    """,
    # 2: threshold tests saved per project, and their results per run
    """
    CREATE TABLE tests (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        UNIQUE (project_id, name)
    );
    CREATE TABLE test_results (
        run_id TEXT NOT NULL REFERENCES runs(id),
        test_id INTEGER NOT NULL REFERENCES tests(id),
        passed INTEGER NOT NULL,
        value REAL,
        detail TEXT,
        PRIMARY KEY (run_id, test_id)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class ProjectRow:
    id: int
    name: str
    created_at: float


@dataclass(frozen=True)
class VersionRow:
    id: int
    project_id: int
    name: str
    model_hash: str
    code_hash: str
    created_at: float


@dataclass(frozen=True)
class RunRow:
    """One run as stored in the catalog (JSON columns decoded)."""

    id: str
    version_id: int
    status: str
    config: dict[str, Any]
    created_at: float
    finished_at: float | None
    seconds: float | None
    counts: dict[str, Any] | None
    summary: dict[str, Any] | None
    dependencies: dict[str, Any] | None
    error: str | None
    pid: int | None
    project: str = ""
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


#: columns :meth:`Catalog.update_run` may set (names are put into SQL text, so they are never taken from input)
RUN_COLUMNS = frozenset({"status", "config", "finished_at", "seconds", "counts", "summary", "dependencies", "error", "pid"})
#: SQLite result codes of a damaged database file
_CORRUPT = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}


def run_folders(runs: Path) -> list[Path]:
    """Run folders (holding a manifest.json) under ``runs``."""
    if not runs.is_dir():
        return []
    return [d for d in runs.iterdir() if d.is_dir() and (d / "manifest.json").exists()]


def _recovery(path: Path) -> str:
    return (
        f"rebuild it from the run folders with `python -m leapscope.store.recover {path.parent}` (the damaged file is "
        "kept as catalog.sqlite.broken-<time>; saved threshold tests are lost), or restore catalog.sqlite from a backup"
    )


def _storage_error(path: Path, exc: sqlite3.Error) -> StoreError | None:
    """The leapscope error for a SQLite error caused by the catalog file or the disk, else None."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name in _CORRUPT or (type(exc) is sqlite3.DatabaseError and "malformed" in str(exc)):
        n_runs = len(run_folders(path.parent / "runs"))
        kept = f" ({n_runs} run folder(s) in {path.parent / 'runs'} are not affected)" if n_runs else ""
        return CorruptStorageError(
            f"the workspace catalog {path} is damaged: {exc}{kept}; fix: {_recovery(path)}",
            path=path,
        )
    if name == "SQLITE_FULL":
        from leapscope.store._atomic import free_bytes

        return DiskFullError(
            f"disk full: the workspace catalog {path} cannot grow ({exc}), {free_bytes(path.parent) / 1e6:.1f} MB free; "
            "fix: free space on that disk, then run the command again",
            path=path.parent,
            free=free_bytes(path.parent),
        )
    return None


class Catalog:
    """The SQLite catalog of one workspace."""

    def __init__(self, path: Path, *, allow_orphan_runs: bool = False):
        """Open (creating or upgrading) the catalog at ``path``.

        Raises :class:`CorruptStorageError` for a damaged file, or an empty/missing one
        next to existing run folders (unless ``allow_orphan_runs``: used by
        :mod:`leapscope.store.recover`); :class:`StoreError` for a newer schema.
        """
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not allow_orphan_runs:
            self._refuse_empty_with_runs()
        try:
            raw = sqlite3.connect(self.path, timeout=30.0)
            try:
                raw.execute("PRAGMA journal_mode=WAL")  # persistent; must run outside a transaction
            finally:
                raw.close()
        except sqlite3.Error as exc:
            error = _storage_error(self.path, exc)
            if error is None:
                raise
            raise error from exc
        with self.connect() as db:
            self._migrate(db)

    def _refuse_empty_with_runs(self) -> None:
        """An empty (0-byte) or missing catalog while run folders exist means the catalog was lost."""
        if self.path.exists() and self.path.stat().st_size > 0:
            return
        folders = run_folders(self.path.parent / "runs")
        if not folders:
            return
        state = "is empty (0 bytes)" if self.path.exists() else "is missing"
        raise CorruptStorageError(
            f"the workspace catalog {self.path} {state} while {len(folders)} run folder(s) exist in "
            f"{self.path.parent / 'runs'}: the catalog was lost or damaged, and opening it would show an empty workspace; "
            f"fix: {_recovery(self.path)}",
            path=self.path,
        )

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection; commits on success, rolls back on error."""
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("PRAGMA foreign_keys = ON")
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            error = _storage_error(self.path, exc) if isinstance(exc, sqlite3.Error) else None
            if error is not None:
                raise error from exc
            raise
        finally:
            db.close()

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM schema_version").fetchone()
        current = row["version"] if row else 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the workspace catalog {self.path} has schema version {current}, newer than this leapscope "
                f"understands ({SCHEMA_VERSION}); fix: upgrade leapscope, or use another --workspace"
            )
        for version in range(current, SCHEMA_VERSION):
            for statement in filter(str.strip, MIGRATIONS[version].split(";")):
                db.execute(statement)
        if row is None:
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif current != SCHEMA_VERSION:
            db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    def schema_version(self) -> int:
        with self.connect() as db:
            return int(db.execute("SELECT version FROM schema_version").fetchone()["version"])

    # --- projects and versions -------------------------------------------------
    def project(self, name: str, *, create: bool = True) -> ProjectRow:
        """The project named ``name`` (created when missing and ``create``)."""
        with self.connect() as db:
            row = db.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
            if row is None:
                if not create:
                    raise StoreError(f"no project '{name}' in {self.path.parent}; see `leapscope runs`")
                cur = db.execute("INSERT INTO projects (name, created_at) VALUES (?, ?)", (name, time.time()))
                row = db.execute("SELECT * FROM projects WHERE id = ?", (cur.lastrowid,)).fetchone()
            return ProjectRow(**dict(row))

    def projects(self) -> list[ProjectRow]:
        with self.connect() as db:
            return [ProjectRow(**dict(r)) for r in db.execute("SELECT * FROM projects ORDER BY name")]

    def version(self, project: ProjectRow, *, model_hash: str, code_hash: str, name: str | None = None) -> VersionRow:
        """The version of ``project`` with these hashes (or this name); created when missing.

        Without a name, a version with the same model and code hashes is reused,
        otherwise ``v<N+1>`` is created. A given name that exists with other
        hashes is refused (a version is one model + one integration).
        """
        with self.connect() as db:
            if name is not None:
                row = db.execute("SELECT * FROM versions WHERE project_id = ? AND name = ?", (project.id, name)).fetchone()
                if row is not None and (row["model_hash"], row["code_hash"]) != (model_hash, code_hash):
                    raise StoreError(
                        f"version '{name}' of project '{project.name}' was evaluated with another model or integration "
                        "code; fix: pass a new --version name, or leave --version out to get one"
                    )
            else:
                row = db.execute(
                    "SELECT * FROM versions WHERE project_id = ? AND model_hash = ? AND code_hash = ? ORDER BY id DESC",
                    (project.id, model_hash, code_hash),
                ).fetchone()
                if row is None:
                    count = db.execute("SELECT COUNT(*) AS n FROM versions WHERE project_id = ?", (project.id,)).fetchone()["n"]
                    name = f"v{count + 1}"
            if row is None:
                cur = db.execute(
                    "INSERT INTO versions (project_id, name, model_hash, code_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    (project.id, name, model_hash, code_hash, time.time()),
                )
                row = db.execute("SELECT * FROM versions WHERE id = ?", (cur.lastrowid,)).fetchone()
            return VersionRow(**dict(row))

    def versions(self, project: ProjectRow) -> list[VersionRow]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM versions WHERE project_id = ? ORDER BY id", (project.id,))
            return [VersionRow(**dict(r)) for r in rows]

    # --- runs ------------------------------------------------------------------
    def create_run(self, run_id: str, version: VersionRow, config: dict[str, Any], dependencies: dict[str, str], pid: int) -> None:
        with self.connect() as db:
            db.execute(
                "INSERT INTO runs (id, version_id, status, config, created_at, dependencies, pid) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (run_id, version.id, json.dumps(config), time.time(), json.dumps(dependencies), pid),
            )

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run; dict values are stored as JSON."""
        if not fields:
            return
        unknown = set(fields) - RUN_COLUMNS
        if unknown:
            raise StoreError(f"Catalog.update_run: unknown run column(s) {sorted(unknown)}; expected some of {sorted(RUN_COLUMNS)}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
        with self.connect() as db:
            cur = db.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*values, run_id))
            if cur.rowcount == 0:
                raise RunNotFoundError(f"no run '{run_id}' in {self.path.parent}")

    _RUN_SELECT = (
        "SELECT runs.*, projects.name AS project, versions.name AS version FROM runs "
        "JOIN versions ON runs.version_id = versions.id JOIN projects ON versions.project_id = projects.id"
    )

    @staticmethod
    def _run(row: sqlite3.Row) -> RunRow:
        data = dict(row)
        for key in ("config", "counts", "summary", "dependencies"):
            data[key] = _loads(data[key])
        return RunRow(**data)

    def run(self, run_id: str) -> RunRow:
        """The run with this id (a unique prefix is enough; compared literally, no wildcards)."""
        if not run_id:
            raise RunNotFoundError(f"empty run id; fix: give a run id of workspace {self.path.parent} (see `leapscope runs`)")
        with self.connect() as db:
            rows = db.execute(f"{self._RUN_SELECT} WHERE substr(runs.id, 1, ?) = ?", (len(run_id), run_id)).fetchall()
        if len(rows) == 1:
            return self._run(rows[0])
        if not rows:
            raise RunNotFoundError(f"no run '{run_id}' in workspace {self.path.parent}; fix: list runs with `leapscope runs`")
        exact = [r for r in rows if r["id"] == run_id]
        if exact:
            return self._run(exact[0])
        raise RunNotFoundError(f"run id prefix '{run_id}' matches {len(rows)} runs; fix: give more characters")

    def runs(self, project: str | None = None) -> list[RunRow]:
        query, args = self._RUN_SELECT, ()
        if project is not None:
            query, args = query + " WHERE projects.name = ?", (project,)  # type: ignore[assignment]
        with self.connect() as db:
            return [self._run(r) for r in db.execute(query + " ORDER BY runs.created_at", args)]
