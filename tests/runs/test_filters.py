"""Threshold tests and aggregates select samples with the safe filter, with pandas' results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leapscope import runs
from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.store import FilterError, Workspace, parse_filter

LEAPSCOPE = Path(sys.executable).parent / "leapscope"


@pytest.fixture(scope="module")
def run(digits_workspace):
    path, run_id = digits_workspace
    return Workspace(path).open_run(run_id)


CASES = [
    ('digit_label == "8"', lambda d: d.digit_label == "8"),
    (
        'loss_cross_entropy > 0.5 and subset == "validation"',
        lambda d: (d.loss_cross_entropy > 0.5) & (d.subset == "validation"),
    ),
    (
        "subset in ['training', 'test'] and brightness >= 0.2",
        lambda d: d.subset.isin(["training", "test"]) & (d.brightness >= 0.2),
    ),
    ('digit_parity != "odd"', lambda d: d.digit_parity != "odd"),
]


@pytest.mark.parametrize(("text", "select"), CASES, ids=[c[0] for c in CASES])
def test_run_test_matches_the_pandas_selection(run, text, select):
    frame = run.to_pandas()
    expected = frame.metric_accuracy[select(frame)].astype(float)
    result = runs.run_test(run, runs.ThresholdTest(metric="metric_accuracy", filter=text, min=0.5))
    assert result.n == len(expected) and result.n > 0
    assert result.value == pytest.approx(float(expected.mean()))


def test_run_test_known_values(run):
    result = runs.run_test(run, runs.ThresholdTest(metric="metric_accuracy", filter='digit_label == "8"', min=0.9))
    assert result.passed and result.n == 174


@pytest.mark.parametrize(("text", "select"), CASES, ids=[c[0] for c in CASES])
def test_aggregate_where_matches_the_pandas_selection(run, text, select):
    frame = run.to_pandas()
    chosen = frame[select(frame)]
    expected = chosen.groupby("subset").metric_accuracy.agg(["mean", "count"]).sort_index()
    got = runs.aggregate(run, "metric_accuracy", by=["subset"], where=text).set_index("subset").sort_index()
    assert list(got.index) == list(expected.index)
    assert np.allclose(got.value, expected["mean"]) and list(got.n) == list(expected["count"])


def test_aggregate_where_refuses_malformed_filters(run):
    with pytest.raises(FilterError, match="holds numbers"):
        runs.aggregate(run, "metric_accuracy", where='row < "abc"')
    with pytest.raises(FilterError, match='write digit_label == "8"'):
        runs.aggregate(run, "metric_accuracy", where="digit_label == 8")


def test_insight_suggested_tests_parse_and_run(run):
    """The regression tests that insights suggest use the same grammar."""
    stored = json.loads((run.dir / "insights.json").read_text())["insights"]
    suggested = [i["suggested_test"] for i in stored if i.get("suggested_test")]
    assert suggested
    for spec in suggested:
        parse_filter(spec["filter"], run.samples.schema)
        test = runs.ThresholdTest(
            metric=spec["metric"], filter=spec["filter"], min=spec.get("min"), max=spec.get("max")
        )
        assert runs.run_test(run, test).n > 0, spec


@pytest.mark.parametrize("bound", [float("nan"), float("inf"), -float("inf")])
def test_bounds_must_be_finite(run, bound):
    with pytest.raises(LeapscopeError, match="finite"):
        runs.run_test(run, runs.ThresholdTest(metric="metric_accuracy", min=bound))


def test_save_test_validates_and_never_creates_a_project(digits_workspace, tmp_path):
    ws = Workspace(tmp_path / "empty-ws")
    with pytest.raises(StoreError, match="no project 'ghost'"):
        runs.save_test(ws, "ghost", runs.ThresholdTest(metric="metric_accuracy", min=0.5, name="t"))
    assert ws.catalog.projects() == []
    with pytest.raises(FilterError):
        runs.save_test(ws, "ghost", runs.ThresholdTest(metric="metric_accuracy", filter="@x == 1", min=0.5, name="t"))
    with pytest.raises(LeapscopeError, match="at most 200"):
        runs.save_test(ws, "ghost", runs.ThresholdTest(metric="metric_accuracy", min=0.5, name="n" * 5_000_000))
    with pytest.raises(StoreError):
        runs.saved_tests(ws, "ghost")
    assert ws.catalog.projects() == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEAPSCOPE), *args], capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "200"}
    )


@pytest.mark.slow
def test_cli_filter(digits_workspace):
    path, run_id = digits_workspace
    ok = _cli(
        "test",
        run_id,
        "--metric",
        "accuracy",
        "--filter",
        'digit_label == "8" and subset != "test"',
        "--min",
        "0.9",
        "--workspace",
        str(path),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS" in ok.stdout
    bad = _cli(
        "test", run_id, "--metric", "accuracy", "--filter", 'row < "abc"', "--min", "0.9", "--workspace", str(path)
    )
    assert (
        bad.returncode == 2
        and "column 'row' holds numbers" in bad.stdout + bad.stderr
        and "Traceback" not in bad.stderr
    )
    help_text = _cli("test", "--help").stdout
    assert "column op literal" in help_text and "pandas" not in help_text


def test_metric_must_be_a_numeric_column(run):
    with pytest.raises(LeapscopeError, match="holds string values, not numbers"):
        runs.run_test(run, runs.ThresholdTest(metric="digit_parity", min=0.5))
    with pytest.raises(LeapscopeError, match="has no column 'metric_nope'"):
        runs.run_test(run, runs.ThresholdTest(metric="metric_nope", min=0.5))
