"""`check` resolves and shows each prediction's kind, and refuses a declared kind the output cannot hold."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from leapscope import api
from leapscope.cli import app
from tests._task_models import write_dense, write_regression

runner = CliRunner()


def test_dense_output_is_inferred_dense_and_shown(tmp_path):
    folder = write_dense(tmp_path / "dense", n=16)
    report = api.check(folder, samples=1)
    assert report.valid
    assert report.kinds == {"text": "dense"}
    (info,) = report.to_dict()["predictions"]
    assert info == {
        "name": "text",
        "kind": "dense",
        "declared": False,
        "shape": [1, 16, 16],
        "labels": None,
        "note": None,
        "class_axis": None,  # no labels: no class axis to report
        "warning": None,
    }
    shown = runner.invoke(app, ["check", str(folder), "-n", "1"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "text: dense (inferred; declare kind= to change it), one sample (1, 16, 16)" in shown.output
    assert "prediction:text (dense)" in shown.output  # in the wiring tree
    as_json = runner.invoke(app, ["check", str(folder), "-n", "1", "--json"])
    assert json.loads(as_json.output)["predictions"][0]["kind"] == "dense"


def test_regression_output_is_inferred_regression(tmp_path):
    report = api.check(write_regression(tmp_path / "reg"), samples=1)
    assert report.valid and report.kinds == {"progression": "regression"}


def test_declared_class_on_a_map_is_a_clear_error(tmp_path):
    report = api.check(write_dense(tmp_path / "dense", n=16, kind="class"), samples=1)
    assert not report.valid
    model = report.part("model")
    assert model.status == "fail" and model.error is not None
    message = model.error["message"]
    assert "Prediction 'text' declares kind='class'" in message
    assert "(1, 16, 16)" in message and "256 values" in message  # actual shape
    assert "(C,)" in message  # expected
    assert "kind='dense'" in message  # the fix


def test_declared_dense_kind_is_kept(tmp_path):
    report = api.check(write_dense(tmp_path / "dense", n=16, kind="dense"), samples=1)
    assert report.valid and report.to_dict()["predictions"][0]["declared"] is True
