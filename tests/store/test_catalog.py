from __future__ import annotations

import sqlite3

import numpy as np
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
    with pytest.raises(
        StoreError, match=r"schema version 99, newer than this leapscope understands.*upgrade leapscope"
    ):
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


@pytest.mark.parametrize("pattern", ["_", "%", "2026_", "____", "%0"])
def test_run_id_prefix_is_literal_not_a_like_pattern(tmp_path, pattern):
    ws = Workspace(tmp_path)
    version = ws.catalog.version(ws.catalog.project("p"), model_hash="m", code_hash="c")
    ws.catalog.create_run("20260101-000000-aaaaaa", version, {}, {}, 1)
    with pytest.raises(RunNotFoundError, match="no run"):
        ws.catalog.run(pattern)
    with pytest.raises(RunNotFoundError):
        ws.open_run(pattern)
    with pytest.raises(RunNotFoundError, match="empty run id"):
        ws.catalog.run("")
    assert ws.catalog.run("2026010").id == "20260101-000000-aaaaaa"


def test_update_run_refuses_unknown_columns(tmp_path):
    ws = Workspace(tmp_path)
    version = ws.catalog.version(ws.catalog.project("p"), model_hash="m", code_hash="c")
    ws.catalog.create_run("r1", version, {}, {}, 1)
    with pytest.raises(StoreError, match="unknown run column"):
        ws.catalog.update_run("r1", **{"status = 'complete', error": "x"})
    assert ws.catalog.run("r1").status == "running"


def test_run_lock_names_its_holder(tmp_path):
    import os

    from leapscope.store import RunLock, RunLockedError

    first = RunLock(tmp_path / "runs" / "r1").acquire()
    assert (tmp_path / "runs" / "r1" / "evaluate.pid").read_text().strip() == str(os.getpid())
    with pytest.raises(RunLockedError, match=f"run r1 is being evaluated by pid {os.getpid()}"):
        RunLock(tmp_path / "runs" / "r1").acquire()
    assert not RunLock(tmp_path / "runs" / "r1").is_free()
    first.release()
    assert RunLock(tmp_path / "runs" / "r1").is_free()
    with RunLock(tmp_path / "runs" / "r1") as again:
        assert again.held


def test_api_run_lookup_has_no_wildcards(tmp_path):
    from fastapi.testclient import TestClient

    from leapscope.server import create_app

    ws = Workspace(tmp_path)
    version = ws.catalog.version(ws.catalog.project("p"), model_hash="m", code_hash="c")
    ws.catalog.create_run("20260101-000000-aaaaaa", version, {}, {}, 1)
    (tmp_path / "runs" / "20260101-000000-aaaaaa").mkdir(parents=True)
    (tmp_path / "runs" / "20260101-000000-aaaaaa" / "manifest.json").write_text('{"run_id": "20260101-000000-aaaaaa"}')
    with TestClient(create_app(tmp_path, warm=False, serve_ui=False), base_url="http://127.0.0.1") as client:
        assert client.get("/api/v1/runs/20260101-000000-aaaaaa").status_code == 200
        for pattern in ("_", "%25", "2026_", "____________________"):
            assert client.get(f"/api/v1/runs/{pattern}").status_code == 404, pattern


# --- the catalog owns the SQL of insights, tests and test results --------------------------


def _workspace_with_runs(tmp_path, *projects):
    ws = Workspace(tmp_path / "ws")
    for i, name in enumerate(projects):
        version = ws.catalog.version(ws.catalog.project(name), model_hash=f"m{i}", code_hash="c")
        ws.catalog.create_run(f"run-{name}", version, {}, {}, 1)
    return ws


def test_insights_are_replaced_per_run(tmp_path):
    ws = _workspace_with_runs(tmp_path, "a", "b")
    ws.catalog.save_insights(
        "run-a",
        [
            {"type": "duplicates", "severity": 0.9, "rows": [1, 2]},
            {"type": "mislabeled", "severity": 0.4, "rows": [np.int64(3)]},
        ],
    )
    ws.catalog.save_insights("run-b", [{"type": "overfitting", "severity": 0.1}])
    assert [i["type"] for i in ws.catalog.load_insights("run-a")] == ["duplicates", "mislabeled"]
    assert ws.catalog.load_insights("run-a")[1]["rows"] == ["3"]  # non-JSON values are stored as text
    ws.catalog.save_insights("run-a", [{"type": "domain_gap", "severity": 0.2}])
    assert [i["type"] for i in ws.catalog.load_insights("run-a")] == ["domain_gap"]
    assert [i["type"] for i in ws.catalog.load_insights("run-b")] == ["overfitting"]
    assert ws.catalog.load_insights("run-none") == []
    with pytest.raises(StoreError, match=r"save_insights: insight 0 of run run-a has no 'type' or 'severity'"):
        ws.catalog.save_insights("run-a", [{"title": "x"}])


def test_saved_tests_and_their_results(tmp_path):
    ws = _workspace_with_runs(tmp_path, "a", "b")
    first = ws.catalog.save_test("a", "acc", {"metric": "metric_acc", "min": 0.9})
    assert ws.catalog.save_test("a", "acc", {"metric": "metric_acc", "min": 0.8}) == first  # replaced by name
    loss = ws.catalog.save_test(ws.catalog.project("a"), "loss", {"metric": "loss_ce", "max": 1.0})
    other = ws.catalog.save_test("b", "acc", {"metric": "metric_acc", "min": 0.5})
    assert [(t.name, t.spec) for t in ws.catalog.tests("a")] == [
        ("acc", {"metric": "metric_acc", "min": 0.8}),
        ("loss", {"metric": "loss_ce", "max": 1.0}),
    ]
    with pytest.raises(StoreError, match="no project 'nope'"):
        ws.catalog.save_test("nope", "t", {})
    assert [p.name for p in ws.catalog.projects()] == ["a", "b"]  # an unknown project is not created

    ws.catalog.record_test_result("run-a", first, passed=True, value=0.95, detail="ok")
    ws.catalog.record_test_result("run-a", loss, passed=False, value=None, detail="no sample")
    ws.catalog.record_test_result("run-b", other, passed=True, value=0.6, detail="ok")
    ws.catalog.record_test_result("run-a", first, passed=False, value=0.7, detail="again")  # replaces
    by_project = ws.catalog.test_results(project="a")
    assert {(r.test_id, r.passed, r.value) for r in by_project} == {(first, False, 0.7), (loss, False, None)}
    assert [r.to_dict() for r in ws.catalog.test_results(run_id="run-b")] == [
        {"run_id": "run-b", "test_id": other, "passed": True, "value": 0.6, "detail": "ok"}
    ]
    assert ws.catalog.test_results(run_id="run-b", project="a") == []
    with pytest.raises(StoreError, match="give run_id= or project="):
        ws.catalog.test_results()

    assert ws.catalog.delete_test("a", "loss") is True
    assert ws.catalog.delete_test("a", "loss") is False
    assert [t.name for t in ws.catalog.tests("a")] == ["acc"]
    assert [r.test_id for r in ws.catalog.test_results(project="a")] == [first]


def test_test_names_are_bound_parameters(tmp_path):
    ws = _workspace_with_runs(tmp_path, "a")
    name = "x'); DROP TABLE tests; --"
    test_id = ws.catalog.save_test("a", name, {"metric": "m"})
    assert [t.name for t in ws.catalog.tests("a")] == [name]
    ws.catalog.record_test_result("run-a", test_id, passed=True, value=1.0, detail=name)
    assert ws.catalog.test_results(run_id="run-a")[0].detail == name
