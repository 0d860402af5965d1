"""Evaluate end to end on the digits example and on small broken integrations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import leapscope as ls
from leapscope.exceptions import StoreError, UserCodeError, ValidationError
from leapscope.sdk import _builtins
from leapscope.store import Workspace
from tests.conftest import DIGITS

# digits_run (tests/conftest.py): the session's one evaluated digits run, in chunks of 500 and batches of 50


def test_every_sample_once_and_documented_columns(digits_run):
    t = digits_run.samples
    assert t.num_rows == 1797
    keys = list(zip(t["subset"].to_pylist(), t["sample_id"].to_pylist(), strict=True))
    assert len(set(keys)) == 1797
    assert t["row"].to_pylist() == list(range(1797))
    expected = {
        "row",
        "subset",
        "sample_id",
        "input_hash",
        "gt_label",
        "gt_label_label",
        "pred_classes",
        "pred_classes_label",
        "pred_classes_score",
        "loss_cross_entropy",
        "metric_accuracy",
        "metric_confidence",
        "digit_label",
        "digit_parity",
        "stroke_density",
        "brightness",
        "error",
    }
    assert set(t.column_names) == expected
    assert digits_run.row.counts == {
        "samples": 1797,
        "failed": 0,
        "subsets": {"training": 1078, "validation": 359, "test": 360},
    }
    assert digits_run.errors.num_rows == 0


def test_latent_rows_are_aligned(digits_run):
    latent = digits_run.latent()
    assert latent.shape == (1797, 64) and latent.dtype == np.float32
    from leapscope.models import open_model

    model = open_model(DIGITS / "model.onnx")
    sys.path.insert(0, str(DIGITS))
    import data

    images, _, _ = data.load()
    t = digits_run.samples.to_pandas()
    picks = [0, 700, 1500, 1796]
    ids = [int(t.sample_id[i]) for i in picks]
    _, expected = model.predict_with_latent([images[ids]])
    np.testing.assert_allclose(latent[picks], next(iter(expected.values())), atol=1e-5)


def test_summary_equals_recomputed_metrics(digits_run):
    df = digits_run.to_pandas()
    probs = np.stack(df.pred_classes.to_numpy())
    gt = np.stack(df.gt_label.to_numpy())
    df["acc"] = _builtins.accuracy(gt, probs)
    df["ce"] = _builtins.cross_entropy(gt, probs)
    for subset, group in df.groupby("subset"):
        summary = digits_run.row.summary[subset]
        assert summary["samples"] == len(group)
        assert summary["metric_accuracy"] == pytest.approx(group.acc.mean(), abs=1e-9)
        assert summary["loss_cross_entropy"] == pytest.approx(group.ce.mean(), rel=1e-4)
    assert digits_run.row.summary["validation"]["metric_accuracy"] > 0.95
    sql = digits_run.sql("SELECT avg(metric_accuracy) AS acc FROM samples WHERE subset = 'test'")
    assert sql["acc"][0].as_py() == pytest.approx(digits_run.row.summary["test"]["metric_accuracy"])


def test_manifest_holds_setup_and_wiring(digits_run):
    m = digits_run.manifest
    assert m["subsets"]["validation"] == {"count": 359, "total": 359, "id_type": "int"}
    assert {"target": "model", "kind": "model", "argument": "image", "source": "input:image"} in m["wiring"]
    assert m["model"]["framework"] == "onnx" and m["model"]["inputs"][0]["shape"] == [None, 8, 8, 1]
    assert list(m["latent_spaces"]) == digits_run.latent_spaces
    assert m["predictions"][0]["labels"][3] == "3"
    assert not (digits_run.dir / "parts").exists() and not (digits_run.dir / "progress.json").exists()


def test_two_evaluations_make_two_runs_of_one_version(tmp_path):
    first = ls.evaluate(DIGITS, workspace=tmp_path, max_samples=20, workers=0)
    second = ls.evaluate(DIGITS, workspace=tmp_path, max_samples=20, workers=0)
    assert first.id != second.id
    assert (first.row.project, first.row.version) == (second.row.project, second.row.version) == ("digits", "v1")
    other_model = ls.evaluate(DIGITS, workspace=tmp_path, max_samples=20, workers=0, model=DIGITS / "model.h5")
    assert other_model.row.version == "v2"
    assert other_model.manifest["model"]["framework"] == "keras"
    np.testing.assert_allclose(
        np.stack(other_model.to_pandas().pred_classes), np.stack(first.to_pandas().pred_classes), atol=1e-5
    )
    assert len(Workspace(tmp_path).runs()) == 3


def test_bad_sample_is_recorded_and_the_run_continues(make_integration, tmp_path):
    folder = make_integration(
        features="if sample_id in (7, 33):\n    raise ValueError(f'corrupt sample {sample_id}')\nreturn subset.data['x'][sample_id]"
    )
    run = ls.evaluate(folder, workspace=tmp_path, workers=0, chunk_size=16, batch_size=8)
    assert run.status == "complete" and run.row.counts["failed"] == 2
    errors = run.errors.to_pylist()
    assert [(e["subset"], e["sample_id"]) for e in errors] == [("training", "7"), ("validation", "33")]
    assert errors[0]["function"] == "features (@input 'features')" and "corrupt sample 7" in errors[0]["message"]
    t = run.samples.to_pandas()
    bad = t[t.sample_id == "7"].iloc[0]
    assert bad.error.startswith("features (@input 'features'): ") and np.isnan(bad.loss_ce)
    assert np.isnan(run.latent()[int(bad.row)]).all()
    assert t[t.sample_id == "8"].error.isna().all()
    assert run.row.summary["training"]["failed"] == 1
    with pytest.raises(UserCodeError, match=r"sample id 7: raised ValueError: corrupt sample 7"):
        ls.evaluate(folder, workspace=tmp_path / "ff", workers=0, fail_fast=True)
    failed = Workspace(tmp_path / "ff").runs()[0]
    assert failed.status == "failed" and "corrupt sample 7" in failed.row.error


def test_every_sample_failing_is_a_failed_run(make_integration, tmp_path):
    # the model works on the check's batch of one and fails on every real batch
    model = """
import torch

class OnlyOne(torch.nn.Module):
    def forward(self, x):
        if len(x) > 1:
            raise RuntimeError('batch too large')
        return torch.softmax(x[:, :3], dim=1)

return OnlyOne()
"""
    folder = make_integration(model=model)
    with pytest.raises(StoreError, match="every one of its 10 samples failed"):
        ls.evaluate(folder, workspace=tmp_path, workers=0, subsets=["validation"], batch_size=5)
    run = Workspace(tmp_path).runs()[0]
    assert run.status == "failed"
    assert {e["function"] for e in run.errors.to_pylist()} == {"model"}
    assert "batch too large" in run.errors.to_pylist()[0]["message"]


def test_metric_failure_is_isolated_to_the_sample(make_integration, tmp_path):
    folder = make_integration(
        metric="if (label[:, 0] == 1).any() and len(label) == 1 and classes[0, 0] < 0:\n    pass\nout = (label.argmax(1) == classes.argmax(1)).astype(np.float32)\nout[label.argmax(1) == 2] = np.nan\nreturn out"
    )
    run = ls.evaluate(folder, workspace=tmp_path, workers=0, chunk_size=40, batch_size=8)
    t = run.samples.to_pandas()
    nan_rows = t[t.error.notna()]
    assert len(nan_rows) > 0 and nan_rows.error.str.contains("NaN").all()
    assert t[t.error.isna()].metric_accuracy.notna().all()


def test_integration_that_fails_its_test_is_refused(make_integration, tmp_path):
    folder = make_integration(features="return subset.data['x'][sample_id].astype(np.float64)")
    with pytest.raises(
        ValidationError, match=r"(?s)the integration test fails \(input encoders.*wrong dtype.*leapscope check"
    ):
        ls.evaluate(folder, workspace=tmp_path, workers=0)


def test_secret_never_reaches_artifacts(make_integration, tmp_path):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("s3cr3t-value-123\n")
    folder = make_integration(
        features="if sample_id == 2:\n    raise ValueError('bad token ' + ls.secret())\nreturn subset.data['x'][sample_id]"
    )
    run = ls.evaluate(folder, workspace=tmp_path / "ws", workers=1, secret_file=secret_file)
    assert run.errors.to_pylist()[0]["message"].count("***") == 1
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert b"s3cr3t-value-123" not in path.read_bytes(), path
    os.environ.pop("AUTH_SECRET", None)


SLOW = "import time\ntime.sleep(0.01)\nreturn subset.data['x'][sample_id]"
MANY = """
rng = np.random.default_rng(0)
x = rng.normal(size=(600, 4)).astype(np.float32)
y = rng.integers(0, 3, size=600)
data = {"x": x, "y": y}
return [ls.Subset("training", list(range(500)), data), ls.Subset("validation", list(range(500, 600)), data)]
"""


def _evaluate_cmd(folder: Path, ws: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "leapscope",
        "evaluate",
        str(folder),
        "-w",
        str(ws),
        "--workers",
        "0",
        "--chunk-size",
        "50",
        "--batch-size",
        "10",
        *extra,
    ]


@pytest.mark.slow
def test_kill_and_resume_loses_and_duplicates_nothing(make_integration, tmp_path):
    folder = make_integration(features=SLOW, preprocess=MANY)
    ws = tmp_path / "ws"
    proc = subprocess.Popen(_evaluate_cmd(folder, ws), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    progress = None
    while time.time() < deadline:
        found = list(ws.glob("runs/*/progress.json"))
        if found and len(json.loads(found[0].read_text())["chunks"]) >= 3:
            progress = found[0]
            break
        time.sleep(0.05)
    assert progress is not None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_id = progress.parent.name
    killed = Workspace(ws).open_run(run_id)
    assert killed.status == "running"
    with pytest.raises(StoreError, match="is running"):
        killed.samples  # noqa: B018 - nothing half-written is readable
    done_before = len(json.loads(progress.read_text())["chunks"])
    assert done_before < 12

    resumed = subprocess.run(_evaluate_cmd(folder, ws), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run {run_id}" in resumed.stderr
    run = Workspace(ws).open_run(run_id)
    assert run.status == "complete" and len(Workspace(ws).runs()) == 1
    t = run.samples
    assert t.num_rows == 600
    assert sorted(map(int, t["sample_id"].to_pylist())) == list(range(600))
    assert t["row"].to_pylist() == list(range(600))
    assert run.latent().shape[0] == 600 and not np.isnan(run.latent()).any()


def test_explicit_resume_of_a_complete_run_returns_it(tmp_path):
    run = ls.evaluate(DIGITS, workspace=tmp_path, max_samples=5, workers=0)
    again = ls.evaluate(DIGITS, workspace=tmp_path, resume=run.id[:15], workers=0)
    assert again.id == run.id and len(Workspace(tmp_path).runs()) == 1


@pytest.mark.slow
def test_reading_while_another_run_is_written(make_integration, tmp_path):
    ws = tmp_path / "ws"
    done = ls.evaluate(DIGITS, workspace=ws, max_samples=10, workers=0)
    folder = make_integration(features=SLOW, preprocess=MANY)
    proc = subprocess.Popen(_evaluate_cmd(folder, ws), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        reads = 0
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            workspace = Workspace(ws)
            assert {r.status for r in workspace.runs()} <= {"running", "complete"}
            assert workspace.open_run(done.id).samples.num_rows == 30
            for samples in ws.glob("runs/*/samples.parquet"):
                pq.read_table(samples)  # any visible samples.parquet is whole
            reads += 1
        assert reads > 10
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == 0
