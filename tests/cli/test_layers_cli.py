"""`leapscope layers MODEL|RUN` (issue 14, item 3): the listing, and its names working in explain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leapscope.cli import app
from leapscope.store import Workspace
from tests.conftest import DIGITS
from tests.models.test_layers import _dotted_onnx

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_layers_json_digits_onnx():
    data = json.loads(_invoke("layers", str(DIGITS / "model.onnx"), "--json"))
    assert data["framework"] == "onnx" and data["default_latent"] == "/Relu_2"
    rows = {row["name"]: row for row in data["layers"]}
    assert rows["/Relu_2"]["default_latent"] and rows["/Relu_2"]["output_shape"] == [None, 64]
    assert rows["/Relu_1"]["spatial"] and not rows["/Flatten"]["spatial"]


def test_layers_table_digits_keras():
    out = _invoke("layers", str(DIGITS / "model.h5"))
    assert "conv2" in out and "Conv2D" in out and "(B, 8, 8, 32)" in out
    assert "default latent: fc1" in out


def test_layers_hides_constants_unless_all(tmp_path: Path):
    path = str(_dotted_onnx(tmp_path / "dotted.onnx"))
    shown = json.loads(_invoke("layers", path, "--json"))
    assert [row["name"] for row in shown["layers"]] == [
        "p2o.Conv.0",
        "p2o.Relu.0",
        "p2o.MaxPool.0",
        "p2o.Reshape.0",
        "p2o.MatMul.0",
    ]
    assert shown["total"] == 11
    everything = json.loads(_invoke("layers", path, "--json", "--all"))
    assert len(everything["layers"]) == 11 and sum(row["hidden"] for row in everything["layers"]) == 6
    table = _invoke("layers", path)
    assert "p2o.Constant.0" not in table and "6 constant/shape layers hidden" in table


@pytest.mark.slow
def test_layers_of_a_run_and_the_name_in_explain(digits_workspace: tuple[Path, str], tmp_path: Path):
    workspace, run_id = digits_workspace
    data = json.loads(_invoke("layers", run_id, "--json", "--workspace", str(workspace)))
    spatial = [row["name"] for row in data["layers"] if row["spatial"]]
    assert data["model"] == f"run {run_id}" and "/Relu_1" in spatial
    out = tmp_path / "cam.png"
    first = Workspace(workspace).open_run(run_id).samples.select(["subset", "sample_id"]).slice(0, 1).to_pylist()[0]
    _invoke(
        "explain",
        run_id,
        str(first["sample_id"]),
        "--subset",
        str(first["subset"]),
        "--method",
        "gradcam",
        "--layer",
        spatial[-1],
        "-o",
        str(out),
        "--workspace",
        str(workspace),
    )
    assert out.stat().st_size > 0
