"""Run-level services (analyze, projections, similar, dashboards, threshold tests) on a real digits run, and the CLI commands over them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from leapscope import api, runs
from leapscope.analysis.insights import INSIGHT_TYPES
from leapscope.exceptions import LeapscopeError
from leapscope.store import Workspace
from tests.conftest import DIGITS


@pytest.fixture(scope="module")
def ws(digits_workspace_copy):
    # a copy of the session's digits workspace: these tests add insights, saved tests and a run
    return Workspace(digits_workspace_copy[0])


@pytest.fixture(scope="module")
def run(ws):
    return ws.runs()[0]


def test_analyze_stores_ranked_insights(ws, run):
    found = api.analyze(ws, run.id)
    assert found == sorted(found, key=lambda i: -i.severity)
    assert all(0 <= i.severity <= 1 and i.explanation and i.type in INSIGHT_TYPES for i in found)
    assert [i.to_dict() for i in runs.load_insights(run)] == [i.to_dict() for i in found]
    with ws.catalog.connect() as db:
        assert db.execute("SELECT count(*) FROM insights WHERE run_id = ?", (run.id,)).fetchone()[0] == len(found)
    assert api.analyze(ws, run.id) == found  # deterministic for a seed
    assert list((run.dir / "projections").glob("*-pca-*.npy"))


def test_analyze_config_and_options(ws, run):
    """A config object and keyword options say the same; bad types or options fail before any work."""
    only = runs.analyze(run, runs.AnalyzeConfig(types=["low_performance"]), workspace=ws)
    assert only == runs.analyze(run, types=["low_performance"], workspace=ws)
    assert {i.type for i in only} <= {"low_performance"}
    with pytest.raises(LeapscopeError, match=r"unknown insight type\(s\) \['bogus'\]"):
        runs.analyze(run, runs.AnalyzeConfig(seed=1), types=["bogus"], workspace=ws)
    with pytest.raises(TypeError, match="nope"):
        runs.analyze(run, nope=1, workspace=ws)


@pytest.mark.slow
def test_insights_cli_json(ws, run):
    api.analyze(ws, run.id)
    out = subprocess.run(
        [sys.executable, "-m", "leapscope", "insights", run.id, "-w", str(ws.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [i["type"] for i in json.loads(out)] == [i.type for i in runs.load_insights(run)]


def test_projection_cache(run):
    pca = runs.projection(run, method="pca")
    assert pca.shape == (1797, 2) and pca is not runs.projection(run, method="pca")
    np.testing.assert_array_equal(pca, runs.projection(run, method="pca"))


@pytest.mark.slow  # UMAP's numba compile: ~40 s on 2 cores
def test_umap_projection(run):
    umap = runs.projection(run, method="umap", n_neighbors=10)
    assert umap.shape == (1797, 2) and np.isfinite(umap).all()


def test_similar_samples_share_the_label(run):
    near = runs.similar(run, "5", subset="training", k=5)
    assert len(near) == 5 and "5" not in set(near[near.subset == "training"].sample_id)
    assert (near.distance.diff().dropna() >= 0).all()
    df = run.to_pandas().set_index(["subset", "sample_id"])
    agreement = []
    for sample_id in df.loc["training"].index[:40]:
        near = runs.similar(run, sample_id, subset="training", k=5)
        label = df.loc[("training", sample_id), "digit_label"]
        agreement.append((df.loc[list(zip(near.subset, near.sample_id, strict=True)), "digit_label"] == label).mean())
    assert np.mean(agreement) >= 0.9


def test_recommend_labeling_is_a_spread_coreset(run):
    picks = runs.recommend_labeling(run, 10, subset="test")
    assert len(picks) == 10 and picks["rank"].tolist() == list(range(1, 11)) and set(picks.subset) == {"test"}
    assert len(set(picks.sample_id)) == 10


def test_aggregate_confusion_and_compare(ws, run):
    by_digit = runs.aggregate(run, "metric_accuracy", by=["subset", "digit_label"])
    assert len(by_digit) == 30 and by_digit.n.sum() == 1797
    counts = runs.aggregate(run, "metric_accuracy", by=["digit_label"], agg="count", where='subset == "validation"')
    assert counts.value.sum() == 359
    labels, matrix = runs.confusion_matrix(run, subset="validation")
    assert labels == [str(d) for d in range(10)] and matrix.sum() == 359
    assert np.trace(matrix) / matrix.sum() == pytest.approx(run.row.summary["validation"]["metric_accuracy"])
    frame = runs.compare_runs(ws, "digits", "metric_accuracy", by=["subset"])
    assert set(frame.columns) >= {"run", "version", "subset", "value"}


@pytest.mark.slow
def test_threshold_tests_cli_and_saved(ws, run, tmp_path):
    base = [sys.executable, "-m", "leapscope", "test", run.id, "-w", str(ws.path)]
    ok = subprocess.run(
        [*base, "--metric", "accuracy", "--filter", 'digit_label == "8"', "--min", "0.9", "--save", "eights"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "PASS" in ok.stdout
    bad = subprocess.run([*base, "--metric", "accuracy", "--min", "0.999"], capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL" in bad.stdout
    new = api.evaluate(DIGITS, workspace=ws, max_samples=30, workers=0)
    with ws.catalog.connect() as db:
        rows = db.execute("SELECT passed, value FROM test_results WHERE run_id = ?", (new.id,)).fetchall()
    assert len(rows) == 1 and rows[0]["passed"] == 1
