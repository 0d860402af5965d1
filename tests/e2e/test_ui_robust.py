"""The web app never goes blank, and ids holding `/ ? # %` route right (issue 11, items 16 and 5).

Real Chromium (Debian's /usr/bin/chromium driven by Playwright) against a real server on a real
run of an integration whose model is a torch ``nn.Module`` object (its manifest has
``inputs[0].shape: null``) and whose sample ids hold ``/``, ``?``, ``#``, ``%`` and ``../``.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from leapscope import api
from tests.e2e._live import chromium, live_server

WEB_SRC = Path(__file__).resolve().parents[2] / "web" / "src"

# near-identical features: the odd ids are each other's nearest neighbours (the "similar" links)
ODD_IDS = ["a/b", "what?x=1&y=2", "hash#1", "pct%2F50", "../../../projects"]
PROJECT = "odd #1?x=%25"  # a project name is a path segment too

INTEGRATION = """
from __future__ import annotations
import numpy as np
import leapscope as ls
import torch

ODD = {odd!r}


class TinyMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(4, 8)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, x):
        return torch.softmax(self.out(torch.relu(self.hidden(x))), dim=1)


@ls.preprocess
def subsets():
    rng = np.random.default_rng(0)
    plain = [f"s{{i}}" for i in range(30)]
    x = {{k: rng.normal(size=4).astype(np.float32) for k in plain}}
    base = rng.normal(size=4).astype(np.float32) + 3
    x.update({{k: base + 1e-3 * rng.normal(size=4).astype(np.float32) for k in ODD}})
    y = {{k: int(rng.integers(0, 3)) for k in x}}
    data = {{"x": x, "y": y}}
    return [ls.Subset("training", plain[:20], data), ls.Subset("validation", ODD + plain[20:], data)]


@ls.input_encoder("features", channel_dim=None)
def features(sample_id, subset):
    return subset.data["x"][sample_id]


@ls.gt_encoder("label")
def label(sample_id, subset):
    return np.eye(3, dtype=np.float32)[subset.data["y"][sample_id]]


@ls.metadata("info")
def info(sample_id, subset):
    return {{"name_length": len(sample_id)}}


@ls.visualizer("bars", ls.VisualizerType.HORIZONTAL_BAR)
def bars(classes):
    return ls.HorizontalBar(classes, labels=["a", "b", "c"])


@ls.metric("accuracy")
def accuracy(label, classes):
    return (label.argmax(1) == classes.argmax(1)).astype(np.float32)


@ls.loss("ce")
def ce(label, classes):
    return -(label * np.log(np.clip(classes, 1e-7, 1))).sum(1)


@ls.load_model(predictions=[ls.Prediction("classes", labels=["a", "b", "c"])])
def model():
    torch.manual_seed(0)
    return TinyMLP()


@ls.integration_test
def test(sample_id, subset):
    x = features(sample_id, subset)
    y = label(sample_id, subset)
    p = model()(x)
    ce(y, p)
    accuracy(y, p)
    bars(p)
"""


@pytest.fixture(scope="module")
def torch_workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A workspace with an analyzed run of a torch-object model, and a copy whose manifest lacks fields."""
    import leapscope as ls

    root = tmp_path_factory.mktemp("torch-object")
    folder = root / "integration"
    folder.mkdir()
    (folder / "integration.py").write_text(textwrap.dedent(INTEGRATION.format(odd=ODD_IDS)))
    workspace = root / "ws"
    run = ls.evaluate(folder, workspace=workspace, workers=1, project=PROJECT)
    api.analyze(workspace, run.id)
    manifest = json.loads((workspace / "runs" / run.id / "manifest.json").read_text())
    assert manifest["model"]["inputs"][0]["shape"] is None, "the premise: a torch object declares no input shape"
    # a second run of the same integration, whose manifest then loses the fields the pages read
    bare = ls.evaluate(folder, workspace=workspace, workers=1, project=PROJECT)
    bare_manifest = workspace / "runs" / bare.id / "manifest.json"
    kept = {
        k: v
        for k, v in json.loads(bare_manifest.read_text()).items()
        if k not in ("model", "wiring", "predictions", "latent_spaces")
    }
    bare_manifest.write_text(json.dumps(kept))
    return {"path": workspace, "run": run.id, "bare": bare.id}


@pytest.fixture(scope="module")
def base_url(torch_workspace: dict[str, Any]) -> Iterator[str]:
    with live_server(torch_workspace["path"]) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Tab:
    """A page plus what it did: uncaught errors and every /api request (method, path, headers, body)."""

    def __init__(self, page: Page):
        self.page = page
        self.errors: list[str] = []
        self.requests: list[dict[str, Any]] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", self._record)

    def _record(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.path.startswith("/api/"):
            self.requests.append(
                {
                    "method": request.method,
                    "raw_path": parts.path,
                    "headers": request.headers,
                    "body": request.post_data,
                }
            )


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    t = Tab(context.new_page())
    yield t
    context.close()
    assert not t.errors, f"uncaught errors in the page: {t.errors}"


def route_of(run_id: str, *segments: str) -> str:
    """The hash route the app builds: every segment percent-encoded."""
    return "#/runs/" + "/".join(quote(s, safe="") for s in (run_id, *segments))


def expect_nav(page: Page, run_id: str) -> None:
    """The app shell is there: brand, nav tabs and the run id (not a blank page)."""
    expect(page.locator("header a.brand")).to_have_text("leapscope")
    expect(page.locator("header nav a[data-tab=wiring]")).to_be_visible()
    expect(page.locator("header .runid")).to_have_text(f"run {run_id}")


def test_wiring_page_of_a_torch_object_model_shows_dynamic_dims(
    tab: Tab, base_url: str, torch_workspace: dict[str, Any]
) -> None:
    run_id = torch_workspace["run"]
    tab.page.goto(f"{base_url}/#/runs")
    expect(tab.page.locator("h2", has_text=PROJECT)).to_be_visible()
    tab.page.locator(f"tr[data-run='{run_id}'] a").click()
    tab.page.locator("header nav a[data-tab=wiring]").click()
    expect(tab.page.locator("g[data-node='model']")).to_be_visible()
    expect(tab.page.locator("g[data-node='metric:accuracy']")).to_be_visible()
    signature = tab.page.locator("[data-testid=model-signature]")
    # input shape null -> "[?] (dynamic)"; output [null, 3] -> "[?, 3]" (a dynamic dim is "?", never "B")
    expect(signature).to_contain_text("torch: x [?] (dynamic) → output [?, 3]")
    assert "B" not in signature.inner_text().replace("Model", "")
    expect_nav(tab.page, run_id)


@pytest.mark.parametrize("sample_id", ODD_IDS)
def test_sample_page_of_an_id_with_url_characters(
    tab: Tab, base_url: str, torch_workspace: dict[str, Any], sample_id: str
) -> None:
    run_id = torch_workspace["run"]
    tab.page.goto(f"{base_url}/{route_of(run_id, 'samples', 'validation', sample_id)}")
    expect(tab.page.locator("[data-testid=sample-id]")).to_have_text(sample_id)
    # the row the server sent is this sample's (not a 404, not another route's answer)
    expect(tab.page.locator("table.stats tr:has(th:text-is('sample_id')) td")).to_have_text(sample_id, timeout=60000)
    expect(tab.page.locator("figure[data-visual=bars] .chart svg").first).to_be_visible(timeout=20000)
    expect_nav(tab.page, run_id)
    # every API request stays inside this sample's URL space: nothing reached /runs/projects & co.
    sample_prefix = f"/api/v1/runs/{run_id}/samples/validation/{quote(sample_id, safe='')}"
    sample_requests = [r["raw_path"] for r in tab.requests if "/samples/" in r["raw_path"]]
    assert sample_requests, tab.requests
    assert all(p == sample_prefix or p.startswith(sample_prefix + "/") for p in sample_requests), sample_requests
    assert all(r["raw_path"].startswith(f"/api/v1/runs/{run_id}") for r in tab.requests), [
        r["raw_path"] for r in tab.requests
    ]


def test_similar_links_of_odd_ids_open_the_right_sample(
    tab: Tab, base_url: str, torch_workspace: dict[str, Any]
) -> None:
    run_id = torch_workspace["run"]
    tab.page.goto(f"{base_url}/{route_of(run_id, 'samples', 'validation', 'a/b')}")
    similar = tab.page.locator(".sample-layout .card").nth(3).locator("a.thumb")
    expect(similar.first).to_be_visible(timeout=20000)
    target = tab.page.locator(".sample-layout a.thumb[data-sample='../../../projects']")
    expect(target).to_be_visible()
    assert target.get_attribute("href") == route_of(run_id, "samples", "validation", "../../../projects")
    target.click()
    expect(tab.page.locator("[data-testid=sample-id]")).to_have_text("../../../projects")
    expect(tab.page.locator("table.stats tr:has(th:text-is('sample_id')) td")).to_have_text("../../../projects")
    assert not any(r["raw_path"].rstrip("/").endswith(("/runs/projects", "/v1/projects")) for r in tab.requests), (
        tab.requests
    )
    expect_nav(tab.page, run_id)


def test_map_selection_opens_an_odd_sample(tab: Tab, base_url: str, torch_workspace: dict[str, Any]) -> None:
    run_id = torch_workspace["run"]
    page = tab.page
    page.goto(f"{base_url}/{route_of(run_id, 'map')}")
    page.wait_for_function("() => window.leapscopeMap && window.leapscopeMap.getScreenPosition(0)", timeout=30000)
    row = page.evaluate(
        f"async () => {{ const r = await fetch('/api/v1/runs/{run_id}/points'); const d = (await r.json()).data;"
        " return d.sample_id.indexOf('../../../projects'); }"
    )
    assert row >= 0
    page.evaluate(f"() => window.leapscopeMap.select([{row}])")  # what a click on that point does
    expect(page.locator("[data-testid=sample-id]")).to_have_text("../../../projects")
    expect(page.locator("table.stats tr:has(th:text-is('sample_id')) td")).to_have_text(
        "../../../projects", timeout=30000
    )
    expect_nav(page, run_id)


def test_insight_thumbnails_link_to_odd_samples(tab: Tab, base_url: str, torch_workspace: dict[str, Any]) -> None:
    run_id = torch_workspace["run"]
    page = tab.page
    page.goto(f"{base_url}/{route_of(run_id, 'insights')}")
    cards = page.locator("article.insight")
    expect(cards.first).to_be_visible(timeout=20000)
    for i in range(cards.count()):
        cards.nth(i).locator("header").click()
    hrefs = dict(
        page.locator("article.insight a.thumb").evaluate_all(
            "els => els.map(e => [e.dataset.sample, e.getAttribute('href')])"
        )
    )
    odd = {sid: hrefs[sid] for sid in ODD_IDS if sid in hrefs}
    assert odd, f"the near-identical odd ids make an insight (duplicates): {sorted(hrefs)}"
    for sid, href in odd.items():
        assert href == route_of(run_id, "samples", "validation", sid), (sid, href)
    sid, href = next(iter(odd.items()))
    page.locator(f"article.insight a.thumb[href='{href}']").first.click()
    expect(page.locator("table.stats tr:has(th:text-is('sample_id')) td")).to_have_text(sid, timeout=30000)
    expect_nav(page, run_id)


def test_dashboards_of_a_project_with_url_characters(tab: Tab, base_url: str, torch_workspace: dict[str, Any]) -> None:
    run_id = torch_workspace["run"]
    page = tab.page
    page.goto(f"{base_url}/{route_of(run_id, 'dashboards')}")
    expect(page.locator("#across-runs .main-svg").first).to_be_visible(timeout=30000)
    expect(page.locator("#confusion .main-svg").first).to_be_visible()
    expect(page.locator("#tests")).to_contain_text(f"Regression tests of {PROJECT}")
    expect(page.locator("#tests")).to_contain_text("No saved test")
    expect(page.locator(".state.error")).to_have_count(0)
    project_requests = [r["raw_path"] for r in tab.requests if r["raw_path"].startswith("/api/v1/projects/")]
    assert sorted(project_requests) == [
        f"/api/v1/projects/{quote(PROJECT, safe='')}/{leaf}" for leaf in ("compare", "tests")
    ], project_requests
    expect_nav(page, run_id)


def test_a_manifest_without_model_and_wiring_does_not_blank_the_app(
    tab: Tab, base_url: str, torch_workspace: dict[str, Any]
) -> None:
    run_id = torch_workspace["bare"]
    tab.page.goto(f"{base_url}/{route_of(run_id, 'wiring')}")
    expect(tab.page.locator("main")).to_contain_text("This run stored no wiring.", timeout=20000)
    expect(tab.page.locator("[data-testid=model-signature]")).to_contain_text(
        "unknown framework: inputs unknown → outputs unknown"
    )
    expect_nav(tab.page, run_id)


def test_a_page_that_throws_shows_an_error_card_with_retry(
    tab: Tab, base_url: str, torch_workspace: dict[str, Any]
) -> None:
    run_id = torch_workspace["run"]
    page = tab.page
    run_api = f"**/api/v1/runs/{run_id}"

    def malformed(route: Route) -> None:
        # a run of the wrong shape (wiring and columns strings): the pages' render throws
        body = route.fetch().json()
        body["data"]["manifest"]["wiring"] = "not a list"
        body["data"]["columns"] = "not a list"
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(run_api, malformed)
    page.goto(f"{base_url}/{route_of(run_id, 'wiring')}")
    card = page.locator("[data-testid=page-error]")
    expect(card).to_be_visible()
    expect(card).to_contain_text("The Wiring page could not be shown")
    expect(card).to_contain_text("filter")  # the error message, readable
    expect_nav(page, run_id)
    # the nav still works from the broken page, and Retry re-renders once the data is good
    page.unroute(run_api)
    card.locator("button", has_text="Retry").click()
    expect(page.locator("g[data-node='model']")).to_be_visible()
    expect(card).to_have_count(0)
    page.route(run_api, malformed)
    page.locator("header nav a[data-tab=map]").click()
    expect(page.locator("[data-testid=page-error]")).to_contain_text("Population")
    page.unroute(run_api)
    page.locator("header nav a[data-tab=wiring]").click()
    expect(page.locator("g[data-node='model']")).to_be_visible()


def test_analyze_posts_json_through_the_client(tab: Tab, base_url: str, torch_workspace: dict[str, Any]) -> None:
    run_id = torch_workspace["run"]
    page = tab.page
    page.goto(f"{base_url}/{route_of(run_id, 'insights')}")
    expect(page.locator("article.insight").first).to_be_visible(timeout=20000)
    with page.expect_request(lambda r: "/api/v1/jobs/" in r.url, timeout=60000):
        page.locator("button", has_text="Analyze run").click()
    posts = [r for r in tab.requests if r["method"] != "GET"]
    assert [(r["method"], r["raw_path"]) for r in posts] == [("POST", f"/api/v1/runs/{run_id}/insights")]
    assert posts[0]["headers"].get("content-type") == "application/json"
    assert json.loads(posts[0]["body"]) == {}
    expect(page.locator(".state.error")).to_have_count(0)


def test_state_changing_requests_go_through_one_client_function() -> None:
    """Only web/src/api.ts talks to /api/v1 with a method: pages call post()/send() (JSON body, JSON type)."""
    offenders = []
    for source in sorted(WEB_SRC.rglob("*.ts*")):
        if (
            source.name == "api.ts" or "generated" in source.relative_to(WEB_SRC).parts
        ):  # generated types and constants: no code that fetches
            continue
        text = source.read_text()
        for pattern in (r"/api/v1", r"\bmethod\s*:", r"window\.location\.search", r"sessionStorage|localStorage"):
            offenders += [f"{source.relative_to(WEB_SRC)}: {pattern}" for _ in re.finditer(pattern, text)]
    assert not offenders, offenders
    client = (WEB_SRC / "api.ts").read_text()
    assert client.count("method,") == 1 and '"Content-Type": "application/json"' in client


def test_router_decodes_each_segment_once(browser: Browser, base_url: str, torch_workspace: dict[str, Any]) -> None:
    """A bare `%` typed into the address bar does not throw in the router (the app still renders)."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    run_id = torch_workspace["run"]
    page.goto(f"{base_url}/#/runs/{run_id}/samples/validation/100%")
    expect(page.locator("[data-testid=sample-id]")).to_have_text("100%")
    expect(page.locator(".state.error")).to_contain_text("no sample")
    expect_nav(page, run_id)
    context.close()
    assert not errors, errors


def test_gradcam_is_not_offered_for_a_model_without_a_spatial_layer(
    tab: Tab, base_url: str, torch_workspace: dict[str, Any]
) -> None:
    """An MLP has no feature map: Grad-CAM/LayerCAM are listed as not applicable, no layer box (issue 14)."""
    run_id = torch_workspace["run"]
    page = tab.page
    page.goto(f"{base_url}/{route_of(run_id, 'samples', 'training', 's1')}")
    method = page.locator("select[aria-label=method]")
    expect(method.locator("option[value=gradcam]")).to_be_disabled(timeout=60000)
    assert "spatial" in (method.locator("option[value=gradcam]").get_attribute("title") or "")
    expect(method.locator("option[value=layercam]")).to_be_disabled()
    expect(method.locator("option[value=integrated_gradients]")).to_be_enabled()
    expect(page.locator("[aria-label=layer]")).to_have_count(0)
    expect_nav(page, run_id)
