from __future__ import annotations

import sqlite3

import pytest

from leapscope.exceptions import RunNotFoundError, StoreError
from leapscope.store import SCHEMA_VERSION, Catalog, Workspace


def test_wal_mode_and_schema_version(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    db = sqlite3.connect(tmp_path / "catalog.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert catalog.schema_version() == SCHEMA_VERSION


def test_older_catalog_is_upgraded(tmp_path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path)
    db = sqlite3.connect(path)
    db.execute("DROP TABLE test_results")
    db.execute("DROP TABLE tests")
    db.execute("UPDATE schema_version SET version = 1")
    db.commit()
    db.close()
    catalog = Catalog(path)
    assert catalog.schema_version() == SCHEMA_VERSION
    names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tests", "test_results", "runs"} <= names


def test_newer_catalog_is_refused(tmp_path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"schema version 99, newer than this leapscope understands.*upgrade leapscope"):
        Catalog(path)


def test_versions_by_hash_and_name(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    project = catalog.project("digits")
    v1 = catalog.version(project, model_hash="m1", code_hash="c1")
    assert v1.name == "v1"
    assert catalog.version(project, model_hash="m1", code_hash="c1").id == v1.id
    assert catalog.version(project, model_hash="m2", code_hash="c1").name == "v2"
    assert catalog.version(project, model_hash="m3", code_hash="c1", name="best").name == "best"
    with pytest.raises(StoreError, match="evaluated with another model"):
        catalog.version(project, model_hash="m4", code_hash="c1", name="best")


def test_run_lookup_by_prefix_and_missing(tmp_path):
    ws = Workspace(tmp_path)
    version = ws.catalog.version(ws.catalog.project("p"), model_hash="m", code_hash="c")
    ws.catalog.create_run("20260101-000000-aaaaaa", version, {"a": 1}, {"numpy": "2"}, 1)
    assert ws.catalog.run("20260101").config == {"a": 1}
    with pytest.raises(RunNotFoundError, match="leapscope runs"):
        ws.catalog.run("nope")
    with pytest.raises(StoreError, match="invalid run id"):
        ws.open_run("../../etc")
