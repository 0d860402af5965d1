"""Inputs that are valid JSON but not valid text or numbers: refused at the door, never a stored time bomb.

Found in review: a ``\\ud800`` escape in a saved test's filter was stored and then made every later
``GET .../tests`` and ``evaluate`` of the project fail; ``?rows=²``, a 19-digit offset, a non-ASCII token
and ``1e999999`` in a body gave 500s.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leapscope.exceptions import FilterError
from leapscope.server import create_app
from leapscope.store import parse_filter

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def workspace(digits_workspace: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path, run_id = digits_workspace
    copy = tmp_path_factory.mktemp("unicode") / "ws"
    shutil.copytree(path, copy)
    return copy, run_id


def test_a_lone_surrogate_is_not_a_filter() -> None:
    for text in ['subset == "\\ud800"', "subset == '\ud800'", "\ud800 == 1"]:
        with pytest.raises(FilterError, match="lone surrogate"):
            parse_filter(text)


def test_a_surrogate_test_is_refused_and_an_old_stored_one_fails_readably(workspace: tuple[Path, str]) -> None:
    path, run_id = workspace
    with TestClient(create_app(path, serve_ui=False, warm=False), base_url="http://127.0.0.1") as client:
        body = '{"name": "s1", "metric": "metric_accuracy", "filter": "subset == \\"\\ud800\\"", "min": 0}'
        assert client.post("/api/v1/projects/digits/tests", content=body, headers=JSON).status_code == 422
        # what an older version could store: the escape survives in the catalog's JSON
        with sqlite3.connect(path / "catalog.sqlite") as db:
            project_id = db.execute("SELECT id FROM projects WHERE name = 'digits'").fetchone()[0]
            spec = {"metric": "metric_accuracy", "filter": 'subset == "\ud800"', "min": 0.0, "max": None, "name": "old"}
            db.execute(
                "INSERT INTO tests (project_id, name, spec) VALUES (?, ?, ?)", (project_id, "old", json.dumps(spec))
            )
        answer = client.get(f"/api/v1/runs/{run_id}/tests")
        assert answer.status_code == 200
        old = next(r for r in answer.json()["data"] if r["test"]["name"] == "old")
        assert old["passed"] is False and "lone surrogate" in old["detail"]
        assert client.get("/api/v1/projects/digits/tests").status_code == 200


def test_malformed_numbers_are_422_not_500(workspace: tuple[Path, str]) -> None:
    path, run_id = workspace
    with TestClient(create_app(path, serve_ui=False, warm=False), base_url="http://127.0.0.1") as client:
        assert client.get(f"/api/v1/runs/{run_id}/samples", params={"rows": "²,1"}).status_code == 200
        assert client.get(f"/api/v1/runs/{run_id}/samples", params={"rows": "9" * 5000}).status_code == 200
        big = client.get(f"/api/v1/runs/{run_id}/samples", params={"offset": str(2**63)})
        assert big.status_code == 422 and big.json()["title"] == "Unprocessable request"
        huge = client.post("/api/v1/projects/digits/tests", content='{"name": 1e999999}', headers=JSON)
        assert huge.status_code == 422 and "name" in huge.json()["detail"]


def test_a_non_ascii_token_is_401_not_500(workspace: tuple[Path, str]) -> None:
    path, _ = workspace
    with TestClient(
        create_app(path, token="s3cret", serve_ui=False, warm=False), base_url="http://127.0.0.1"
    ) as client:
        assert client.get("/api/v1/projects", params={"token": "é"}).status_code == 401
        assert client.get("/api/v1/projects", headers={"Authorization": "Bearer é".encode()}).status_code == 401
        assert client.get("/api/v1/projects", params={"token": "s3cret"}).status_code == 200
