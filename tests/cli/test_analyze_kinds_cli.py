"""`leapscope analyze` / `insights` on a regression run: what ran, what was skipped and why, and the
insights command right after an analyze that found nothing."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from leapscope.cli import app

runner = CliRunner()


def test_analyze_reports_ran_and_skipped_and_insights_agrees(regression_workspace, tmp_path):
    path, run_id = regression_workspace
    copy = tmp_path / "ws"
    shutil.copytree(path, copy)
    result = runner.invoke(app, ["analyze", run_id, "-w", str(copy), "--min-group-size", "8"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ran: low_performance (" in result.output
    assert (
        "skipped: mislabeled (no class labels: the run has no prediction of kind 'class' with labels)" in result.output
    )
    shown = runner.invoke(app, ["insights", run_id, "-w", str(copy)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "no insights stored" not in shown.output
    if "insights (by severity)" not in shown.output:  # nothing found: say what ran instead
        assert "analyzed: no insight was found" in shown.output and "skipped: mislabeled" in shown.output
    bad = runner.invoke(app, ["analyze", run_id, "-w", str(copy), "--min-group-size", "1"])
    assert bad.exit_code == 2 and "min-group-size" in bad.output
