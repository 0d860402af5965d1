"""Errors through the API (issue 11, items 11 and 15): Problem JSON with a readable message for damaged
storage, status codes chosen by the error's class, and /similar on a sample whose latent is NaN."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from leapscope.exceptions import (
    CorruptStorageError,
    FilterError,
    LeapscopeError,
    NotFoundError,
    RunNotFoundError,
    StoreError,
)
from leapscope.server import create_app
from leapscope.server._app import status_of
from leapscope.store import Workspace
from tests.server._odd_run import make_odd_run

BASE_URL = "http://127.0.0.1:8040"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    path, run_id = make_odd_run(tmp_path_factory.mktemp("errors"))
    return str(path), run_id


@pytest.fixture
def workspace(pristine, tmp_path):
    """A fresh copy of the workspace, free to damage."""
    copy = tmp_path / "ws"
    shutil.copytree(pristine[0], copy)
    return copy, pristine[1]


def _client(path) -> TestClient:
    # server errors are answered, not raised into the test: what a browser would see
    return TestClient(create_app(path, warm=False), base_url=BASE_URL, raise_server_exceptions=False)


def _assert_problem(r, status: int, *words: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert set(body) >= {"title", "detail", "status"} and body["status"] == status
    assert "Traceback" not in body["detail"] and body["detail"].strip()
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    return body


def test_status_by_error_class_not_message():
    assert status_of(RunNotFoundError("no run x")) == (404, "Not found")
    assert status_of(NotFoundError("no sample")) == (404, "Not found")
    assert status_of(StoreError("run r has no insights yet"))[0] == 409  # "has no" in the text changes nothing
    assert status_of(CorruptStorageError("catalog.sqlite is damaged"))[0] == 503
    assert status_of(FilterError("bad filter"))[0] == 422
    assert status_of(LeapscopeError("bad"))[0] == 400
    assert status_of(ValueError("x"))[0] == 500


def test_not_analyzed_is_409_unknown_things_404(workspace):
    path, run_id = workspace
    with _client(path) as c:
        _assert_problem(c.get(f"/api/v1/runs/{run_id}/samples", params={"insight": 0}), 409, "analyze it first")
        _assert_problem(c.get(f"/api/v1/runs/{run_id}/samples/training/nope"), 404, "no sample 'nope'")
        _assert_problem(c.get(f"/api/v1/runs/{run_id}/samples/training/nope/similar"), 404, "no sample 'nope'")
        _assert_problem(c.get("/api/v1/jobs/0123456789ab"), 404, "no job")
        _assert_problem(c.get("/api/v1/runs/20990101-000000-ffffff"), 404)
        _assert_problem(c.get("/api/v1/nothing/here"), 404)


def test_corrupt_catalog_is_a_problem_not_a_500(workspace):
    path, run_id = workspace
    with _client(path) as c:
        assert c.get("/api/v1/runs").status_code == 200
        (path / "catalog.sqlite").write_bytes(b"this is not a database" * 512)
        for p in (f"/api/v1/runs/{run_id}", "/api/v1/runs", "/api/v1/projects"):
            _assert_problem(c.get(p), 503, "catalog.sqlite")


def test_garbage_samples_parquet_is_a_problem_not_a_500(workspace):
    path, run_id = workspace
    with _client(path) as c:
        (path / "runs" / run_id / "samples.parquet").write_bytes(b"garbage, not parquet" * 100)
        for p in (f"/api/v1/runs/{run_id}", f"/api/v1/runs/{run_id}/samples", f"/api/v1/runs/{run_id}/points"):
            _assert_problem(c.get(p), 503, "samples.parquet")


def test_truncated_samples_parquet(workspace):
    path, run_id = workspace
    file = path / "runs" / run_id / "samples.parquet"
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with _client(path) as c:
        _assert_problem(c.get(f"/api/v1/runs/{run_id}/samples"), 503, "samples.parquet")


def test_similar_of_a_nan_latent_is_empty_with_a_reason(workspace):
    path, run_id = workspace
    latent_file = path / "runs" / run_id / "latent" / "0_input.npy"
    rows = {sid: i for i, sid in enumerate(Workspace(path).open_run(run_id).samples["sample_id"].to_pylist())}
    latent = np.load(latent_file)
    latent[rows["s3"]] = np.nan  # as if the model gave NaN for these samples
    latent[rows["%"], 1] = np.inf
    np.save(latent_file, latent)
    with _client(path) as c:
        r = c.get(f"/api/v1/runs/{run_id}/samples/training/s3/similar", params={"k": 4})
        assert r.status_code == 200, r.text[:300]
        assert r.json()["data"] == [] and "non-finite latent" in r.json()["note"]
        near = c.get(f"/api/v1/runs/{run_id}/samples/training/s0/similar", params={"k": 40}).json()["data"]
        ids = {n["sample_id"] for n in near}
        assert len(near) == 27 and not ids & {"s3", "s0", "%"}  # 30 samples less itself and the two non-finite ones
        assert all(np.isfinite(n["distance"]) for n in near)
