"""Broken Tensorleap integrations get leapscope-quality errors; `init --tensorleap` and the example work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from leapscope import api
from leapscope.exceptions import IntegrationLoadError
from leapscope.integration import load
from tests.conftest import REPO


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leapscope", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
        timeout=540,
    )


def test_missing_package_says_pip_install_requirements(decorator_onnx):
    path = decorator_onnx / "leap_binder.py"
    path.write_text("import not_a_real_package_xyz\n" + path.read_text())
    with pytest.raises(IntegrationLoadError) as info:
        load(decorator_onnx)
    message = str(info.value)
    assert "not_a_real_package_xyz" in message and "pip install -r" in message and "requirements.txt" in message
    assert "leap_binder.py:1" in message


def test_failing_encoder_names_the_decorator_function_subset_and_sample(decorator_onnx):
    path = decorator_onnx / "leap_binder.py"
    path.write_text(
        path.read_text().replace(
            "    return STATS[_row(idx, preprocess)].astype(np.float32)",
            "    if _row(idx, preprocess) == 1:\n        raise KeyError('no stats for this row')\n"
            "    return STATS[_row(idx, preprocess)].astype(np.float32)",
        )
    )
    report = api.check(decorator_onnx, samples=2)
    assert not report.valid
    error = report.part("input encoders").error
    assert "input_stats" in error["function"] and "@tensorleap_input_encoder('stats')" in error["function"]
    assert error["subset"] == "training" and str(error["sample_id"]) == "1"
    assert "leap_binder.py" in json.dumps(error)


def test_float64_encoder_is_cast_like_code_loader_does(old_style, digits_onnx):
    # the old-style fixture returns float64 images and stats: code-loader casts them, so leapscope does too
    assert api.check(old_style, samples=1, model=digits_onnx).valid


@pytest.mark.slow
def test_init_tensorleap_writes_a_template_that_passes_check(tmp_path):
    target = tmp_path / "tl"
    assert _cli("init", "--tensorleap", str(target)).returncode == 0
    assert {p.name for p in target.iterdir()} >= {"leap_integration.py", "leap.yaml", "requirements.txt", "README.md"}
    check = _cli("check", str(target), "--json", "--samples", "2")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert json.loads(check.stdout)["valid"] is True


@pytest.mark.slow
def test_the_tensorleap_example_checks_and_evaluates(tmp_path):
    example = REPO / "examples" / "tensorleap-mnist-style"
    run = _cli("evaluate", str(example), "-w", str(tmp_path), "--max-samples", "30", "--workers", "1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    from leapscope.store import Workspace

    stored = Workspace(tmp_path).runs()[0]
    assert stored.status == "complete" and stored.row.counts["failed"] == 0


def test_missing_tensorflow_names_the_line_and_both_fixes(decorator_onnx, monkeypatch):
    import sys as _sys

    entry = decorator_onnx / "leap_integration.py"
    entry.write_text("import tensorflow as tf\n" + entry.read_text())
    monkeypatch.setitem(_sys.modules, "tensorflow", None)  # as if TensorFlow were not installed
    with pytest.raises(IntegrationLoadError) as info:
        load(decorator_onnx)
    message = str(info.value)
    assert "leap_integration.py:1" in message
    assert "pip install 'leapscope[tensorflow]'" in message and "--model" in message
