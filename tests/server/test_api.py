"""The REST API against a real workspace (the digits run), with FastAPI's TestClient."""

from __future__ import annotations

import concurrent.futures as cf
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from leapscope.server import create_app
from leapscope.server._security import is_loopback


@pytest.fixture(scope="module")
def client(digits_workspace):
    path, _ = digits_workspace
    with TestClient(create_app(path, warm=False), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def run_id(digits_workspace):
    return digits_workspace[1]


def test_projects_versions_runs(client, run_id):
    data = client.get("/api/v1/projects").json()["data"]
    assert data[0]["name"] == "digits" and data[0]["versions"][0]["runs"][0]["id"] == run_id
    run = client.get(f"/api/v1/runs/{run_id}").json()["data"]
    assert (
        run["status"] == "complete" and "digit_label" in run["metadata_columns"] and run["explanations"] == ["gradcam"]
    )
    assert run["manifest"]["subsets"]["validation"]["count"] == 359


def test_samples_pagination_and_filters(client, run_id):
    page = client.get(f"/api/v1/runs/{run_id}/samples", params={"subset": "validation", "limit": 20}).json()
    assert page["total"] == 359 and len(page["data"]) == 20 and page["next_offset"] == 20
    assert "gt_label" not in page["data"][0] and page["data"][0]["gt_label_label"] is not None
    eights = client.get(
        f"/api/v1/runs/{run_id}/samples", params={"where": ['digit_label == "8"', "metric_accuracy >= 0"], "limit": 500}
    ).json()
    assert eights["total"] == 174 and {r["digit_label"] for r in eights["data"]} == {"8"}
    worst = client.get(f"/api/v1/runs/{run_id}/samples", params={"sort": "-loss_cross_entropy", "limit": 3}).json()[
        "data"
    ]
    assert worst[0]["loss_cross_entropy"] >= worst[1]["loss_cross_entropy"] >= worst[2]["loss_cross_entropy"]
    by_insight = client.get(f"/api/v1/runs/{run_id}/samples", params={"insight": 0, "limit": 500}).json()
    insights = client.get(f"/api/v1/runs/{run_id}/insights").json()["data"]
    assert by_insight["total"] == len(insights[0]["rows"])
    first = insights[0]["samples"][0]
    assert first["sample_id"] == insights[0]["sample_ids"][0] and first["subset"] in ("training", "validation", "test")
    bad = client.get(f"/api/v1/runs/{run_id}/samples", params={"where": ["__import__('os') == 1"]})
    assert bad.status_code == 422 and "column op literal" in bad.json()["detail"]
    unknown = client.get(f"/api/v1/runs/{run_id}/samples", params={"where": ["nope == 1"]})
    assert unknown.status_code == 422 and "unknown column 'nope'" in unknown.json()["detail"]


@pytest.mark.slow
def test_sample_visuals_explanations_similar(client, run_id):
    sample = client.get(f"/api/v1/runs/{run_id}/samples/training/5").json()["data"]
    assert {v["name"] for v in sample["visualizers"]} == {"image", "prediction"} and "gradcam" in sample["methods"]
    png = client.get(f"/api/v1/runs/{run_id}/samples/training/5/visuals/image")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    bars = client.get(f"/api/v1/runs/{run_id}/samples/training/5/visuals/prediction").json()["data"]
    assert bars["type"] == "horizontal_bar" and len(bars["body"]) == 10
    heat = client.get(
        f"/api/v1/runs/{run_id}/samples/training/5/explanation", params={"method": "gradcam", "target": "3"}
    )
    assert heat.status_code == 200 and heat.headers["content-type"] == "image/png"
    near = client.get(f"/api/v1/runs/{run_id}/samples/training/5/similar", params={"k": 4}).json()["data"]
    assert len(near) == 4 and all(n["distance"] >= 0 for n in near)
    missing = client.get(f"/api/v1/runs/{run_id}/samples/validation/5")
    assert missing.status_code == 404 and "no sample '5'" in missing.json()["detail"]


def test_projection_points_aggregates(client, run_id):
    pca = client.get(f"/api/v1/runs/{run_id}/projection").json()["data"]
    assert pca["status"] == "ready" and len(pca["x"]) == 1797
    points = client.get(f"/api/v1/runs/{run_id}/points", params={"columns": "loss_cross_entropy,digit_label"}).json()[
        "data"
    ]
    assert len(points["loss_cross_entropy"]) == 1797 and len(points["cluster"]) == 1797
    assert np.mean([c for c in points["correct"] if c is not None]) > 0.95
    agg = client.get(
        f"/api/v1/runs/{run_id}/aggregate", params={"column": "metric_accuracy", "by": "subset,digit_label"}
    ).json()["data"]
    assert len(agg) == 30
    cm = client.get(f"/api/v1/runs/{run_id}/confusion", params={"subset": "validation"}).json()["data"]
    assert np.sum(cm["matrix"]) == 359
    compare = client.get("/api/v1/projects/digits/compare", params={"column": "metric_accuracy"}).json()["data"]
    assert {r["subset"] for r in compare} == {"training", "validation", "test"}


def test_saved_tests_roundtrip(client, run_id):
    body = {"name": "eights", "metric": "metric_accuracy", "filter": 'digit_label == "8"', "min": 0.9}
    assert client.post("/api/v1/projects/digits/tests", json=body).status_code == 200
    results = client.get(f"/api/v1/runs/{run_id}/tests").json()["data"]
    assert results[0]["passed"] is True and results[0]["test"]["name"] == "eights"


def test_openapi_has_operation_ids(client):
    schema = client.get("/api/v1/openapi.json").json()
    ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "listRuns",
        "listSamples",
        "getVisual",
        "getProjection",
        "listInsights",
        "getExplanation",
        "aggregate",
    } <= ids


def test_path_traversal_is_blocked(client, digits_workspace):
    for path in (
        "/api/v1/runs/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/runs/....//etc/samples",
        "/assets/..%2F..%2F..%2Fcatalog.sqlite",
        "/api/v1/runs/%2e%2e/samples",
    ):
        response = client.get(path)
        assert response.status_code in (400, 404), path
        assert b"SQLite" not in response.content and b"root:" not in response.content


def test_unknown_run_is_404(client):
    r = client.get("/api/v1/runs/20990101-000000-ffffff")
    assert r.status_code == 404 and "leapscope runs" in r.json()["detail"]


@pytest.mark.slow
def test_token_required_when_set(digits_workspace):
    path, run_id = digits_workspace
    with TestClient(create_app(path, token="s3cret", warm=False), base_url="http://127.0.0.1") as c:
        assert c.get("/api/v1/runs").status_code == 401
        assert c.get("/api/v1/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/v1/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/v1/runs", params={"token": "s3cret"}).status_code == 200
        assert (
            c.get(f"/api/v1/runs/{run_id}/samples/training/5/visuals/image", params={"token": "s3cret"}).status_code
            == 200
        )


def test_non_loopback_bind_gets_a_token(digits_workspace, monkeypatch, capsys):
    import uvicorn

    from leapscope import server

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    server.serve(digits_workspace[0], host="0.0.0.0", port=9, warm=False)
    out = capsys.readouterr().out
    assert "API token" in out
    token = out.split("?token=")[-1].strip()
    with TestClient(seen["app"], base_url="http://127.0.0.1") as c:
        assert c.get("/api/v1/runs").status_code == 401
        assert c.get("/api/v1/runs", params={"token": token}).status_code == 200
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


@pytest.mark.slow
def test_concurrent_clients_no_errors(client, run_id):
    """50 concurrent clients, a bounded number of sample-page requests each; zero errors."""

    def one(i: int) -> tuple[int, float]:
        start = time.perf_counter()
        r = client.get(
            f"/api/v1/runs/{run_id}/samples", params={"subset": "validation", "offset": (i * 7) % 300, "limit": 24}
        )
        return r.status_code, time.perf_counter() - start

    with cf.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(500)))
    assert all(status == 200 for status, _ in results)
