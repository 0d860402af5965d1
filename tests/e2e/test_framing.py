"""Clickjacking: another site cannot frame the app (and so trick clicks on its buttons), a notebook page on
a loopback host name still can (``ls.launch`` shows the app in an IFrame). Real Chromium, real servers.

Before: no ``frame-ancestors`` policy, and a page on 127.0.0.2 framed the Insights page and got a click
on "Analyze run" accepted (202)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from leapscope.server import create_app
from leapscope.server._security import allowed_hosts, frame_ancestors
from tests.e2e._live import chromium, free_port, serve_app
from tests.server._odd_run import make_odd_run

pytestmark = pytest.mark.slow


@contextmanager
def page_server(host: str, html: str) -> Iterator[str]:
    """Serve one HTML page on ``host`` (a loopback address) in a thread; yields its URL."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, free_port()), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()


def _framed_title(browser, outer: str) -> str:
    """The app's document title inside the frame of the page at ``outer`` ('' when the frame was blocked)."""
    page = browser.new_page()
    try:
        page.goto(outer)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            frames = [f for f in page.frames if f != page.main_frame]
            if frames and frames[0].url.startswith("http") and frames[0].title():
                return frames[0].title()
            time.sleep(0.2)
        return ""
    finally:
        page.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workspace, _ = make_odd_run(tmp_path_factory.mktemp("framing"))
    with serve_app(create_app(workspace, warm=False)) as base:
        yield base


def test_every_answer_carries_the_frame_policy(app_url):
    for path in ("/", "/api/v1/runs", "/api/v1/nope"):
        policy = httpx.get(app_url + path).headers.get("content-security-policy", "")
        assert policy.startswith("frame-ancestors 'self' "), (path, policy)
        assert "http://localhost:*" in policy and "http://127.0.0.1:*" in policy and "127.0.0.2" not in policy
    assert "*:*" not in frame_ancestors(allowed_hosts("127.0.0.1", ["*"]))  # '*' never opens framing to all


def test_another_site_cannot_frame_the_app_a_loopback_notebook_can(app_url):
    frame = f'<html><body><iframe src="{app_url}/" width="800" height="600"></iframe></body></html>'
    with chromium() as browser:
        port = app_url.rsplit(":", 1)[1]
        with page_server("127.0.0.1", frame) as notebook:
            # a page on localhost (as Jupyter is) frames it: the app's own title shows inside
            assert _framed_title(browser, notebook.replace("127.0.0.1", "localhost")) != ""
        with page_server("127.0.0.2", frame) as evil:
            assert _framed_title(browser, evil) == "", f"127.0.0.2 framed the app on port {port}"
