"""The web app in real Chromium (Debian's /usr/bin/chromium driven by Playwright), against a real run."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from leapscope.server import STATIC_DIR, create_app

SHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(digits_workspace):
    assert (STATIC_DIR / "index.html").exists(), "the web UI is not built: run `make install`"
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(digits_workspace[0], warm=False), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started:
            break
        time.sleep(0.1)
    assert server.started, "the test server did not start within 60 s"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_runs_page(page, base_url, digits_workspace):
    run_id = digits_workspace[1]
    page.goto(f"{base_url}/#/runs")
    expect(page.locator(f"tr[data-run='{run_id}']")).to_contain_text("complete")
    expect(page.locator("h2").first).to_have_text("digits")
    page.locator(f"input[aria-label='compare {run_id}']").check()
    shot(page, "runs")


def test_click_a_point_opens_the_sample(page, base_url, digits_workspace):
    run_id = digits_workspace[1]
    page.goto(f"{base_url}/#/runs/{run_id}/map")
    canvas = page.locator("canvas[data-testid=map]")
    expect(canvas).to_be_visible()
    page.wait_for_function("() => window.leapscopeMap && window.leapscopeMap.getScreenPosition(0)")
    page.select_option("select[aria-label='color by']", "loss_cross_entropy")
    page.select_option("select[aria-label='size by']", "loss_cross_entropy")
    page.select_option("select[aria-label='filter subset']", "validation")
    page.wait_for_timeout(300)
    shot(page, "map")
    page.select_option("select[aria-label='filter subset']", "")
    x, y = page.evaluate("() => window.leapscopeMap.getScreenPosition(42)")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/samples/**")
    expect(page.locator("h1")).to_contain_text("Sample")
    expect(page.locator("figure[data-visual=image] img")).to_be_visible()


def test_insight_opens_its_samples(page, base_url, digits_workspace):
    run_id = digits_workspace[1]
    page.goto(f"{base_url}/#/runs/{run_id}/insights")
    first = page.locator("article.insight").first
    expect(first).to_be_visible()
    first.locator("header").click()
    expect(first.locator(".explanation")).to_contain_text("samples")
    expect(first.locator(".grid .thumb").first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.insight .grid img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    shot(page, "insights")
    first.locator("text=Show these samples on the map").click()
    page.wait_for_url("**/map?insight=0")
    expect(page.locator(".badge.running")).to_contain_text("insight 0")


def test_sample_page_switches_heatmap_method(page, base_url, digits_workspace):
    run_id = digits_workspace[1]
    page.goto(f"{base_url}/#/runs/{run_id}/samples/test/1500")
    heat = page.locator("img.heatmap")
    expect(heat).to_be_visible(timeout=30000)
    page.select_option("select[aria-label=method]", "gradcam")
    expect(page.locator("img.heatmap[data-method=gradcam]")).to_be_visible(timeout=30000)
    assert "method=gradcam" in page.locator("img.heatmap").get_attribute("src")
    expect(page.locator(".sample-layout .card").nth(3).locator(".thumb").first).to_be_visible()
    expect(page.locator("figure[data-visual=prediction] .chart svg").first).to_be_visible()
    shot(page, "sample")


def test_dashboards_and_wiring(page, base_url, digits_workspace):
    run_id = digits_workspace[1]
    page.goto(f"{base_url}/#/runs/{run_id}/dashboards")
    expect(page.locator("#confusion .main-svg").first).to_be_visible(timeout=20000)
    expect(page.locator("#by-metadata .main-svg").first).to_be_visible()
    expect(page.locator("#tests")).to_be_visible()
    shot(page, "dashboards")
    page.goto(f"{base_url}/#/runs/{run_id}/wiring")
    expect(page.locator("g[data-node='model']")).to_be_visible()
    expect(page.locator("g[data-node='metric:accuracy']")).to_be_visible()
    shot(page, "wiring")


def test_error_and_empty_states(page, base_url):
    page.goto(f"{base_url}/#/runs/20990101-000000-ffffff/map")
    expect(page.locator(".state.error")).to_contain_text("no run")
