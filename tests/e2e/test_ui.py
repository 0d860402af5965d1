"""The web app in real Chromium (Debian's /usr/bin/chromium driven by Playwright), against a real run."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e._live import chromium, live_server

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"  # referenced from README.md


@pytest.fixture(scope="module")
def base_url(digits_workspace):
    with live_server(digits_workspace[0]) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


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
    expect(page.locator("figure[data-visual=image] img")).to_be_visible(timeout=30000)


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
    expect(heat).to_be_visible(timeout=90000)  # the first heatmap of the server loads the model
    page.select_option("select[aria-label=method]", "gradcam")
    expect(page.locator("img.heatmap[data-method=gradcam]")).to_be_visible(timeout=30000)
    assert "method=gradcam" in page.locator("img.heatmap").get_attribute("data-url")
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
