"""Path payloads through the API (issue 11, item 5): a projection's ``space`` is never a glob or a
path, and sample ids with ``/ ? # %`` reach their own sample. Served by a real uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from leapscope.server import create_app
from tests.server._odd_run import ODD_IDS, make_odd_run

SPACE_PAYLOADS = [
    "../../../../../../usr/**/zz",
    "../../../../../../etc/passwd",
    "/etc/passwd",
    "*",
    "**",
    "**/*",
    "?",
    "[0-9]*",
    "0_input*",
    "0_input/../../../x",
    "0_input-umap-*",
    "..",
    ".",
    "../latent/0_input",
    "..\\..\\x",
    "0_input\x00",
    "%2e%2e%2f",
    "latent/0_input",
    "0_INPUT",
    " 0_input",
    "0_input ",
    "{0_input,x}",
]


def seg(value: str) -> str:
    """One path segment, as a client must encode it (dot-only segments too, which URL parsers would resolve)."""
    return "".join(f"%{ord(c):02X}" for c in value) if set(value) == {"."} else quote(value, safe="")


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    path, run_id = make_odd_run(tmp_path_factory.mktemp("paths"))
    return str(path), run_id


@pytest.fixture(scope="module")
def app(odd_run):
    return create_app(odd_run[0], warm=False)


@pytest.fixture(scope="module")
def server(app) -> Iterator[str]:
    """The app on a real uvicorn server (path decoding as in production), in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=120) as c:
        yield c


@pytest.mark.parametrize("method", ["pca", "umap", "tsne"])
def test_projection_space_payloads_are_404_and_start_no_job(http, app, odd_run, method):
    run_id = odd_run[1]
    before = sorted(p.name for p in (app.state.leapscope.workspace.path / "runs" / run_id).rglob("*"))
    for payload in SPACE_PAYLOADS:
        r = http.get(f"/api/v1/runs/{run_id}/projection", params={"method": method, "space": payload})
        assert r.status_code == 404, (payload, r.status_code, r.text[:200])
        body = r.json()
        assert body["status"] == 404 and "stored: 0_input" in body["detail"], payload
    assert app.state.leapscope.jobs.jobs == {}
    assert sorted(p.name for p in (app.state.leapscope.workspace.path / "runs" / run_id).rglob("*")) == before


def test_projection_of_a_stored_space(http, odd_run):
    run_id = odd_run[1]
    for params in ({}, {"space": "0_input"}, {"space": ""}):
        r = http.get(f"/api/v1/runs/{run_id}/projection", params=params)
        assert r.status_code == 200 and len(r.json()["data"]["x"]) == 30, params


@pytest.mark.parametrize("sample_id", ODD_IDS)
def test_sample_ids_with_url_characters_are_reachable(http, odd_run, sample_id):
    run_id = odd_run[1]
    subset = "training"
    base = f"/api/v1/runs/{run_id}/samples/{subset}/{seg(sample_id)}"
    r = http.get(base)
    assert r.status_code == 200, (sample_id, r.status_code, r.text[:200])
    assert r.json()["data"]["row"]["sample_id"] == sample_id
    near = http.get(f"{base}/similar", params={"k": 3})
    assert (
        near.status_code == 200
        and len(near.json()["data"]) == 3
        and sample_id not in {n["sample_id"] for n in near.json()["data"]}
    )


def test_visual_of_a_slash_id(http, odd_run):
    r = http.get(f"/api/v1/runs/{odd_run[1]}/samples/training/{seg('a/b')}/visuals/bars")
    assert r.status_code == 200 and r.json()["data"]["type"] == "horizontal_bar"


def test_encoded_slash_is_not_a_route_separator(http, odd_run):
    run_id = odd_run[1]
    # "a/b" + "/similar" spelled inside one segment is a sample id, not the similar route
    r = http.get(f"/api/v1/runs/{run_id}/samples/training/{seg('a/b/similar')}")
    assert r.status_code == 404 and "no sample 'a/b/similar'" in r.json()["detail"]
    for path in (
        "/api/v1/runs/..%2F..%2Fetc%2Fpasswd",
        f"/api/v1/runs/{run_id}%2Fsamples",
        "/api/v1/runs/%2e%2e%2fcatalog.sqlite",
        f"/api/v1/runs/{run_id}/samples/training%2F..%2F..%2F..",
        "/api/v1/..%2Fprojects",
    ):
        r = http.get(path)
        assert r.status_code in (400, 404), path
        assert b"SQLite" not in r.content and b"root:" not in r.content


def test_test_client_sees_the_same_ids(app, odd_run):
    """Starlette's TestClient decodes paths twice; the server decodes once from the raw path."""
    with TestClient(app, base_url="http://127.0.0.1") as c:
        for sample_id in ("a/b", "a%2Fb", "?#%"):
            r = c.get(f"/api/v1/runs/{odd_run[1]}/samples/training/{seg(sample_id)}")
            assert r.status_code == 200 and r.json()["data"]["row"]["sample_id"] == sample_id
