"""XSS payloads in every user string of a real run, viewed in the HTML report and in the web app (real Chromium).

The integration below puts the payloads in the project and version names, the class labels, the
sample ids, metadata keys and values, metric names (dict keys) and an error message; the run is
evaluated, analyzed and reported for real. Chromium opens the report and the web app pages with a
``dialog`` handler: no dialog may fire, no injected element may appear, and the payloads must read
as plain text.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import DIGITS
from tests.e2e._live import chromium, live_server

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "</script><script>alert(1)</script>",
    "javascript:alert(1)",
    "{{7*7}}",
    "'-alert(1)-'",
    "<!--<script>alert(1)//-->",
    '<a href="javascript:alert(1)">x</a>',
    "a&amp;b",
    "${7*7}<b>b</b>",
]
# Strings that become column names (metadata keys, metric dict keys) avoid '"': DuckDB quoting of
# such names is issue 11 item 9, not this file's subject.
COLUMN_PAYLOADS = ["<img src=x onerror=alert(1)>", "{{7*7}}", "'-alert(1)-'", "<svg onload=alert(1)>"]
PROJECT = "<img src=x onerror=alert(1)> proj"
VERSION = '"><svg onload=alert(1)> v'
ERROR = "<img src=x onerror=alert(1)> failed"
# ids without '/ ? # %' (URL encoding of such ids is issue 11 item 5)
VALIDATION_IDS = [
    f"{p} {i}"
    for i in range(2)
    for p in (
        "<img src=x onerror=alert(1)>",
        '"><svg onload=alert(1)>',
        "{{7*7}}",
        "'-alert(1)-'",
        "javascript:alert(1)",
        "<!--x-->",
    )
]
SAMPLE = VALIDATION_IDS[0]
BROKEN = "<svg onload=alert(1)> broken"

INTEGRATION = """
from __future__ import annotations
import numpy as np
import leapscope as ls

LABELS = {labels!r}
KEYS = {keys!r}
TRAINING = [f"t{{i}}" for i in range(30)] + [{broken!r}]
VALIDATION = {validation!r}


@ls.preprocess
def subsets():
    ids = TRAINING + VALIDATION
    rng = np.random.default_rng(0)
    data = {{"x": rng.random((len(ids), 8, 8, 1)).astype(np.float32), "y": rng.integers(0, 10, size=len(ids)),
             "index": {{s: i for i, s in enumerate(ids)}}}}
    return [ls.Subset("training", TRAINING, data), ls.Subset("validation", VALIDATION, data)]


@ls.input_encoder("image", channel_dim=-1)
def image(sample_id, subset):
    return subset.data["x"][subset.data["index"][sample_id]]


@ls.gt_encoder("label")
def label(sample_id, subset):
    return np.eye(10, dtype=np.float32)[subset.data["y"][subset.data["index"][sample_id]]]


@ls.metadata("tag")
def tag(sample_id, subset):
    if sample_id == {broken!r}:
        raise ValueError({error!r})
    i = subset.data["index"][sample_id]
    return {{KEYS[0]: LABELS[i % 4], KEYS[1]: LABELS[4 + i % 3]}}


@ls.visualizer("image", ls.VisualizerType.IMAGE)
def show(image):
    return ls.Image(image, scale="unit")


@ls.metric("score")
def score(label, classes):
    return {{KEYS[2]: (label.argmax(1) == classes.argmax(1)).astype(np.float32), KEYS[3]: classes.max(1)}}


@ls.loss("ce")
def ce(label, classes):
    return -(label * np.log(np.clip(classes, 1e-7, 1))).sum(1)


@ls.load_model(predictions=[ls.Prediction("classes", labels=LABELS)])
def model():
    return "model.onnx"


@ls.integration_test
def test(sample_id, subset):
    x = image(sample_id, subset)
    y = label(sample_id, subset)
    p = model()(x)
    ce(y, p)
    score(y, p)
    show(x)
"""


@pytest.fixture(scope="module")
def xss_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with one evaluated and analyzed run whose user strings are XSS payloads (the digits ONNX model)."""
    import leapscope as ls
    from leapscope import api

    root = tmp_path_factory.mktemp("xss")
    folder = root / "integration"
    folder.mkdir()
    (folder / "integration.py").write_text(
        INTEGRATION.format(labels=PAYLOADS, keys=COLUMN_PAYLOADS, validation=VALIDATION_IDS, broken=BROKEN, error=ERROR)
    )
    shutil.copy(DIGITS / "model.onnx", folder / "model.onnx")
    workspace = root / "ws"
    run = ls.evaluate(folder, workspace=workspace, workers=0, project=PROJECT, version=VERSION)
    found = api.analyze(workspace, run.id)
    if not any(p in i.explanation for i in found for p in PAYLOADS):
        _store_payload_insight(workspace, run.id)
    return workspace, run.id


def _store_payload_insight(workspace: Path, run_id: str) -> None:
    """Random labels on random images give no insight any more (pure noise must yield nothing), so one
    insight whose text quotes the payload labels is stored the way ``analyze`` stores insights: a hostile
    or tampered run folder is exactly what the pages must render as text."""
    from leapscope.analysis import Insight
    from leapscope.runs.analyze import INSIGHTS_FILE
    from leapscope.store import Workspace, write_json

    ws = Workspace(workspace, create=False)
    run = ws.open_run(run_id)
    rows = run.to_pandas()
    row = rows[rows.sample_id == VALIDATION_IDS[0]].iloc[0]
    insight = Insight(
        "mislabeled",
        0.9,
        "validation",
        [int(row.row)],
        [VALIDATION_IDS[0]],
        {"samples": 1, "confidence": 0.9},
        f"sample {VALIDATION_IDS[0]} is labeled {PAYLOADS[0]}, but its neighbours say {PAYLOADS[1]}",
        f"validation: 1 sample labeled {PAYLOADS[0]}",
    )
    stored = json.loads((run.dir / INSIGHTS_FILE).read_text())  # keep what analyze stored (clusters, statuses)
    stored["insights"] = [insight.to_dict(), *stored.get("insights", [])]
    write_json(run.dir / INSIGHTS_FILE, stored)
    ws.catalog.save_insights(run_id, stored["insights"])


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    """A page that records every dialog (alert/confirm/prompt) and every uncaught script error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.errors = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))  # type: ignore[attr-defined]
    yield pg
    context.close()


INJECTED = """() => ({
    handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
    jsLinks: [...document.querySelectorAll('a[href], [*|href]')].map(e => e.getAttribute('href') || e.getAttribute('xlink:href') || '').filter(h => /^\\s*javascript:/i.test(h)),
    scripts: [...document.scripts].filter(s => !s.src && s.type !== 'application/json').map(s => s.textContent.slice(0, 80)),
    brokenImages: [...document.images].filter(i => i.getAttribute('src') === 'x').length,
})"""


def assert_clean(page: Page, where: str) -> None:
    """No dialog fired, no element carries an on* handler or a javascript: link, no inline script was injected."""
    page.wait_for_timeout(300)  # an injected <img src=x onerror> fires as soon as its load fails
    assert page.dialogs == [], f"{where}: a payload ran script: {page.dialogs}"  # type: ignore[attr-defined]
    assert page.errors == [], f"{where}: uncaught script errors {page.errors}"  # type: ignore[attr-defined]
    found = page.evaluate(INJECTED)
    assert found == {"handlers": [], "jsLinks": [], "scripts": found["scripts"], "brokenImages": 0}, (
        f"{where}: injected markup {found}"
    )
    assert not any("alert" in s for s in found["scripts"]), f"{where}: injected script {found['scripts']}"


# --- the HTML report ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(xss_run, tmp_path_factory) -> Path:
    from leapscope.report import write_report
    from leapscope.store import Workspace

    workspace, run_id = xss_run
    return write_report(Workspace(workspace).open_run(run_id), tmp_path_factory.mktemp("report") / "report.html")


@pytest.mark.slow
def test_report_markup_has_no_raw_payload(report):
    text = report.read_text(encoding="utf-8")
    body = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    for raw in (
        "<img src=x",
        "<svg onload",
        "<script>alert",
        "</script><script>",
        "<!--<script>",
        '<a href="javascript',
        "<b>b</b>",
    ):
        assert raw not in body, f"unescaped {raw!r} in the report"
    assert body.count("<script") == 1, "the report's only script element is its JSON data block"


@pytest.mark.slow
def test_report_opens_without_script_and_shows_payloads_as_text(report, page):
    page.goto(report.as_uri())
    assert_clean(page, "report")
    images = page.evaluate(
        "() => [...document.images].map(i => [i.getAttribute('src').slice(0, 22), i.complete && i.naturalWidth > 0])"
    )
    assert images and all(img == ["data:image/png;base64,", True] for img in images), (
        "every image is an inline PNG that loads"
    )
    header = page.locator("header h1").inner_text()
    assert header == f"leapscope report · {PROJECT} / {VERSION}"
    subset_header = page.locator("section").first.locator("th").all_inner_texts()
    assert [f"metric_score_{k}" for k in COLUMN_PAYLOADS[2:]] == [h for h in subset_header if h.startswith("metric_")]
    captions = page.locator("figcaption").all_inner_texts()
    assert captions, "the report has no heatmap"
    for caption in captions:
        # the target in words, e.g. "predicted class 3 (<label>) score": the label shows as text
        match = re.fullmatch(r"validation/(.*): gradcam for '(.*)'", caption, flags=re.S)
        assert match and match[1] in VALIDATION_IDS and any(p in match[2] for p in PAYLOADS), caption
    failed = page.locator("section", has_text="Failed samples").locator("td").all_inner_texts()
    assert BROKEN in failed, failed
    assert any(ERROR in cell for cell in failed), failed
    explanations = " ".join(page.locator(".insight p").all_inner_texts())
    assert any(p in explanations for p in PAYLOADS), explanations[:500]
    assert "49" not in " ".join([header, *captions]), "a template expression was evaluated"
    # the JSON block parses back to the exact strings (escaped for script context, not mangled)
    data = json.loads(page.locator("script#leapscope-run").text_content())
    assert (data["project"], data["version"]) == (PROJECT, VERSION)
    assert {f"metric_score_{k}" for k in COLUMN_PAYLOADS[2:]} <= set(data["summary"]["validation"])


# --- the web app ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_url(xss_run):
    with live_server(xss_run[0]) as url:
        yield url


def _sample_url(base_url: str, run_id: str, subset: str, sample_id: str) -> str:
    return f"{base_url}/#/runs/{run_id}/samples/{subset}/{urllib.parse.quote(sample_id, safe='')}"


def _texts(page: Page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_text_contents()]


@pytest.mark.slow
def test_runs_page(page, base_url, xss_run):
    page.goto(f"{base_url}/#/runs")
    expect(page.locator(f"tr[data-run='{xss_run[1]}']")).to_contain_text("complete")
    expect(page.get_by_text(PROJECT, exact=True).first).to_be_visible()
    expect(page.get_by_text(VERSION).first).to_be_visible()
    expect(page.locator(f"tr[data-run='{xss_run[1]}']")).to_contain_text(f"score_{COLUMN_PAYLOADS[2]}")
    assert_clean(page, "runs page")


@pytest.mark.slow
def test_map_page(page, base_url, xss_run):
    page.goto(f"{base_url}/#/runs/{xss_run[1]}/map")
    expect(page.locator("canvas[data-testid=map]")).to_be_visible()
    options = _texts(page, "select[aria-label='color by'] option")
    assert {f"tag_{COLUMN_PAYLOADS[0]}", f"tag_{COLUMN_PAYLOADS[1]}", f"metric_score_{COLUMN_PAYLOADS[3]}"} <= set(
        options
    ), options
    page.select_option("select[aria-label='color by']", f"tag_{COLUMN_PAYLOADS[0]}")
    page.wait_for_function("() => window.leapscopeMap && window.leapscopeMap.getScreenPosition(0)")
    assert_clean(page, "map page")


@pytest.mark.slow
def test_insights_page(page, base_url, xss_run):
    page.goto(f"{base_url}/#/runs/{xss_run[1]}/insights")
    first = page.locator("article.insight").first
    first.locator("header").click()
    expect(first.locator(".explanation")).to_contain_text("labeled")
    explanation = first.locator(".explanation").inner_text()
    assert any(f"labeled {p}," in explanation for p in PAYLOADS), explanation
    assert_clean(page, "insights page")


@pytest.mark.slow
def test_sample_page_of_a_payload_sample(page, base_url, xss_run):
    page.goto(_sample_url(base_url, xss_run[1], "validation", SAMPLE))
    expect(page.locator("[data-testid=sample-id]")).to_have_text(SAMPLE)
    expect(page.locator("table.stats th").first).to_be_visible(timeout=30000)
    keys = _texts(page, "table.stats th")
    assert {f"tag_{COLUMN_PAYLOADS[0]}", f"tag_{COLUMN_PAYLOADS[1]}", f"metric_score_{COLUMN_PAYLOADS[2]}"} <= set(
        keys
    ), keys
    values = _texts(page, "table.stats td")
    assert SAMPLE in values and any(v in PAYLOADS for v in values), values
    expect(page.locator("img.heatmap")).to_be_visible(timeout=30000)
    expect(page.locator(".sample-layout .card").nth(3).locator(".thumb").first).to_be_visible(timeout=30000)
    assert_clean(page, "sample page")


@pytest.mark.slow
def test_sample_page_of_a_failed_sample(page, base_url, xss_run):
    page.goto(_sample_url(base_url, xss_run[1], "training", BROKEN))
    expect(page.locator("[data-testid=sample-id]")).to_have_text(BROKEN)
    expect(page.locator("table.stats")).to_contain_text(ERROR, timeout=30000)
    assert_clean(page, "sample page (failed sample)")


@pytest.mark.slow
def test_dashboards_page(page, base_url, xss_run):
    page.goto(f"{base_url}/#/runs/{xss_run[1]}/dashboards")
    expect(page.locator("#confusion .main-svg").first).to_be_visible(timeout=20000)
    expect(page.locator("#by-metadata .main-svg").first).to_be_visible()
    expect(page.get_by_text(f"Regression tests of {PROJECT}")).to_be_visible()
    ticks = " ".join(_texts(page, "#confusion .xtick, #confusion .ytick"))
    for label in PAYLOADS[:7]:  # the labels without Plotly pseudo-HTML (<a>, <b>, entities) read exactly
        assert label in ticks, (label, ticks)
    assert_clean(page, "dashboards page")


@pytest.mark.slow
def test_wiring_page(page, base_url, xss_run):
    page.goto(f"{base_url}/#/runs/{xss_run[1]}/wiring")
    expect(page.locator("g[data-node='metric:score']")).to_be_visible()
    assert_clean(page, "wiring page")
