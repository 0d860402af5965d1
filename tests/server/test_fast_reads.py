"""The samples routes answer from a per-run read index (server/_index.py): the same rows, in the same
order, as the DuckDB SQL they replaced; non-finite values as null; rebuilt when the run's files change.
And the endpoints the UI gained in wave 3: dismissals, layers, methods, explain targets, prediction kinds."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from leapscope.server import create_app
from leapscope.store import Workspace
from leapscope.store._sql import sql_identifier


@pytest.fixture(scope="module")
def copy(digits_workspace_copy):
    return digits_workspace_copy


@pytest.fixture(scope="module")
def client(copy):
    path, _ = copy
    with TestClient(create_app(path, warm=False, serve_ui=False), base_url="http://127.0.0.1") as c:
        yield c


def _sql_page(run, where: str, params: list, order: str, offset: int, limit: int) -> list[dict]:
    scalar = [f.name for f in run.samples.schema if not pa.types.is_nested(f.type)]
    cols = ", ".join(sql_identifier(c) for c in scalar)
    query = f"SELECT {cols} FROM samples {where} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    rows = run.sql(query, params).to_pylist()
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()} for r in rows]


QUERIES = [
    ({"subset": "validation", "offset": 40, "limit": 25}, "WHERE subset = ?", ["validation"], "row"),
    (
        {"where": ['digit_label == "8"', "loss_cross_entropy > 0.001"], "sort": "-loss_cross_entropy", "limit": 30},
        "WHERE digit_label = ? AND loss_cross_entropy > ? AND NOT isnan(loss_cross_entropy)",
        ["8", 0.001],
        "loss_cross_entropy DESC NULLS LAST, row",
    ),
    (
        {"subset": "training", "sort": "pred_classes_score", "offset": 7, "limit": 11},
        "WHERE subset = ?",
        ["training"],
        "pred_classes_score ASC NULLS LAST, row",
    ),
    ({"where": ['sample_id == "90"'], "limit": 5}, "WHERE sample_id = ?", ["90"], "row"),
    (
        {"where": ['sample_id == "5"'], "subset": "training", "limit": 5},
        "WHERE sample_id = ? AND subset = ?",
        ["5", "training"],
        "row",
    ),
    ({"rows": "5,3,999999,1", "limit": 10}, "WHERE row IN (1, 3, 5)", [], "row"),
]


@pytest.mark.parametrize(("params", "where", "values", "order"), QUERIES)
def test_pages_are_the_rows_the_sql_selects(client, copy, params, where, values, order):
    path, run_id = copy
    run = Workspace(path).open_run(run_id)
    page = client.get(f"/api/v1/runs/{run_id}/samples", params=params)
    assert page.status_code == 200, page.text
    body = page.json()
    total = run.sql(f"SELECT count(*) AS n FROM samples {where}", values)["n"][0].as_py()
    offset, limit = params.get("offset", 0), params["limit"]
    assert body["total"] == total and total > 0
    assert body["next_offset"] == (offset + limit if offset + limit < total else None)
    assert body["data"] == _sql_page(run, where, values, order, offset, limit)


def test_insight_and_cluster_pages_follow_insights_json(client, copy):
    path, run_id = copy
    stored = json.loads((Workspace(path).open_run(run_id).dir / "insights.json").read_text())
    rows = sorted(stored["insights"][0]["rows"])
    page = client.get(f"/api/v1/runs/{run_id}/samples", params={"insight": 0, "limit": 500}).json()
    assert [r["row"] for r in page["data"]] == rows[:500] and page["total"] == len(rows)
    cluster = stored["clusters"][0]
    expected = [i for i, c in enumerate(stored["clusters"]) if c == cluster]
    page = client.get(f"/api/v1/runs/{run_id}/samples", params={"cluster": cluster, "limit": 500}).json()
    assert page["total"] == len(expected) and [r["row"] for r in page["data"]] == expected[:500]
    assert client.get(f"/api/v1/runs/{run_id}/samples", params={"insight": 10**6}).status_code == 404
    bad = client.get(f"/api/v1/runs/{run_id}/samples", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("query.limit")


def test_one_sample_record(client, copy):
    _, run_id = copy
    record = client.get(f"/api/v1/runs/{run_id}/samples/training/5").json()["data"]
    assert record["row"]["sample_id"] == "5" and record["row"]["subset"] == "training"
    assert len(record["row"]["gt_label"]) == 10  # vectors are part of one sample's record
    assert {v["name"] for v in record["visualizers"]} >= {"image"} and "gradcam" in record["methods"]
    missing = client.get(f"/api/v1/runs/{run_id}/samples/training/no-such-id")
    assert missing.status_code == 404 and "no-such-id" in missing.json()["detail"]


def test_a_changed_run_is_read_again_and_non_finite_values_are_null(client, copy):
    path, run_id = copy
    run = Workspace(path).open_run(run_id)
    first = client.get(f"/api/v1/runs/{run_id}/samples", params={"limit": 3}).json()["data"]
    assert all(isinstance(r["loss_cross_entropy"], float) for r in first)
    table = pq.read_table(run.dir / "samples.parquet")
    losses = table["loss_cross_entropy"].to_numpy().copy()
    losses[:3] = [np.nan, np.inf, 7.5]
    changed = table.set_column(
        table.schema.get_field_index("loss_cross_entropy"), "loss_cross_entropy", pa.array(losses)
    )
    pq.write_table(changed, run.dir / "samples.parquet")
    st = os.stat(run.dir / "samples.parquet")
    os.utime(run.dir / "samples.parquet", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new stamp, surely
    again = client.get(f"/api/v1/runs/{run_id}/samples", params={"limit": 3}).json()["data"]
    assert [r["loss_cross_entropy"] for r in again] == [None, None, 7.5]
    assert (
        client.get(f"/api/v1/runs/{run_id}/samples/{again[2]['subset']}/{again[2]['sample_id']}").json()["data"]["row"][
            "loss_cross_entropy"
        ]
        == 7.5
    )
    top = client.get(f"/api/v1/runs/{run_id}/samples", params={"sort": "-loss_cross_entropy", "limit": 2}).json()
    # DuckDB order, as before: NaN above every number when descending; inf next
    assert [r["row"] for r in top["data"]] == [int(table["row"][0].as_py()), int(table["row"][1].as_py())]


def test_dismissals_round_trip(client):
    base = "/api/v1/projects/digits/dismissals"
    pair = {"a": {"subset": "training", "sample_id": "5"}, "b": {"subset": "validation", "sample_id": "7"}}
    made = client.post(base, json={**pair, "reason": "different pen strokes"})
    assert made.status_code == 200, made.text
    stored = made.json()["data"]
    assert stored["kind"] == "samples" and stored["a"] == pair["a"] and stored["reason"] == "different pen strokes"
    swapped = client.post(base, json={"a": pair["b"], "b": pair["a"]}).json()["data"]
    assert swapped["id"] == stored["id"]  # unordered and idempotent
    listed = client.get(base).json()["data"]
    assert [d["id"] for d in listed] == [stored["id"]]
    mixed = client.post(base, json={"a": pair["a"], "b": {"input_hash": "abc"}})
    assert mixed.status_code == 422 and "input_hash" in mixed.json()["detail"]
    assert client.post("/api/v1/projects/nope/dismissals", json=pair).status_code == 404
    assert client.request("DELETE", base, json=pair).json()["data"] == {"removed": True}
    assert client.request("DELETE", base, json=pair).json()["data"] == {"removed": False}
    assert client.get(base).json()["data"] == []


def test_layers_methods_targets_and_kinds(client, copy):
    _, run_id = copy
    layers = client.get(f"/api/v1/runs/{run_id}/layers")
    assert layers.status_code == 200, layers.text
    body = layers.json()["data"]
    spatial = [layer["name"] for layer in body["layers"] if layer["spatial"]]
    assert body["framework"] == "onnx" and spatial and body["default_cam_layer"] in spatial
    assert sum(layer["default_latent"] for layer in body["layers"]) == 1
    methods = {m["method"]: m for m in client.get(f"/api/v1/runs/{run_id}/methods").json()["data"]}
    assert methods["gradcam"]["applies"] and methods["gradcam"]["reason"] is None
    targets = client.get(f"/api/v1/runs/{run_id}/samples/training/5/targets").json()["data"]
    assert [t["default"] for t in targets].count(True) == 1
    assert {t["target"] for t in targets} >= {"0", "9", "loss"}
    run = client.get(f"/api/v1/runs/{run_id}").json()["data"]
    assert run["prediction_kinds"] == {"classes": "class"}
    region = client.get(f"/api/v1/runs/{run_id}/samples/training/5/explanation", params={"region": "/etc/passwd"})
    assert region.status_code == 422  # never a file path from a request
    insights = client.get(f"/api/v1/runs/{run_id}/insights").json()["data"]
    assert insights and all("confidence" in i for i in insights)


def test_the_fast_lane_answers_what_the_routes_answer(client, copy):
    """server/_fast.py answers from memory ahead of the routes; byte for byte what the routes give."""
    path, run_id = copy
    urls = [
        f"/api/v1/runs/{run_id}/samples?subset=validation&offset=3&limit=7",
        f"/api/v1/runs/{run_id}/samples?where=digit_label%20%3D%3D%20%223%22&where=metric_accuracy%20%3C%201&limit=50",
        f"/api/v1/runs/{run_id}/samples?where=sample_id%20%3D%3D%20%225%22&limit=1",
        f"/api/v1/runs/{run_id}/samples?rows=1,2,3&sort=-loss_cross_entropy",
        f"/api/v1/runs/{run_id}/samples/training/5",
        f"/api/v1/runs/{run_id}/samples?limit=0",  # 422 from both
        f"/api/v1/runs/{run_id}/samples?where=nope%20%3D%3D%201",  # 422 from both
        f"/api/v1/runs/{run_id}/samples/training/nope",  # 404 from both
    ]
    with TestClient(
        create_app(path, warm=False, serve_ui=False, fast_reads=False), base_url="http://127.0.0.1"
    ) as slow:
        for url in urls:
            for _ in range(2):  # the first builds the index or selection; the second is from memory
                fast, routed = client.get(url), slow.get(url)
                assert (fast.status_code, fast.content) == (routed.status_code, routed.content), url
    assert fast.status_code == 404
