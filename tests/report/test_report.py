"""The HTML report, opened in headless Chromium, and the demo command end to end."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from leapscope.report import write_report
from leapscope.store import Workspace
from tests.e2e._live import chromium
from tests.e2e.test_ui import SHOTS


@pytest.mark.slow
def test_report_is_self_contained_and_renders(digits_workspace, tmp_path):
    path, run_id = digits_workspace
    out = write_report(Workspace(path).open_run(run_id), tmp_path / "report.html")
    text = out.read_text()
    assert not re.search(r"(src|href)=['\"]https?://", text), "the report must not load anything from the network"
    for heading in (
        "Metrics per subset",
        "Metrics per metadata value",
        "Confusion matrix",
        "Population map",
        "Top insights",
        "Example heatmaps",
    ):
        assert heading in text
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(out.as_uri())
        broken = page.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
        assert broken == 0 and page.evaluate("() => document.images.length") > 10
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "report.png"))


@pytest.mark.slow
def test_demo_runs_the_whole_job(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "leapscope", "demo", "--workspace", str(tmp_path / "ws"), "--no-umap"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    for step in (
        "1/5 check",
        "2/5 evaluate",
        "3/5 analyze",
        "4/5 report",
        "5/5 summary",
        "validation",
        "leapscope serve --workspace",
    ):
        assert step in out
    assert re.search(r"validation\s+359 samples\s+accuracy 0\.9\d\d", out)
    run = Workspace(tmp_path / "ws").runs()[0]
    assert (run.dir / "explanations" / "integrated_gradients.npy").exists() and (run.dir / "insights.json").exists()
    assert list((tmp_path / "ws").glob("report-*.html"))
