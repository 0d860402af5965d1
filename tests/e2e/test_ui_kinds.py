"""Pages follow the run's output kind, and pair insights show both samples (issues 14 and 16, UI side).

Real Chromium (Debian's /usr/bin/chromium driven by Playwright) against a real server on a real run
of a small *dense* model (a torch conv net giving a (1, 8, 8) per-pixel probability map, declared
``kind="dense"``) whose training subset holds planted exact copies (the duplicates insight).

- map, insights, sample, dashboards and wiring render with no error card; the confusion card is
  replaced by a note (a dense map has no confusion matrix), `correct` is not offered on the map;
- a flattened dense output in a bar visualizer shows its largest bars, not 64 (or 16k) "classes";
- a duplicates insight lists its pairs side by side: both pictures, the distance, the space, the threshold.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from leapscope import api
from tests.e2e._live import chromium, live_server

pytestmark = pytest.mark.slow

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

INTEGRATION = """
from __future__ import annotations
import numpy as np
import leapscope as ls
import torch

COPIES = {"t1": "t0", "t3": "t2", "t5": "t4"}  # planted exact duplicates (same pixels)


@ls.preprocess
def subsets():
    rng = np.random.default_rng(0)
    ids = [f"t{i}" for i in range(24)] + [f"v{i}" for i in range(12)]
    images = {}
    for k in ids:
        img = np.zeros((1, 8, 8), np.float32)
        r, c = rng.integers(0, 5, size=2)
        img[0, r:r + 3, c:c + 3] = 1.0
        images[k] = np.clip(img + 0.3 * rng.random((1, 8, 8)).astype(np.float32), 0, 1)
    for copy, original in COPIES.items():
        images[copy] = images[original].copy()
    data = {"x": images}
    return [ls.Subset("training", ids[:24], data), ls.Subset("validation", ids[24:], data)]


@ls.input_encoder("image", channel_dim=0)
def image(sample_id, subset):
    return subset.data["x"][sample_id]


@ls.gt_encoder("mask")
def mask(sample_id, subset):
    return (subset.data["x"][sample_id] > 0.9).astype(np.float32)


@ls.metadata("blob")
def blob(sample_id, subset):
    x = subset.data["x"][sample_id]
    return {"size": int((x > 0.9).sum()), "mean": float(x.mean())}


@ls.visualizer("image", ls.VisualizerType.IMAGE)
def show(image):
    return ls.Image(image.transpose(1, 2, 0))


@ls.visualizer("pixels", ls.VisualizerType.HORIZONTAL_BAR)
def pixels(probability):
    flat = probability.reshape(-1)
    return ls.HorizontalBar(flat, labels=[f"px{i}" for i in range(flat.size)])


@ls.loss("pixel_bce")
def pixel_bce(mask, probability):
    p = np.clip(probability, 1e-6, 1 - 1e-6)
    return -(mask * np.log(p) + (1 - mask) * np.log(1 - p)).reshape(len(p), -1).mean(1)


@ls.metric("pixel_accuracy", direction="higher")
def pixel_accuracy(mask, probability):
    return ((probability > 0.5) == (mask > 0.5)).reshape(len(mask), -1).mean(1).astype(np.float32)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.conv2(torch.relu(self.conv1(x))))


@ls.load_model(predictions=[ls.Prediction("probability", kind="dense", labels=["blob"], channel_dim=0)])
def model():
    torch.manual_seed(0)
    return Net()


@ls.integration_test
def test(sample_id, subset):
    x = image(sample_id, subset)
    y = mask(sample_id, subset)
    p = model()(x)
    pixel_bce(y, p)
    pixel_accuracy(y, p)
    show(x)
    pixels(p)
"""


@pytest.fixture(scope="module")
def dense_workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import leapscope as ls

    root = tmp_path_factory.mktemp("dense-ui")
    folder = root / "integration"
    folder.mkdir()
    (folder / "integration.py").write_text(textwrap.dedent(INTEGRATION))
    workspace = root / "ws"
    run = ls.evaluate(folder, workspace=workspace, workers=1)
    api.analyze(workspace, run.id)
    return {"path": workspace, "run": run.id}


@pytest.fixture(scope="module")
def base_url(dense_workspace: dict[str, Any]) -> Iterator[str]:
    with live_server(dense_workspace["path"]) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors


def no_error_card(page: Page) -> None:
    expect(page.locator(".state.error")).to_have_count(0)
    expect(page.locator("[data-testid=page-error]")).to_have_count(0)


def test_a_dense_run_renders_every_page_without_error_cards(page: Page, base_url: str, dense_workspace: dict) -> None:
    run_id = dense_workspace["run"]
    page.goto(f"{base_url}/#/runs/{run_id}/map")
    page.wait_for_function("() => window.leapscopeMap && window.leapscopeMap.getScreenPosition(0)", timeout=30000)
    colour_options = page.locator("select[aria-label='color by'] option").all_inner_texts()
    assert "correct" not in colour_options, colour_options  # no classes, no "correct"
    assert "loss_pixel_bce" in colour_options
    # numeric metadata sizes the points; a numeric colouring draws the whole ramp with ticks
    assert "blob_mean" in page.locator("select[aria-label='size by'] option").all_inner_texts()
    page.select_option("select[aria-label='color by']", "loss_pixel_bce")
    page.select_option("select[aria-label='size by']", "blob_mean")
    ramp = page.locator("[data-testid=legend].ramp")
    expect(ramp.locator(".ramp-bar")).to_be_visible()
    ticks = ramp.locator(".ramp-ticks span").all_inner_texts()
    assert len(ticks) == 5 and all(len(t.replace("≤ ", "").replace("≥ ", "")) <= 9 for t in ticks), ticks
    # another projection: the old layout goes at once (no PCA points under a t-SNE being computed)
    held: list = []
    page.route("**/projection?method=tsne*", lambda route: held.append(route))
    page.select_option("select[aria-label=projection]", "tsne")
    expect(page.locator("canvas[data-testid=map]")).to_have_count(0)
    expect(page.locator(".state.loading").first).to_be_visible()
    assert held, "the t-SNE projection was not asked for"
    page.unroute("**/projection?method=tsne*")
    for route in held:
        with contextlib.suppress(PlaywrightError):  # a request the page dropped meanwhile
            route.continue_()
    page.wait_for_function("() => document.querySelector('canvas[data-testid=map]')", timeout=60000)
    no_error_card(page)

    page.locator("header nav a[data-tab=dashboards]").click()
    expect(page.locator("#by-metadata .main-svg").first).to_be_visible(timeout=30000)
    expect(page.locator("[data-testid=confusion-card]")).to_have_count(0)
    expect(page.locator("[data-testid=no-confusion]")).to_contain_text("dense")
    expect(page.locator("#across-runs .main-svg").first).to_be_visible(timeout=30000)
    no_error_card(page)
    page.screenshot(path=str(SHOTS / "dense-dashboards.png"), full_page=True)

    page.locator("header nav a[data-tab=wiring]").click()
    expect(page.locator("g[data-node='prediction:probability']")).to_be_visible()
    no_error_card(page)

    page.locator("header nav a[data-tab=insights]").click()
    expect(page.locator("article.insight").first).to_be_visible(timeout=30000)
    no_error_card(page)

    page.goto(f"{base_url}/#/runs/{run_id}/samples/validation/v0")
    expect(page.locator("[data-testid=sample-row] tr:has(th:text-is('sample_id')) td")).to_have_text(
        "v0", timeout=30000
    )
    expect(page.locator("input[aria-label=target]")).to_have_attribute("placeholder", "target (main class mass)")
    # the 64-pixel map in a bar visualizer: its 40 largest bars, said so
    bars = page.locator("figure[data-visual=pixels]")
    expect(bars.locator("[data-testid=bars-cut]")).to_have_text("the 40 largest of 64 values")
    expect(bars.locator(".chart .main-svg").first).to_be_visible(timeout=30000)
    no_error_card(page)


def test_a_duplicates_insight_shows_its_pairs_side_by_side(page: Page, base_url: str, dense_workspace: dict) -> None:
    run_id = dense_workspace["run"]
    page.goto(f"{base_url}/#/runs/{run_id}/insights")
    card = page.locator("article.insight.duplicates").first
    expect(card).to_be_visible(timeout=30000)
    card.locator("header").click()
    pairs = card.locator("[data-testid=pairs] .pair")
    expect(pairs).to_have_count(3)  # the three planted copies
    shown = {pairs.nth(i).get_attribute("data-pair") for i in range(3)}
    assert shown == {"t0~t1", "t2~t3", "t4~t5"}, shown
    first = pairs.first
    expect(first.locator("[data-testid=pair-distance]")).to_contain_text("identical input")
    expect(first).to_contain_text("input_hash")
    # both pictures load (placeholders until then), side by side, each a link to its sample
    for side in first.locator(".pair-side").all():
        expect(side.locator(".img-wrap")).to_have_attribute("data-status", "ok", timeout=30000)
    # the two rows side by side: same input, so the metadata agrees
    expect(first.locator("table.pair-table tr:has(th:text-is('blob_size')) td").first).to_be_visible()
    cells = first.locator("table.pair-table tr:has(th:text-is('blob_size')) td").all_inner_texts()
    assert len(cells) == 2 and cells[0] == cells[1], cells
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "duplicates-pair.png"), full_page=True)
    first.locator(".pair-side").first.click()
    expect(page.locator("[data-testid=sample-id]")).to_have_text("t0")


def test_not_a_duplicate_is_remembered_by_the_next_analysis(page: Page, base_url: str, dense_workspace: dict) -> None:
    """The button stores a dismissal through the API; the next analysis of the project skips the pair."""
    run_id = dense_workspace["run"]
    page.goto(f"{base_url}/#/runs/{run_id}/insights")
    card = page.locator("article.insight.duplicates").first
    expect(card).to_be_visible(timeout=30000)
    card.locator("header").click()
    pair = card.locator("[data-testid=pairs] .pair[data-pair='t2~t3']")
    with page.expect_request(lambda r: r.url.endswith("/dismissals") and r.method == "POST") as sent:
        pair.locator("button", has_text="Not a duplicate").click()
    assert json.loads(sent.value.post_data or "{}")["a"] == {"subset": "training", "sample_id": "t2"}
    expect(pair.locator("[data-testid=dismiss]")).to_have_attribute("data-state", "dismissed")
    expect(pair.locator("[data-testid=dismiss]")).to_contain_text("later analyses")
    stored = page.evaluate(
        f"async () => {{ const r = await (await fetch('/api/v1/runs/{run_id}')).json();"
        " return (await (await fetch('/api/v1/projects/' + encodeURIComponent(r.data.project) + '/dismissals')).json()).data; }"
    )
    assert [(d["a"].get("sample_id"), d["b"].get("sample_id")) for d in stored] == [("t2", "t3")], stored
    api.analyze(dense_workspace["path"], run_id)
    page.reload()
    card = page.locator("article.insight.duplicates").first
    expect(card).to_be_visible(timeout=30000)
    card.locator("header").click()
    pairs = card.locator("[data-testid=pairs] .pair")
    expect(pairs).to_have_count(2)
    assert {pairs.nth(i).get_attribute("data-pair") for i in range(2)} == {"t0~t1", "t4~t5"}


def test_the_layer_box_is_a_list_of_the_models_spatial_layers(page: Page, base_url: str, dense_workspace: dict) -> None:
    run_id = dense_workspace["run"]
    page.goto(f"{base_url}/#/runs/{run_id}/samples/validation/v1")
    method = page.locator("select[aria-label=method]")
    expect(method.locator("option[value=gradcam]")).to_be_enabled(timeout=30000)
    expect(page.locator("[aria-label=layer]")).to_have_count(0)  # no layer for integrated gradients
    page.select_option("select[aria-label=method]", "gradcam")
    layer = page.locator("select[aria-label=layer]")
    expect(layer).to_be_visible(timeout=60000)  # the first layers answer loads the model
    names = layer.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert names[0] == "" and len(names) >= 2, names  # "default layer (…)" then the conv layers
    assert all("conv" in n.lower() for n in names[1:]), names
    with page.expect_request(lambda r: "/explanation" in r.url and f"layer={names[1]}" in r.url, timeout=20000):
        page.select_option("select[aria-label=layer]", names[1])
