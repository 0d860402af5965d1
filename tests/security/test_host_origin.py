"""DNS rebinding and cross-site requests: Host allow-list, Origin and content type of state-changing
requests, and the request body bound (issue 11, items 2 and 5), through the real app over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from leapscope.server import create_app
from tests.server._odd_run import make_odd_run

PORT = 8040
BASE_URL = f"http://127.0.0.1:{PORT}"

# Host headers a DNS-rebinding page (or a confused proxy) can make a browser send
FOREIGN_HOSTS = [
    "evil.example",
    f"evil.example:{PORT}",
    "127.0.0.1.evil.example",
    f"localhost.evil.example:{PORT}",
    "evil.example@127.0.0.1",
    "[::2]",
    "localhost:80@evil.example",
    "0.0.0.0",
    "127.0.0.2",
    "",
    "LOCALHOST.",
    "lab.example",
]
LOCAL_HOSTS = [
    f"127.0.0.1:{PORT}",
    "127.0.0.1",
    "localhost",
    f"localhost:{PORT}",
    f"LOCALHOST:{PORT}",
    "[::1]",
    f"[::1]:{PORT}",
]
FOREIGN_ORIGINS = [
    "http://evil.example",
    f"http://evil.example:{PORT}",
    "null",
    f"http://127.0.0.1:{PORT + 1}",
    f"https://127.0.0.1:{PORT}",
    f"http://localhost:{PORT}",
    "file://",
    f"http://127.0.0.1.evil.example:{PORT}",
]
NON_JSON = [
    None,
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain; application/json",
    "application/jsonp",
    "application/json-patch",
]


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    path, run_id = make_odd_run(tmp_path_factory.mktemp("host-origin"))
    return str(path), run_id


@pytest.fixture(scope="module")
def app(odd_run):
    return create_app(odd_run[0], warm=False)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url=BASE_URL) as c:
        yield c


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_foreign_host_is_refused(client, odd_run, host):
    for path in ("/api/v1/runs", f"/api/v1/runs/{odd_run[1]}", "/api/v1/health", "/"):
        r = client.get(path, headers={"Host": host})
        assert r.status_code == 421, (host, path, r.status_code)
        body = r.json()
        assert body["status"] == 421 and "--allow-host" in body["detail"] and "DNS-rebinding" in body["detail"]


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_bound_host_names_are_served(client, host):
    assert client.get("/api/v1/runs", headers={"Host": host}).status_code == 200


def test_allow_host_and_bind_address(odd_run):
    app = create_app(odd_run[0], warm=False, host="192.168.7.7", allow_hosts=["Lab.Example"])
    with TestClient(app, base_url=BASE_URL) as c:
        for host in ("lab.example", f"lab.example:{PORT}", "192.168.7.7", f"192.168.7.7:{PORT}", f"127.0.0.1:{PORT}"):
            assert c.get("/api/v1/runs", headers={"Host": host}).status_code == 200, host
        assert c.get("/api/v1/runs", headers={"Host": "evil.example"}).status_code == 421
    with TestClient(create_app(odd_run[0], warm=False, allow_hosts=["*"]), base_url=BASE_URL) as c:
        assert c.get("/api/v1/runs", headers={"Host": "anything.example"}).status_code == 200


def test_foreign_host_is_refused_before_the_token(odd_run):
    with TestClient(create_app(odd_run[0], warm=False, token="s3cret"), base_url=BASE_URL) as c:
        assert (
            c.get("/api/v1/runs", headers={"Host": "evil.example", "Authorization": "Bearer s3cret"}).status_code == 421
        )
        assert c.get("/api/v1/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_cross_origin_post_is_refused_and_starts_no_job(client, app, odd_run, origin):
    r = client.post(f"/api/v1/runs/{odd_run[1]}/insights", json={}, headers={"Origin": origin})
    assert r.status_code == 403, (origin, r.status_code)
    assert "Origin" in r.json()["detail"]
    assert app.state.leapscope.jobs.jobs == {}


@pytest.mark.parametrize("content_type", NON_JSON)
def test_non_json_post_is_refused_and_starts_no_job(client, app, odd_run, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post(f"/api/v1/runs/{odd_run[1]}/insights", content=b"{}" if content_type else None, headers=headers)
    assert r.status_code == 415, (content_type, r.status_code)
    assert "application/json" in r.json()["detail"]
    assert app.state.leapscope.jobs.jobs == {}
    for method in ("PUT", "PATCH", "DELETE"):
        assert client.request(method, f"/api/v1/runs/{odd_run[1]}/insights", headers=headers).status_code == 415


def test_same_origin_json_post_is_accepted(client):
    body = {"name": "acc", "metric": "metric_accuracy", "min": 0.0}
    for origin in (None, BASE_URL, f"http://127.0.0.1:{PORT}/"):
        headers = {"Origin": origin} if origin else {}
        r = client.post("/api/v1/projects/odd/tests", json=body, headers=headers)
        assert r.status_code == 200, (origin, r.text)
    r = client.post(
        "/api/v1/projects/odd/tests",
        json=body,
        headers={"Host": f"localhost:{PORT}", "Origin": f"http://localhost:{PORT}"},
    )
    assert r.status_code == 200
    r = client.post(
        "/api/v1/projects/odd/tests",
        content=b'{"name": "acc", "metric": "metric_accuracy", "min": 0}',
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert r.status_code == 200


def test_large_bodies_get_413(client):
    big = b'{"name": "' + b"x" * (60 * 1024 * 1024) + b'", "metric": "metric_accuracy"}'
    r = client.post("/api/v1/projects/odd/tests", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["status"] == 413

    def chunks():  # no Content-Length: counted while read
        for _ in range(60):
            yield b" " * (1024 * 1024)

    r = client.post("/api/v1/projects/odd/tests", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.request("GET", "/api/v1/runs", content=b"x" * (3 * 1024 * 1024))
    assert r.status_code == 413
    assert client.get("/api/v1/runs").status_code == 200


def test_cross_site_reads_are_refused_by_fetch_metadata(tmp_path):
    """An <img src=http://127.0.0.1:8040/api/v1/runs/2/projection?method=tsne> on any web page started a job:
    browsers label such requests ``Sec-Fetch-Site: cross-site``; the app's own requests are ``same-origin``."""
    from fastapi.testclient import TestClient

    from leapscope.server import create_app

    with TestClient(create_app(tmp_path / "ws", serve_ui=False, warm=False), base_url="http://127.0.0.1") as client:
        for site in ("cross-site", "same-site"):
            refused = client.get("/api/v1/projects", headers={"Sec-Fetch-Site": site})
            assert refused.status_code == 403 and "another site" in refused.json()["detail"]
        assert client.get("/api/v1/projects", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
        assert client.get("/api/v1/projects", headers={"Sec-Fetch-Site": "none"}).status_code == 200
        assert client.get("/api/v1/projects").status_code == 200
