"""Heavy work never blocks cheap work (issue 17 §1): heatmaps run in their own bounded pool of worker
processes, a superseded explanation request is dropped while it waits, and models stay warm.

A real uvicorn server in a thread, the real digits run and model (tests/conftest.py), real worker processes.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from leapscope.server import create_app
from tests.e2e._live import serve_app

pytestmark = pytest.mark.slow  # spawns worker processes that load the model


@pytest.fixture(scope="module")
def live(digits_workspace: tuple[Path, str]) -> Iterator[tuple[str, str, Any]]:
    """(base URL, run id, the app's state) of a live server with ONE explanation worker (heatmaps queue there)."""
    path, run_id = digits_workspace
    app = create_app(path, warm=False, serve_ui=False, explain_workers=1)
    with serve_app(app) as base:
        yield base, run_id, app.state.leapscope


def _training_ids(state: Any, run_id: str, n: int) -> list[str]:
    df = state.workspace.open_run(run_id).to_pandas()
    return [str(i) for i in df.sample_id[df.subset == "training"].head(n)]


def _explain(base: str, run_id: str, sample: str, **params: str) -> tuple[int, float, str]:
    """(status, monotonic time the answer arrived, content type) of one explanation request."""
    r = httpx.get(
        f"{base}/api/v1/runs/{run_id}/samples/training/{sample}/explanation",
        params={"method": "integrated_gradients", **params},
        timeout=300,
    )
    return r.status_code, time.monotonic(), r.headers.get("content-type", "")


def test_a_visual_stays_fast_while_heatmaps_queue(live):
    base, run_id, state = live
    visual = f"{base}/api/v1/runs/{run_id}/samples/training/5/visuals/image"
    assert httpx.get(visual, timeout=120).status_code == 200  # the visuals worker has loaded the run
    assert _explain(base, run_id, "5", target="9")[0] == 200  # so has the explanation worker
    started = state.explain.started
    # 48 distinct heatmaps queue on the one explanation worker (a digits heatmap alone takes ~25 ms when idle,
    # the PNG up to ~0.3 s on a loaded CI machine: the queue must be long enough to tell the two designs apart)
    with cf.ThreadPoolExecutor(48) as pool:
        ids = _training_ids(state, run_id, 48)
        heatmaps = [pool.submit(_explain, base, run_id, sid, target=str(i % 10)) for i, sid in enumerate(ids)]
        deadline = time.monotonic() + 30
        while state.explain.started == started and time.monotonic() < deadline:
            time.sleep(0.02)  # the first heatmap is computing, three wait for the one explanation worker
        assert state.explain.started > started, "no heatmap started"
        t0 = time.monotonic()
        r = httpx.get(visual, timeout=120)
        png_at = time.monotonic()
        results = [f.result() for f in heatmaps]
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
    assert [s for s, _, _ in results] == [200] * 48 and all(c == "image/png" for _, _, c in results)
    # before: visuals and heatmaps shared one worker process, so the PNG came after every queued heatmap
    after_png = sorted(round(at - t0, 3) for _, at, _ in results if at > png_at)
    assert len(after_png) >= 24, (round(png_at - t0, 3), after_png)


def test_a_superseded_request_is_dropped_and_identical_ones_are_joined(live):
    """Same client, same sample, a new target while the first waits: the first answers 409 Superseded."""
    base, run_id, state = live
    superseded, started = state.explain.superseded, state.explain.started
    with cf.ThreadPoolExecutor(24) as pool:
        # 16 distinct heatmaps of other clients keep the one worker busy (one takes ~25 ms when idle)
        ids = _training_ids(state, run_id, 40)[20:36]
        busy = [pool.submit(_explain, base, run_id, sid, target="0", client=f"other-{i}") for i, sid in enumerate(ids)]
        deadline = time.monotonic() + 30
        while state.explain.started == started and time.monotonic() < deadline:
            time.sleep(0.01)
        old = pool.submit(_explain, base, run_id, "6", method="saliency", target="1", client="page-1")
        deadline = time.monotonic() + 30  # `old` must reach the server (and wait behind the busy ones) first
        while not any("page-1" in key for key in state.explain._latest) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert any("page-1" in key for key in state.explain._latest), "the first request never reached the pool"
        twins = [
            pool.submit(_explain, base, run_id, "6", method="saliency", target="2", client="page-1") for _ in range(2)
        ]
        results = [f.result() for f in (*busy, old, *twins)]
    assert [s for s, _, _ in results] == [200] * 16 + [409, 200, 200], results
    assert state.explain.superseded == superseded + 1
    assert state.explain.started == started + 17  # the busy ones and the twins' one computation; `old` never started


LOAD_COUNTING_MODEL = """
    import os, torch
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "loads.txt"), "a") as f:
        f.write(f"{os.getpid()}\\n")
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
"""


def test_models_stay_warm_until_their_files_change(make_integration, tmp_path):
    from leapscope import api

    folder = make_integration(model=LOAD_COUNTING_MODEL)
    run = api.evaluate(folder, workspace=tmp_path / "ws", workers=0)
    loads = folder / "loads.txt"
    app = create_app(tmp_path / "ws", warm=False, serve_ui=False, explain_workers=1)
    url = f"/api/v1/runs/{run.id}/samples/training/3/explanation"
    with TestClient(app, base_url="http://127.0.0.1") as client:
        before = len(loads.read_text().splitlines())
        for target in ("a", "b", "c", "a"):
            r = client.get(url, params={"method": "saliency", "target": target})
            assert r.status_code == 200 and r.json()["data"]["type"] == "horizontal_bar", r.text
        pids = set(loads.read_text().splitlines()[before:])
        assert len(loads.read_text().splitlines()) == before + 1 and pids == {
            str(app.state.leapscope.explain.pids()[0])
        }
        # a changed integration file: the worker loads the run (and so the model) again, once
        source = folder / "integration.py"
        source.write_text(source.read_text() + "\n# edited\n")
        for target in ("a", "b"):
            assert client.get(url, params={"method": "saliency", "target": target}).status_code == 200
        assert len(loads.read_text().splitlines()) == before + 2
