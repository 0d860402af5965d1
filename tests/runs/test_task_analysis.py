"""Dashboards and analyze on runs without classes: no confusion matrix, skipped detectors said, pooled slices."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import leapscope as ls
from leapscope import api, runs
from leapscope.analysis import AnalysisInput
from leapscope.analysis import insights as ins
from leapscope.exceptions import LeapscopeError
from leapscope.store import Workspace
from leapscope.store._schema import INSIGHTS_FILE
from tests._task_models import REGRESSION, write_regression


def test_confusion_is_not_applicable_for_dense_and_regression(dense_run, regression_run):
    for run in (dense_run, regression_run):
        reason = runs.confusion_reason(run)
        assert reason is not None and reason.startswith("not applicable: no prediction of kind 'class'")
        with pytest.raises(LeapscopeError, match="has no confusion matrix: not applicable"):
            runs.confusion_matrix(run)
    assert "text: dense" in (runs.confusion_reason(dense_run) or "")


def test_analyze_says_what_ran_and_what_was_skipped(dense_run, regression_run):
    for run in (dense_run, regression_run):
        statuses = {s.type: s for s in runs.load_statuses(run) or []}
        assert set(statuses) == set(ins.INSIGHT_TYPES)
        assert statuses["mislabeled"].status == "skipped"
        assert statuses["mislabeled"].reason.startswith("no class labels")
        assert statuses["mislabeled"].describe().startswith("mislabeled: skipped (no class labels")
        assert statuses["low_performance"].status == "ran"
        assert statuses["duplicates"].status == "ran"  # exact duplicates by input hash need no classes
    stored = json.loads((regression_run.dir / INSIGHTS_FILE).read_text())
    assert stored["min_samples"] == 10 and len(stored["detectors"]) == len(ins.INSIGHT_TYPES)


def _pooled_data() -> tuple[AnalysisInput, np.ndarray]:
    """60 training, 40 validation, 40 test samples; 12 held-out samples of source 'text' fail, split 6 / 6."""
    rng = np.random.default_rng(0)
    subset = np.array(["training"] * 60 + ["validation"] * 40 + ["test"] * 40, dtype=object)
    n = len(subset)
    source = np.array(["photo"] * n, dtype=object)
    failing = np.r_[np.flatnonzero(subset == "validation")[:6], np.flatnonzero(subset == "test")[:6]]
    source[failing] = "text"
    loss = rng.gamma(2.0, 0.05, n)
    loss[failing] = 1.0
    return AnalysisInput(
        subset=subset,
        sample_id=np.array([str(i) for i in range(n)], dtype=object),
        latent=np.zeros((n, 0), np.float32),
        loss=loss,
        loss_name="loss_dice",
        metric=None,
        metric_name=None,
        labels=np.full(n, -1),
        pred_probs=None,
        class_names=[],
        metadata=pd.DataFrame({"source": source}),
    ), failing


def test_a_slice_split_across_held_out_subsets_is_found_pooled():
    data, failing = _pooled_data()
    found = ins.low_performance(data, clusters=np.full(data.n, -1), min_samples=10)
    assert len(found) == 1
    top = found[0]
    assert top.subset == "validation|test" and sorted(top.rows) == sorted(failing.tolist())
    assert top.statistics["per_subset"]["validation"]["n"] == 6 and top.statistics["per_subset"]["test"]["n"] == 6
    assert top.suggested_test["filter"] == "subset in ['validation', 'test'] and source == 'text'"
    assert "held-out (validation + test)" in top.explanation
    assert ins.low_performance(data, clusters=np.full(data.n, -1), min_samples=13) == []  # 12 < 13


def test_compare_runs_skips_a_run_without_the_column(tmp_path):
    folder = write_regression(tmp_path / "diabetes")
    workspace = tmp_path / "ws"
    first = ls.evaluate(folder, workspace=workspace, workers=1, batch_size=128)
    (folder / "integration.py").write_text(
        REGRESSION.replace(
            'mae = ls.builtin_metric("mean_absolute_error")',
            'mae = ls.builtin_metric("mean_absolute_error")\nmae_loss = ls.builtin_loss("mean_absolute_error")',
        ).replace("    mae(y, p)\n", "    mae(y, p)\n    mae_loss(y, p)\n")
    )
    second = ls.evaluate(folder, workspace=workspace, workers=1, batch_size=128)
    ws = Workspace(workspace)
    frame = runs.compare_runs(ws, first.row.project, "loss_mean_absolute_error", by=["subset"])
    assert set(frame["run"]) == {second.id}
    (skipped,) = frame.attrs["skipped"]
    assert skipped["run"] == first.id and "no column 'loss_mean_absolute_error'" in skipped["reason"]
    with pytest.raises(LeapscopeError, match=r"no complete run of project .* has column 'loss_nope'"):
        runs.compare_runs(ws, first.row.project, "loss_nope")
    # the API takes the minimum group size; analyze stores it with the statuses
    api.analyze(workspace, second.id, min_group_size=5)
    stored = json.loads((second.dir / INSIGHTS_FILE).read_text())
    assert stored["min_samples"] == 5


def test_http_confusion_of_a_dense_run_is_empty_not_an_error(dense_workspace):
    from fastapi.testclient import TestClient

    from leapscope.server import create_app

    path, run_id = dense_workspace
    with TestClient(create_app(path, warm=False), base_url="http://127.0.0.1") as client:
        response = client.get(f"/api/v1/runs/{run_id}/confusion", params={"subset": "validation"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["labels"] == [] and data["matrix"] == []
    assert "not applicable" in data["reason"] and "dense" in data["reason"]  # the UI can say why


def test_explain_targets_of_a_regression_output_speak_of_values(regression_run):
    ctx = runs.RunContext(regression_run)
    sample_id = regression_run.to_pandas().sample_id[0]
    rows = runs.explain_targets(ctx, str(regression_run.to_pandas().subset[0]), sample_id)
    words = " ".join(row["label"] for row in rows)
    assert "class" not in words and "output value 0" in words
    assert rows[0]["default"] and rows[0]["kind"] == "value"
