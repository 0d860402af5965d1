"""Saving a threshold test from a run records its result on that run at once."""

from __future__ import annotations

import pytest

from leapscope import api, runs
from leapscope.exceptions import LeapscopeError
from leapscope.store import Workspace


def test_save_test_with_a_run_records_its_result_there(make_integration, tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = api.evaluate(make_integration(), workspace=ws, workers=0)
    project = run.row.project

    result = runs.save_test(ws, project, runs.ThresholdTest(metric="metric_accuracy", min=0.0, name="floor"), run=run)
    assert result is not None and result.passed and result.n == 40
    ((test_id, _),) = runs.saved_tests(ws, project)
    assert [(r.run_id, r.test_id, r.passed, r.value) for r in ws.catalog.test_results(run_id=run.id)] == [
        (run.id, test_id, True, result.value)
    ]

    # replacing the test by a different condition drops the results of the old one, records the new one
    strict = runs.save_test(ws, project, runs.ThresholdTest(metric="metric_accuracy", min=1.5, name="floor"), run=run)
    assert strict is not None and not strict.passed
    assert [r.passed for r in ws.catalog.test_results(project=project)] == [False]

    # without a run nothing is recorded; an unknown metric is refused before anything is saved
    assert runs.save_test(ws, project, runs.ThresholdTest(metric="metric_accuracy", max=5.0, name="later")) is None
    assert len(ws.catalog.test_results(project=project)) == 1
    with pytest.raises(LeapscopeError, match="no column 'metric_nope'"):
        runs.save_test(ws, project, runs.ThresholdTest(metric="metric_nope", min=0.0, name="bad"), run=run)
    assert sorted(t.name for _, t in runs.saved_tests(ws, project)) == ["floor", "later"]


def test_save_test_refuses_a_run_of_another_project(make_integration, tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = api.evaluate(make_integration(), workspace=ws, workers=0)
    ws.catalog.project("other")
    with pytest.raises(LeapscopeError, match="belongs to project"):
        runs.save_test(ws, "other", runs.ThresholdTest(metric="metric_accuracy", min=0.0, name="t"), run=run)
    assert runs.saved_tests(ws, "other") == []
