"""The catalog's SQLite schema as numbered migrations (``schema_version`` records how many ran).

Never edit a released migration: append one. An older catalog is upgraded on open; a newer
one is refused (see :class:`leapscope.store._catalog.Catalog`).
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

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
    # 3: "not a duplicate" dismissals of a pair of samples (or of two input hashes), per project
    """
    CREATE TABLE IF NOT EXISTS dismissals (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        kind TEXT NOT NULL CHECK (kind IN ('samples', 'hashes')),
        key_a TEXT NOT NULL,
        key_b TEXT NOT NULL,
        reason TEXT,
        created_at REAL NOT NULL,
        UNIQUE (project_id, kind, key_a, key_b)
    );
    CREATE INDEX IF NOT EXISTS dismissals_by_project ON dismissals(project_id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
