"""Run-level analysis on a real digits run, and the CLI commands over it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import leapscope as ls
from leapscope import analysis, api
from leapscope.store import Workspace
from tests.conftest import DIGITS


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("ws")
    ls.evaluate(DIGITS, workspace=path, workers=1)
    return Workspace(path)


@pytest.fixture(scope="module")
def run(ws):
    return ws.runs()[0]


def test_analyze_stores_ranked_insights(ws, run):
    found = api.analyze(ws, run.id)
    assert found == sorted(found, key=lambda i: -i.severity)
    assert all(0 <= i.severity <= 1 and i.explanation and i.type in analysis.INSIGHT_TYPES for i in found)
    assert [i.to_dict() for i in analysis.load_insights(run)] == [i.to_dict() for i in found]
    with ws.catalog.connect() as db:
        assert db.execute("SELECT count(*) FROM insights WHERE run_id = ?", (run.id,)).fetchone()[0] == len(found)
    assert api.analyze(ws, run.id) == found  # deterministic for a seed
    assert list((run.dir / "projections").glob("*-pca-*.npy"))


def test_insights_cli_json(ws, run):
    api.analyze(ws, run.id)
    out = subprocess.run([sys.executable, "-m", "leapscope", "insights", run.id, "-w", str(ws.path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert [i["type"] for i in json.loads(out)] == [i.type for i in analysis.load_insights(run)]


def test_projection_cache_and_umap(run):
    pca = analysis.projection(run, method="pca")
    assert pca.shape == (1797, 2) and pca is not analysis.projection(run, method="pca")
    np.testing.assert_array_equal(pca, analysis.projection(run, method="pca"))
    umap = analysis.projection(run, method="umap", n_neighbors=10)
    assert umap.shape == (1797, 2) and np.isfinite(umap).all()


def test_similar_samples_share_the_label(run):
    near = analysis.similar(run, "5", subset="training", k=5)
    assert len(near) == 5 and "5" not in set(near[near.subset == "training"].sample_id)
    assert (near.distance.diff().dropna() >= 0).all()
    df = run.to_pandas().set_index(["subset", "sample_id"])
    agreement = []
    for sample_id in df.loc["training"].index[:40]:
        near = analysis.similar(run, sample_id, subset="training", k=5)
        label = df.loc[("training", sample_id), "digit_label"]
        agreement.append((df.loc[list(zip(near.subset, near.sample_id, strict=True)), "digit_label"] == label).mean())
    assert np.mean(agreement) >= 0.9


def test_recommend_labeling_is_a_spread_coreset(run):
    picks = analysis.recommend_labeling(run, 10, subset="test")
    assert len(picks) == 10 and picks["rank"].tolist() == list(range(1, 11)) and set(picks.subset) == {"test"}
    assert len(set(picks.sample_id)) == 10


def test_aggregate_confusion_and_compare(ws, run):
    by_digit = analysis.aggregate(run, "metric_accuracy", by=["subset", "digit_label"])
    assert len(by_digit) == 30 and by_digit.n.sum() == 1797
    counts = analysis.aggregate(run, "metric_accuracy", by=["digit_label"], agg="count", where='subset == "validation"')
    assert counts.value.sum() == 359
    labels, matrix = analysis.confusion_matrix(run, subset="validation")
    assert labels == [str(d) for d in range(10)] and matrix.sum() == 359
    assert np.trace(matrix) / matrix.sum() == pytest.approx(run.row.summary["validation"]["metric_accuracy"])
    frame = analysis.compare_runs(ws, "digits", "metric_accuracy", by=["subset"])
    assert set(frame.columns) >= {"run", "version", "subset", "value"}


def test_threshold_tests_cli_and_saved(ws, run, tmp_path):
    base = [sys.executable, "-m", "leapscope", "test", run.id, "-w", str(ws.path)]
    ok = subprocess.run([*base, "--metric", "accuracy", "--filter", 'digit_label == "8"', "--min", "0.9", "--save", "eights"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "PASS" in ok.stdout
    bad = subprocess.run([*base, "--metric", "accuracy", "--min", "0.999"], capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL" in bad.stdout
    new = api.evaluate(DIGITS, workspace=ws, max_samples=30, workers=0)
    with ws.catalog.connect() as db:
        rows = db.execute("SELECT passed, value FROM test_results WHERE run_id = ?", (new.id,)).fetchall()
    assert len(rows) == 1 and rows[0]["passed"] == 1
