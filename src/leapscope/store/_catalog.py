"""The workspace catalog: projects, versions, runs, insights, saved tests and their results in SQLite (WAL).

Every SQL statement against the catalog is a :class:`Catalog` method with bound parameters;
other layers call the methods (the schema is in :mod:`._migrations`, the rows in :mod:`._rows`).

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapscope.exceptions import CorruptStorageError, DiskFullError, RunNotFoundError, StoreError
from leapscope.store._migrations import MIGRATIONS, SCHEMA_VERSION
from leapscope.store._rows import ProjectRow, RunRow, TestResultRow, TestRow, VersionRow
from leapscope.store._schema import MANIFEST_FILE

__all__ = [
    "DISMISSAL_KINDS",
    "SCHEMA_VERSION",
    "Catalog",
    "DismissalRow",
    "ProjectRow",
    "RunRow",
    "TestResultRow",
    "TestRow",
    "VersionRow",
]


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _valid_text(value: Any) -> Any:
    r"""Lone surrogates (a ``\ud800`` escape stored by an older version) become visible escapes: they cannot be
    encoded as UTF-8, so every JSON answer and SQL query that touched them would fail."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value


#: columns :meth:`Catalog.update_run` may set (names are put into SQL text, so they are never taken from input)
RUN_COLUMNS = frozenset(
    {"status", "config", "finished_at", "seconds", "counts", "summary", "dependencies", "error", "pid"}
)
#: what a "not a duplicate" dismissal names: two samples (keys are JSON ``[subset, sample_id]``) or two input hashes
DISMISSAL_KINDS = ("samples", "hashes")


@dataclass(frozen=True)
class DismissalRow:
    """One stored "not a duplicate" dismissal of a project (``key_a <= key_b``; see :meth:`Catalog.add_dismissal`)."""

    id: int
    project: str
    kind: str
    key_a: str
    key_b: str
    reason: str | None
    created_at: float


#: SQLite result codes of a damaged database file
_CORRUPT = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}


def run_folders(runs: Path) -> list[Path]:
    """Run folders (holding a manifest.json) under ``runs``."""
    if not runs.is_dir():
        return []
    return [d for d in runs.iterdir() if d.is_dir() and (d / MANIFEST_FILE).exists()]


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
                row = db.execute(
                    "SELECT * FROM versions WHERE project_id = ? AND name = ?", (project.id, name)
                ).fetchone()
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
                    count = db.execute(
                        "SELECT COUNT(*) AS n FROM versions WHERE project_id = ?", (project.id,)
                    ).fetchone()["n"]
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
    def create_run(
        self, run_id: str, version: VersionRow, config: dict[str, Any], dependencies: dict[str, str], pid: int
    ) -> None:
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
            raise StoreError(
                f"Catalog.update_run: unknown run column(s) {sorted(unknown)}; expected some of {sorted(RUN_COLUMNS)}"
            )
        cols = ", ".join(f"{k} = ?" for k in fields)
        values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
        with self.connect() as db:
            cur = db.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*values, run_id))  # noqa: S608 - columns checked against RUN_COLUMNS
            if cur.rowcount == 0:
                raise RunNotFoundError(f"no run '{run_id}' in {self.path.parent}")

    _RUN_SELECT = (
        "SELECT runs.*, projects.name AS project, versions.name AS version FROM runs "
        "JOIN versions ON runs.version_id = versions.id JOIN projects ON versions.project_id = projects.id"
    )

    def _run(self, row: sqlite3.Row, *, lenient: bool = False) -> RunRow:
        """The row of a run, its JSON columns decoded.

        A column that is not valid JSON (or not an object) is a damaged catalog entry: a
        :class:`CorruptStorageError` naming the run, the column and the fix; with ``lenient`` (listing
        every run) the run is kept with status ``"damaged"``, that column empty and the reason in ``error``,
        so one bad entry does not hide the others.
        """
        data = dict(row)
        bad: list[str] = []
        for key in ("config", "counts", "summary", "dependencies"):
            try:
                value = _loads(data[key])
            except (TypeError, ValueError):  # JSONDecodeError, or bytes / a number where text was stored
                value = None
                bad.append(f"'{key}' is not valid JSON")
            if value is not None and not isinstance(value, dict):
                value = None
                bad.append(f"'{key}' is not a JSON object")
            data[key] = ({} if key == "config" else None) if value is None else value
        if bad:
            problem = (
                f"the workspace catalog {self.path} has a damaged entry for run {str(data.get('id'))!r}: "
                f"{', '.join(bad)}; fix: {_recovery(self.path)}"
            )
            if not lenient:
                raise CorruptStorageError(problem, path=self.path)
            data["status"], data["error"] = "damaged", problem
        return RunRow(**data)

    def run(self, run_id: str) -> RunRow:
        """The run with this id (a unique prefix is enough; compared literally, no wildcards)."""
        if not run_id:
            raise RunNotFoundError(
                f"empty run id; fix: give a run id of workspace {self.path.parent} (see `leapscope runs`)"
            )
        with self.connect() as db:
            rows = db.execute(f"{self._RUN_SELECT} WHERE substr(runs.id, 1, ?) = ?", (len(run_id), run_id)).fetchall()
        if len(rows) == 1:
            return self._run(rows[0])
        if not rows:
            raise RunNotFoundError(
                f"no run '{run_id}' in workspace {self.path.parent}; fix: list runs with `leapscope runs --workspace {self.path.parent}`"
            )
        exact = [r for r in rows if r["id"] == run_id]
        if exact:
            return self._run(exact[0])
        raise RunNotFoundError(f"run id prefix '{run_id}' matches {len(rows)} runs; fix: give more characters")

    def runs(self, project: str | None = None) -> list[RunRow]:
        """Every run (of ``project``), oldest first; a damaged entry has status ``"damaged"`` (see :meth:`_run`)."""
        query, args = self._RUN_SELECT, ()
        if project is not None:
            query, args = query + " WHERE projects.name = ?", (project,)  # type: ignore[assignment]
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY runs.created_at", args).fetchall()
        return [self._run(r, lenient=True) for r in rows]  # a damaged entry is listed as "damaged", not an error

    # --- insights ----------------------------------------------------------------
    def save_insights(self, run_id: str, insights: Sequence[Mapping[str, Any]]) -> None:
        """Replace the insights stored for a run by ``insights`` (ranked; each has ``type`` and ``severity``).

        Every insight is stored as its JSON payload (values JSON cannot hold are stored as text).
        Raises :class:`StoreError` for an insight without ``type`` or ``severity``.
        """
        rows = []
        for i, insight in enumerate(insights):
            if "type" not in insight or "severity" not in insight:
                raise StoreError(
                    f"Catalog.save_insights: insight {i} of run {run_id} has no 'type' or 'severity'; got keys {sorted(insight)}"
                )
            rows.append(
                (run_id, str(insight["type"]), float(insight["severity"]), json.dumps(dict(insight), default=str))
            )
        with self.connect() as db:
            db.execute("DELETE FROM insights WHERE run_id = ?", (run_id,))
            db.executemany("INSERT INTO insights (run_id, type, severity, payload) VALUES (?, ?, ?, ?)", rows)

    def load_insights(self, run_id: str) -> list[dict[str, Any]]:
        """The insight payloads stored for a run by :meth:`save_insights`, in the order saved (empty when none)."""
        with self.connect() as db:
            rows = db.execute("SELECT payload FROM insights WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        return [json.loads(r["payload"]) for r in rows]

    # --- threshold tests ---------------------------------------------------------
    def _project_id(self, project: ProjectRow | str) -> int:
        return project.id if isinstance(project, ProjectRow) else self.project(project, create=False).id

    def save_test(self, project: ProjectRow | str, name: str, spec: Mapping[str, Any]) -> int:
        """Save (or replace, by name) a threshold test of an existing project; return its id.

        Raises :class:`StoreError` when the project does not exist (it is not created).
        """
        project_id = self._project_id(project)
        with self.connect() as db:
            db.execute(
                "INSERT INTO tests (project_id, name, spec) VALUES (?, ?, ?) "
                "ON CONFLICT(project_id, name) DO UPDATE SET spec = excluded.spec",
                (project_id, name, json.dumps(dict(spec))),
            )
            row = db.execute("SELECT id FROM tests WHERE project_id = ? AND name = ?", (project_id, name)).fetchone()
        return int(row["id"])

    def tests(self, project: ProjectRow | str) -> list[TestRow]:
        """The saved tests of a project, by name. Raises :class:`StoreError` for an unknown project."""
        project_id = self._project_id(project)
        with self.connect() as db:
            rows = db.execute(
                "SELECT id, name, spec FROM tests WHERE project_id = ? ORDER BY name", (project_id,)
            ).fetchall()
        return [TestRow(int(r["id"]), _valid_text(str(r["name"])), _valid_text(json.loads(r["spec"]))) for r in rows]

    def delete_test(self, project: ProjectRow | str, name: str) -> bool:
        """Delete a saved test and its results; whether it existed. Raises :class:`StoreError` for an unknown project."""
        project_id = self._project_id(project)
        with self.connect() as db:
            row = db.execute("SELECT id FROM tests WHERE project_id = ? AND name = ?", (project_id, name)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM test_results WHERE test_id = ?", (row["id"],))
            db.execute("DELETE FROM tests WHERE id = ?", (row["id"],))
        return True

    def record_test_result(
        self, run_id: str, test_id: int, *, passed: bool, value: float | None, detail: str | None
    ) -> None:
        """Store (or replace) the result of saved test ``test_id`` on run ``run_id``."""
        with self.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO test_results (run_id, test_id, passed, value, detail) VALUES (?, ?, ?, ?, ?)",
                (run_id, test_id, int(passed), value, detail),
            )

    def test_results(
        self, *, run_id: str | None = None, project: ProjectRow | str | None = None
    ) -> list[TestResultRow]:
        """Stored test results of one run and/or of the tests of one project (both filters bound parameters).

        Raises :class:`StoreError` when neither is given, or for an unknown project.
        """
        if run_id is None and project is None:
            raise StoreError("Catalog.test_results: give run_id= or project= (the whole table is never returned)")
        query = "SELECT r.run_id, r.test_id, r.passed, r.value, r.detail FROM test_results r JOIN tests t ON r.test_id = t.id"
        clauses: list[str] = []
        args: list[Any] = []
        if run_id is not None:
            clauses.append("r.run_id = ?")
            args.append(run_id)
        if project is not None:
            clauses.append("t.project_id = ?")
            args.append(self._project_id(project))
        with self.connect() as db:
            # the clauses are the literals above; the values are bound parameters
            rows = db.execute(f"{query} WHERE {' AND '.join(clauses)} ORDER BY r.rowid", args).fetchall()
        return [
            TestResultRow(str(r["run_id"]), int(r["test_id"]), bool(r["passed"]), r["value"], r["detail"]) for r in rows
        ]

    # --- "not a duplicate" dismissals --------------------------------------------
    @staticmethod
    def _dismissal_keys(kind: str, key_a: str, key_b: str) -> tuple[str, str]:
        if kind not in DISMISSAL_KINDS:
            raise StoreError(f"Catalog dismissal: kind {kind!r} is not one of {', '.join(DISMISSAL_KINDS)}")
        if not key_a or not key_b or key_a == key_b:
            raise StoreError(
                f"Catalog dismissal: a pair needs two different non-empty keys, got {key_a!r} and {key_b!r}"
            )
        return (key_a, key_b) if key_a <= key_b else (key_b, key_a)

    def add_dismissal(
        self, project: ProjectRow | str, kind: str, key_a: str, key_b: str, reason: str | None = None
    ) -> DismissalRow:
        """Store (or keep, if already stored) a "not a duplicate" dismissal of an existing project.

        The pair is unordered: it is stored as ``(min, max)`` of the keys. A second dismissal of the
        same pair keeps the first and updates its reason when one is given.
        Raises :class:`StoreError` for an unknown project, an unknown ``kind`` or equal/empty keys.
        """
        project_id = self._project_id(project)
        a, b = self._dismissal_keys(kind, key_a, key_b)
        with self.connect() as db:
            db.execute(
                "INSERT INTO dismissals (project_id, kind, key_a, key_b, reason, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(project_id, kind, key_a, key_b) DO UPDATE SET reason = COALESCE(excluded.reason, reason)",
                (project_id, kind, a, b, reason, time.time()),
            )
            row = db.execute(
                "SELECT d.*, p.name AS project FROM dismissals d JOIN projects p ON d.project_id = p.id "
                "WHERE d.project_id = ? AND d.kind = ? AND d.key_a = ? AND d.key_b = ?",
                (project_id, kind, a, b),
            ).fetchone()
        return self._dismissal(row)

    def delete_dismissal(self, project: ProjectRow | str, kind: str, key_a: str, key_b: str) -> bool:
        """Remove a dismissal (either key order); whether it existed. Raises :class:`StoreError` for an unknown project."""
        project_id = self._project_id(project)
        a, b = self._dismissal_keys(kind, key_a, key_b)
        with self.connect() as db:
            cur = db.execute(
                "DELETE FROM dismissals WHERE project_id = ? AND kind = ? AND key_a = ? AND key_b = ?",
                (project_id, kind, a, b),
            )
        return cur.rowcount > 0

    def dismissals(self, project: ProjectRow | str) -> list[DismissalRow]:
        """A project's dismissals, oldest first. Raises :class:`StoreError` for an unknown project."""
        project_id = self._project_id(project)
        with self.connect() as db:
            rows = db.execute(
                "SELECT d.*, p.name AS project FROM dismissals d JOIN projects p ON d.project_id = p.id "
                "WHERE d.project_id = ? ORDER BY d.id",
                (project_id,),
            ).fetchall()
        return [self._dismissal(r) for r in rows]

    @staticmethod
    def _dismissal(row: sqlite3.Row) -> DismissalRow:
        return DismissalRow(
            id=int(row["id"]),
            project=_valid_text(str(row["project"])),
            kind=str(row["kind"]),
            key_a=_valid_text(str(row["key_a"])),
            key_b=_valid_text(str(row["key_b"])),
            reason=_valid_text(row["reason"]),
            created_at=float(row["created_at"]),
        )
