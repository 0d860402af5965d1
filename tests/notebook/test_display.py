"""The notebook display of runs, check reports, insights and samples, and ``ls.launch`` (real run, real server)."""

from __future__ import annotations

import dataclasses
import urllib.request
from pathlib import Path

import pytest

import leapscope as ls
from leapscope.analysis import Insight
from leapscope.notebook import InsightList, NotebookRun, check_report_html, insight_html, run_html
from leapscope.store import Run

XSS = "<script>alert(1)</script>"


def test_open_run_returns_a_run_that_displays_its_summary(digits_workspace: tuple[Path, str]) -> None:
    ws, run_id = digits_workspace
    run = ls.open_run(ws, run_id)
    assert isinstance(run, NotebookRun) and isinstance(run, Run)
    html = run._repr_html_()
    assert f"Run {run_id}" in html
    for subset in run.row.summary or {}:
        assert f"<td>{subset}</td>" in html
    assert "loss_" in html and "complete" in html
    assert len(run.to_pandas()) == run.num_rows


def test_run_html_escapes_what_a_user_named(digits_run: Run) -> None:
    row = dataclasses.replace(digits_run.row, project=XSS, error=XSS)
    html = run_html(Run(digits_run.dir, row))
    assert XSS not in html and "&lt;script&gt;" in html


def test_check_report_shows_the_status_table_and_wiring() -> None:
    report = ls.check("examples/digits", samples=2)
    html = check_report_html(report)
    assert "valid" in html and "input encoders" in html and "<summary>wiring</summary>" in html
    assert html.count('class="pass"') >= 5  # one ✓ per passing part, plus the verdict


def test_insights_display_ranked_with_thumbnails(digits_run: Run) -> None:
    insights = NotebookRun(digits_run.dir, digits_run.row).insights()
    assert isinstance(insights, InsightList) and insights, "the digits fixture run is analyzed"
    html = insights._repr_html_()
    assert f"{len(insights)} insights" in html
    assert "data:image/png;base64," in html  # the top insights show their samples
    one = dataclasses.replace(insights[0], explanation=XSS, title=XSS)
    assert XSS not in insight_html(one)


def test_an_empty_insight_list_says_so() -> None:
    assert "no insight" in InsightList([])._repr_html_()
    insight = Insight("duplicates", 0.5, "validation", [1], ["a"], {"confidence": 0.9}, "e", "t")
    assert "confidence 0.90" in insight_html(insight)


def test_sample_show_draws_its_visuals_and_values(digits_run: Run) -> None:
    run = NotebookRun(digits_run.dir, digits_run.row)
    sample = run.sample(run.to_pandas().sample_id[0], subset="training")
    html = sample._repr_html_()
    assert "data:image/png;base64," in html and "loss_cross_entropy" in html
    assert html.count("background:#4e79a7") == 10  # the prediction bars: the top 10 classes
    assert sample.record["subset"] == "training"


def test_map_is_a_plotly_scatter_of_every_sample(digits_run: Run) -> None:
    run = NotebookRun(digits_run.dir, digits_run.row)
    fig = run.map(color="loss_cross_entropy", size="metric_confidence")
    assert sum(len(trace.x) for trace in fig.data) == run.num_rows
    with pytest.raises(ls.LeapscopeError, match="no column 'nope'"):
        run.map(color="nope")


@pytest.mark.slow
def test_launch_serves_the_app_in_the_background_and_stops(digits_workspace: tuple[Path, str]) -> None:
    ws, run_id = digits_workspace
    app = ls.launch(ws)
    try:
        assert app.running and "<iframe" in app._repr_html_()
        with urllib.request.urlopen(app.url + "api/v1/runs", timeout=10) as response:
            assert run_id in response.read().decode()
        assert app.page_url(run_id, "insights").endswith(f"#/runs/{run_id}/insights")
        assert app.url in ls.open_run(ws, run_id)._repr_html_()  # run links point at the app
    finally:
        app.stop()
    assert not app.running and "stopped" in app._repr_html_()
