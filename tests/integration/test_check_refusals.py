"""Mistakes that used to pass `check` (and break later) are refused with function, expected/actual and fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import leapscope as ls
from leapscope.exceptions import ValidationError

_FOUR_LABELS = 'ls.Prediction("classes", labels=["a", "b", "c", "d"])'


def _failing(report, part):
    result = report.part(part)
    assert result.status == "fail", report.to_dict()
    assert not report.valid
    return result.error


def test_label_count_differs_from_the_class_axis(make_integration, run_check, tmp_path):
    folder = make_integration()
    source = (folder / "integration.py").read_text()
    (folder / "integration.py").write_text(
        source.replace('ls.Prediction("classes", labels=["a", "b", "c"])', _FOUR_LABELS)
    )
    report = run_check(folder)
    err = _failing(report, "model")
    assert err["function"] == "model (@model 'model')" and err["argument"] == "predictions"
    assert "declares 4 labels" in err["problem"] and "3 values on the class axis" in err["problem"]
    assert err["expected"].startswith("3 labels") and err["actual"].startswith("4 labels: 'a', 'b', 'c', 'd'")
    assert "one label per class" in err["fix"]
    with pytest.raises(ValidationError, match="integration test fails"):  # evaluate refuses it too
        ls.evaluate(folder, workspace=tmp_path / "ws", workers=0)


def test_label_count_on_a_declared_channel_axis_passes(make_integration, run_check):
    folder = make_integration()
    source = (folder / "integration.py").read_text()
    (folder / "integration.py").write_text(
        source.replace(
            'ls.Prediction("classes", labels=["a", "b", "c"])',
            'ls.Prediction("classes", labels=["a", "b", "c"], channel_dim=0)',
        )
    )
    assert run_check(folder).valid


@pytest.mark.parametrize(
    ("name", "body", "column"),
    [
        ("subset", "return 'x'", "subset"),
        ("sample_id", "return 1", "sample_id"),
        ("error", "return 0.5", "error"),
        ("pred_conf", "return 0.5", "pred_conf"),
        ("metric_area", "return 3", "metric_area"),
        ("loss", "return {'weight': 1.0}", "loss_weight"),  # after dict flattening
        ("gt", "return {'source': 'scan'}", "gt_source"),
    ],
)
def test_metadata_with_a_reserved_name_is_refused(make_integration, run_check, name, body, column):
    extra = f"@ls.metadata({name!r})\ndef extra_meta(sample_id, subset):\n    {body}\n"
    err = _failing(run_check(make_integration(extra=extra)), "metadata")
    assert err["function"] == f"extra_meta (@metadata '{name}')"
    assert f"metadata column '{column}' uses a name reserved" in err["problem"]
    assert "gt_, pred_, loss_, metric_" in err["expected"] and f"'{column}'" in err["actual"]
    assert "rename" in err["fix"]


def test_metadata_with_a_free_name_still_passes(make_integration, run_check):
    extra = "@ls.metadata('errors_seen')\ndef extra_meta(sample_id, subset):\n    return {'gt_like': 1}\n"
    assert run_check(make_integration(extra=extra)).valid


def test_torch_shape_mismatch_names_the_encoder_and_says_how_to_fix(make_integration, run_check):
    folder = make_integration(features="return np.concatenate([subset.data['x'][sample_id], [0.0]]).astype(np.float32)")
    err = _failing(run_check(folder), "model")
    assert err["error"] == "ModelInputError"
    message = err["message"]
    assert (
        "model input 'input' is fed by input encoder features (@input 'features'), one sample of shape (5,)" in message
    )
    assert "a linear layer expects 4 features on the last axis, the input has 5" in message
    assert "fix: make the input encoder return samples whose last axis has 4 values" in message


@pytest.mark.slow
def test_explain_target_out_of_range(make_integration, tmp_path):
    run = ls.evaluate(make_integration(), workspace=tmp_path / "ws", workers=0, max_samples=4)
    env = {**os.environ, "COLUMNS": "200"}
    base = [
        sys.executable,
        "-m",
        "leapscope",
        "explain",
        run.id,
        "30",
        "--workspace",
        str(tmp_path / "ws"),
        "-o",
        str(tmp_path / "x.png"),
    ]
    proc = subprocess.run([*base, "--target", "7"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    message = " ".join(proc.stderr.split())  # rich wraps long lines: compare the words
    assert "target 7 is out of range: the output has 3 value(s) per sample" in message
    assert "valid targets: class indices 0..2, labels a, b, c, element:i,j,..." in message
    assert "or loss; fix: pass a target in that range" in message
    proc = subprocess.run([*base, "--target", "z"], capture_output=True, text=True, env=env, timeout=300)
    message = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "target 'z' is not a label of the prediction" in message and "0..2" in message
    proc = subprocess.run([*base, "--target", "b"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.png").stat().st_size != 0
