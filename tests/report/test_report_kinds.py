"""The report of a dense run keeps its example heatmaps and has no confusion matrix; counts read right."""

from __future__ import annotations

import re

from leapscope.report import _natural, counted, render_report


def test_dense_report_keeps_heatmaps_and_hides_confusion(dense_run):
    html = render_report(dense_run, top_insights=2)
    assert "Example heatmaps (highest-loss held-out samples)" in html
    figures = re.findall(r"<figcaption>((?:validation|test)/\d+): (\w+) for", html)
    assert len(figures) == 4  # the 4 held-out samples with the highest dice loss
    assert "Confusion matrix" not in html
    assert "insight types: low_performance: ran" in html and "mislabeled: skipped (no class labels" in html
    assert "96 samples" in html


def test_counts_and_category_order():
    assert counted(1, "sample") == "1 sample"
    assert counted(2, "sample") == "2 samples" and counted("?", "sample") == "? samples"
    assert _natural(["10", "2", "1"]) == ["1", "2", "10"]
    assert _natural(["b", "a", "10"]) == ["10", "a", "b"]


def test_empty_insights_say_whether_analyze_ran(dense_workspace, tmp_path):
    import shutil

    from leapscope import api
    from leapscope.store._schema import INSIGHTS_FILE

    workspace, run_id = dense_workspace
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    run = api.open_run(copy, run_id)
    (run.dir / INSIGHTS_FILE).unlink()
    assert "No insight stored: run <code>leapscope analyze</code> first." in render_report(run, top_insights=2)
    api.analyze(copy, run_id, types=["data_leakage"])  # one subset split: no leakage pair to find
    html = render_report(api.open_run(copy, run_id), top_insights=2)
    assert "No insight: the insight types that ran found nothing significant." in html
    assert "analyze</code> first" not in html and "insight types: data_leakage: ran, 0 found" in html
