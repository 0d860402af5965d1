"""Damaged or odd workspace files and odd requests (trial C, items 3, 4 and 6): each is a 4xx or a 503
naming the file and the fix, for that run only; an unexpected error is a JSON 500 that keeps the
keep-alive connection open. Real runs, real files damaged on disk, a real uvicorn server."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from leapscope import runs
from leapscope.exceptions import CorruptStorageError, LeapscopeError, NotFoundError
from leapscope.server import create_app
from leapscope.store import Workspace
from tests.e2e._live import serve_app
from tests.server._odd_run import make_odd_run

BASE_URL = "http://127.0.0.1:8040"
N = 30  # samples of the odd run


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return make_odd_run(tmp_path_factory.mktemp("damaged"))


@pytest.fixture
def ws(pristine, tmp_path) -> tuple[Path, str]:
    """A fresh copy of the workspace, free to damage."""
    copy = tmp_path / "ws"
    shutil.copytree(pristine[0], copy)
    return copy, pristine[1]


def _client(path: Path) -> TestClient:
    return TestClient(create_app(path, warm=False), base_url=BASE_URL, raise_server_exceptions=False)


def _problem(r: httpx.Response, status: int, *words: str) -> str:
    assert r.status_code == status, (r.status_code, r.text[:400])
    assert r.headers["content-type"].startswith("application/problem+json")
    detail = r.json()["detail"]
    assert "Traceback" not in detail
    for word in words:
        assert word in detail, (word, detail)
    return str(detail)


def _insights(rows_: list[int], **changes: object) -> dict[str, object]:
    insight = {
        "type": "low_performance",
        "severity": 0.5,
        "subset": "training",
        "rows": rows_,
        "sample_ids": [f"s{r}" for r in rows_],
        "statistics": {},
        "explanation": "e",
        "title": "t",
        "suggested_test": None,
        "extra": {},
        "confidence": 0.5,
        **changes,
    }
    return {
        "run_id": "x",
        "detectors": [{"type": "low_performance", "status": "ran", "reason": None, "found": 1}],
        "clusters": [0] * N,
        "insights": [insight],
    }


def _other_run_lists(c: TestClient, run_id: str) -> None:
    """The run lists keep working while one run's files are damaged."""
    listed = c.get("/api/v1/runs")
    assert listed.status_code == 200 and run_id in {r["id"] for r in listed.json()["data"]}
    assert c.get("/api/v1/projects").status_code == 200


# ------------------------------------------------------------------ item 3: last resort, keep-alive


def test_unexpected_error_is_a_json_500_and_the_connection_stays_open(ws, caplog):
    path, run_id = ws
    manifest = path / "runs" / run_id / "manifest.json"
    manifest.unlink()
    manifest.mkdir()  # a folder where the manifest should be: no handler knows this error (IsADirectoryError)
    app = create_app(path, warm=False, serve_ui=False)
    caplog.set_level(logging.ERROR)
    with serve_app(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        ports = set()

        def trace(event: str, info: dict[str, object]) -> None:
            if event == "connection.connect_tcp.complete":
                ports.add(info["return_value"].get_extra_info("sockname"))  # type: ignore[attr-defined]

        bad = client.get(f"/api/v1/runs/{run_id}", extensions={"trace": trace})
        assert bad.status_code == 500 and bad.headers["content-type"].startswith("application/problem+json")
        body = bad.json()
        assert body["status"] == 500 and "IsADirectoryError" in body["detail"] and "LEAPSCOPE_DEBUG" in body["detail"]
        good = client.get("/api/v1/health", extensions={"trace": trace})  # same connection: no ConnectionResetError
        assert good.status_code == 200
        assert len(ports) == 1  # one TCP connection for both requests
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Exception in ASGI application" not in logged and "answered 500" in logged
    assert not any(r.exc_info for r in caplog.records if r.name == "leapscope.server")


# ------------------------------------------------------------------ item 3: odd requests are 4xx


def test_numeric_aggregate_of_a_text_or_list_column_is_a_400(ws):
    path, run_id = ws
    with _client(path) as c:
        for column, agg, kind in (
            ("gt_label_label", "sum", "string"),
            ("gt_label", "mean", "list"),
            ("subset", "std", "string"),
        ):
            detail = _problem(
                c.get(f"/api/v1/runs/{run_id}/aggregate", params={"column": column, "agg": agg}), 400, column, kind
            )
            assert "count" in detail and "BinderException" not in detail
        ok = c.get(f"/api/v1/runs/{run_id}/aggregate", params={"column": "gt_label_label", "agg": "count"})
        assert ok.status_code == 200
    run = Workspace(path).open_run(run_id)
    with pytest.raises(
        LeapscopeError, match=r"column 'gt_label_label' of run .* is string; fix: use one of count, min, max"
    ):
        runs.aggregate(run, "gt_label_label", agg="sum")


def test_a_test_name_with_a_lone_surrogate_is_a_4xx(ws):
    path, _ = ws
    with _client(path) as c:
        body = '{"name": "a\\ud800b", "metric": "metric_accuracy", "min": 0.1}'  # the JSON escape, sent as is
        r = c.post("/api/v1/projects/odd/tests", content=body, headers={"content-type": "application/json"})
        _problem(r, 422, "lone surrogate")
        assert c.get("/api/v1/projects/odd/tests").status_code == 200


# ------------------------------------------------------------------ item 4: damaged insights.json


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"insights": [ {"type": ', ["not valid JSON"]),
        (json.dumps(_insights([1, 2], rows="12")), ["'rows' is missing or not a list of integers"]),
        (json.dumps(_insights([1, 2], severity={"a": 1})), ["'severity'"]),
        (json.dumps(_insights([1, 1_000_000_000])), ["row 1000000000"]),
        (json.dumps(_insights([-5, 3])), ["row -5"]),  # a negative row would pick a sample from the end
        (json.dumps({**_insights([1]), "clusters": [1, 2]}), ["'clusters'"]),
        (json.dumps([1, 2]), ["JSON list"]),
    ],
    ids=["invalid-json", "rows-text", "severity-dict", "row-out-of-range", "negative-row", "clusters-short", "a-list"],
)
def test_damaged_insights_json_is_a_503_for_that_run_only(ws, content, words):
    path, run_id = ws
    (path / "runs" / run_id / "insights.json").write_text(content)
    with _client(path) as c:
        for url, params in (
            (f"/api/v1/runs/{run_id}/insights", {}),
            (f"/api/v1/runs/{run_id}/points", {}),
            (f"/api/v1/runs/{run_id}/samples", {"insight": 0}),
            (f"/api/v1/runs/{run_id}/samples", {"cluster": 0}),
        ):
            _problem(c.get(url, params=params), 503, "insights.json", "analyze", *words)
        assert c.get(f"/api/v1/runs/{run_id}/samples").status_code == 200  # the rest of the run still answers
        _other_run_lists(c, run_id)
    with pytest.raises(CorruptStorageError, match=r"insights\.json"):
        runs.load_insights(Workspace(path).open_run(run_id))


def test_a_valid_insights_json_still_reads(ws):
    path, run_id = ws
    (path / "runs" / run_id / "insights.json").write_text(json.dumps(_insights([1, 2])))
    with _client(path) as c:
        r = c.get(f"/api/v1/runs/{run_id}/insights")
        assert r.status_code == 200 and r.json()["data"][0]["rows"] == [1, 2]
        page = c.get(f"/api/v1/runs/{run_id}/samples", params={"insight": 0})
        assert page.status_code == 200 and [s["row"] for s in page.json()["data"]] == [1, 2]
        assert c.get(f"/api/v1/runs/{run_id}/points").json()["data"]["cluster"] == [0] * N


def test_insights_json_linked_outside_the_run_is_not_read(ws, tmp_path):
    path, run_id = ws
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(_insights([1, 2])))  # even valid content is not read through the link
    (path / "runs" / run_id / "insights.json").symlink_to(outside)
    with _client(path) as c:
        for url in (f"/api/v1/runs/{run_id}/insights", f"/api/v1/runs/{run_id}/points"):
            _problem(c.get(url), 503, "symbolic link", str(outside), "rm ")
        _other_run_lists(c, run_id)


# ------------------------------------------------------------------ item 4: odd samples.parquet


def _rewrite_samples(path: Path, run_id: str, change) -> None:  # type: ignore[no-untyped-def]
    file = path / "runs" / run_id / "samples.parquet"
    pq.write_table(change(pq.read_table(file)), file)


def test_samples_without_a_key_column_is_a_503_for_that_run_only(ws):
    path, run_id = ws
    _rewrite_samples(path, run_id, lambda t: t.drop_columns(["subset"]))
    with _client(path) as c:
        for url in ("samples", "samples/training/s1", "points", "aggregate?column=loss_ce", "insights"):
            r = c.get(f"/api/v1/runs/{run_id}/{url}")
            if url == "insights":  # nothing stored: no need to read the samples
                assert r.status_code == 200
                continue
            _problem(r, 503, "samples.parquet", "'subset'")
        _other_run_lists(c, run_id)


def test_a_binary_column_is_left_out_of_every_json_answer(ws):
    path, run_id = ws
    _rewrite_samples(path, run_id, lambda t: t.append_column("blob", pa.array([b"\x00\xff"] * t.num_rows, pa.binary())))
    with _client(path) as c:
        for _ in range(2):  # the second page comes from the fast lane (index built by the first)
            page = c.get(f"/api/v1/runs/{run_id}/samples", params={"limit": 3})
            assert page.status_code == 200 and "blob" not in page.json()["data"][0]
            record = c.get(f"/api/v1/runs/{run_id}/samples/training/s1")
            assert record.status_code == 200 and "blob" not in record.json()["data"]["row"], record.text[:300]
        points = c.get(f"/api/v1/runs/{run_id}/points", params={"columns": "blob,info_index"})
        assert (
            points.status_code == 200 and "blob" not in points.json()["data"] and "info_index" in points.json()["data"]
        )
        assert c.get(f"/api/v1/runs/{run_id}/samples", params={"sort": "blob"}).status_code == 400
        assert "blob" not in {col["name"] for col in c.get(f"/api/v1/runs/{run_id}").json()["data"]["columns"]}


# ------------------------------------------------------------------ item 4: damaged catalog rows


def test_a_catalog_row_with_bad_json_is_listed_as_damaged(ws):
    path, run_id = ws
    db = sqlite3.connect(path / "catalog.sqlite")
    db.execute("UPDATE runs SET counts = '{not json' WHERE id = ?", (run_id,))
    db.commit()
    db.close()
    with _client(path) as c:
        listed = c.get("/api/v1/runs")
        assert listed.status_code == 200
        (row,) = [r for r in listed.json()["data"] if r["id"] == run_id]
        assert row["status"] == "damaged" and "'counts' is not valid JSON" in row["error"] and row["counts"] is None
        assert c.get("/api/v1/projects").status_code == 200
        _problem(c.get(f"/api/v1/runs/{run_id}"), 503, "catalog", "'counts'", "leapscope.store.recover")


def test_a_catalog_row_with_an_invalid_id_does_not_hide_the_others(ws):
    path, run_id = ws
    db = sqlite3.connect(path / "catalog.sqlite")
    row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    names = [d[0] for d in db.execute("SELECT * FROM runs").description]
    values = dict(zip(names, row, strict=True)) | {"id": "../../x"}
    db.execute(f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", list(values.values()))
    db.commit()
    db.close()
    with _client(path) as c:
        listed = c.get("/api/v1/runs")
        assert listed.status_code == 200 and [r["id"] for r in listed.json()["data"]] == [run_id]
        assert c.get("/api/v1/projects").status_code == 200


# ------------------------------------------------------------------ item 6: cosmetic


def test_saved_test_metric_must_be_a_score_column_and_bounds_name_the_json_fields(ws):
    path, _ = ws
    with _client(path) as c:
        r = c.post("/api/v1/projects/odd/tests", json={"name": "rows", "metric": "row", "min": 0})
        _problem(r, 422, "'row' is not a metric_* or loss_* column", "metric_accuracy")
        r = c.post("/api/v1/projects/odd/tests", json={"name": "nobound", "metric": "metric_accuracy"})
        assert "--min" not in _problem(r, 422, "'min'", "'max'").split("`leapscope test`")[0]


def test_sort_with_two_dashes_is_refused(ws):
    path, run_id = ws
    with _client(path) as c:
        for _ in range(2):  # route, then fast lane once the index is built
            _problem(c.get(f"/api/v1/runs/{run_id}/samples", params={"sort": "--row"}), 400, "'-row'")
        assert c.get(f"/api/v1/runs/{run_id}/samples", params={"sort": "-row"}).json()["data"][0]["row"] == N - 1


def test_dismissals_of_samples_that_do_not_exist_are_refused(ws):
    path, _ = ws
    with _client(path) as c:
        url = "/api/v1/projects/odd/dismissals"
        bad = {"a": {"subset": "training", "sample_id": "s1"}, "b": {"subset": "training", "sample_id": "nope"}}
        _problem(c.post(url, json=bad), 404, "training/nope")
        _problem(c.post(url, json={"a": {"input_hash": "0" * 16}, "b": {"input_hash": "1" * 16}}), 404, "input hash")
        assert c.get(url).json()["data"] == []
        good = {"a": {"subset": "training", "sample_id": "s1"}, "b": {"subset": "validation", "sample_id": "s15"}}
        assert c.post(url, json=good).status_code == 200
    with pytest.raises(NotFoundError):
        runs.dismiss_pair(path, "odd", ("training", "s1"), ("training", "missing"))


def test_a_projections_folder_linked_outside_the_run_is_not_written_through(ws, tmp_path):
    path, run_id = ws
    outside = tmp_path / "outside"
    outside.mkdir()
    projections = path / "runs" / run_id / "projections"
    shutil.rmtree(projections, ignore_errors=True)
    projections.symlink_to(outside)
    with _client(path) as c:
        _problem(c.get(f"/api/v1/runs/{run_id}/projection"), 503, "symbolic link", str(outside))
    with pytest.raises(CorruptStorageError, match="symbolic link"):
        runs.projection(Workspace(path).open_run(run_id), method="pca")
    assert list(outside.iterdir()) == []


def test_head_of_the_app_is_answered(ws):
    path, _ = ws
    with _client(path) as c:
        page = c.head("/")
        assert page.status_code == 200 and page.content == b"" and page.headers["content-type"].startswith("text/html")
        assert c.head("/api/v1/health").status_code == 405  # the API answers GET
