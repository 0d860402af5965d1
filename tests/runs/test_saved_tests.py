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


def _failed_run(make_integration, ws: Workspace):
    """A real run whose every sample failed: the encoder works for the pre-flight integration test, then raises."""
    folder = make_integration(
        features="if TESTED[0] >= 2:\n    raise ValueError('broken encoder')\nreturn subset.data['x'][sample_id]",
        test="x = features(sample_id, subset)\ny = label(sample_id, subset)\np = model()(x)\n"
        "ce(y, p)\naccuracy(y, p)\nbars(p)\nTESTED[0] += 1",
        extra="TESTED = [0]",
    )
    with pytest.raises(LeapscopeError, match="every one of its 40 samples failed"):
        api.evaluate(folder, workspace=ws, workers=0)
    (run,) = ws.runs()
    assert run.status == "failed"
    return run


def test_a_test_on_a_failed_run_names_its_status_and_where_the_errors_are(make_integration, tmp_path):
    # the trial's `leapscope test` on a failed run said "no column 'loss_huber'; metric and loss columns: " (empty)
    ws = Workspace(tmp_path / "ws")
    run = _failed_run(make_integration, ws)
    test = runs.ThresholdTest(metric="loss_ce", max=1.0, name="ce-cap")
    for call in (lambda: runs.run_test(run, test), lambda: runs.save_test(ws, run.row.project, test, run=run)):
        with pytest.raises(LeapscopeError) as info:
            call()
        message = str(info.value)
        assert f"run {run.id} failed" in message and "every one of its 40 samples failed" in message, message
        assert "broken encoder" in message and "errors.parquet" in message and "leapscope runs" in message, message
        assert "metric and loss columns" not in message
    assert runs.saved_tests(ws, run.row.project) == []  # nothing was saved
    # saved tests run on it say the same, one per test, and never a column list
    runs.save_test(ws, run.row.project, test)
    (result,) = runs.run_saved_tests(ws, run)
    assert not result.passed and f"run {run.id} failed" in result.detail


def test_a_short_metric_name_finds_its_metric_or_loss_column(make_integration, tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = api.evaluate(make_integration(), workspace=ws, workers=0)
    result = runs.run_test(run, runs.ThresholdTest(metric="ce", max=100.0))
    assert result.passed and result.test.metric == "loss_ce"
    saved = runs.save_test(ws, run.row.project, runs.ThresholdTest(metric="accuracy", min=0.0, name="acc"), run=run)
    assert saved is not None and saved.test.metric == "metric_accuracy"
    assert [t.metric for _, t in runs.saved_tests(ws, run.row.project)] == ["metric_accuracy"]  # stored in full
    with pytest.raises(LeapscopeError, match=r"no column 'nope' .*metric_nope or loss_nope.*loss_ce, metric_accuracy"):
        runs.run_test(run, runs.ThresholdTest(metric="nope", max=1.0))
    # without a run to resolve it against, a short name is refused with the full names to give
    with pytest.raises(LeapscopeError, match="metric_accuracy or loss_accuracy"):
        runs.save_test(ws, run.row.project, runs.ThresholdTest(metric="accuracy", min=0.0, name="later"))


def test_a_short_name_of_both_a_metric_and_a_loss_is_ambiguous(make_integration, tmp_path):
    ws = Workspace(tmp_path / "ws")
    extra = (
        '@ls.metric("ce")\ndef ce_metric(label, classes):\n'
        "    return -(label * np.log(np.clip(classes, 1e-7, 1))).sum(1)\n"
    )
    test = "x = features(sample_id, subset)\ny = label(sample_id, subset)\np = model()(x)\n"
    test += "ce(y, p)\nce_metric(y, p)\naccuracy(y, p)\nbars(p)"
    run = api.evaluate(make_integration(extra=extra, test=test), workspace=ws, workers=0)
    assert {"metric_ce", "loss_ce"} <= set(run.samples.column_names)
    with pytest.raises(LeapscopeError, match=r"'ce' is ambiguous.*metric_ce.*loss_ce"):
        runs.run_test(run, runs.ThresholdTest(metric="ce", max=100.0))
    assert runs.run_test(run, runs.ThresholdTest(metric="metric_ce", max=100.0)).passed


def test_validate_checks_a_short_name_as_the_column_it_stands_for(make_integration, tmp_path):
    # the server validates a posted test against the latest run before saving it: `bce` must pass there too
    ws = Workspace(tmp_path / "ws")
    run = api.evaluate(make_integration(), workspace=ws, workers=0)
    runs.ThresholdTest(metric="ce", max=1.0).validate(run.samples.schema)
    with pytest.raises(LeapscopeError, match=r"no column 'nope' \(nor metric_nope or loss_nope\)"):
        runs.ThresholdTest(metric="nope", max=1.0).validate(run.samples.schema)
