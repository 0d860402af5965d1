"""`leapscope check` and `leapscope init` end to end, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DIGITS

LEAPSCOPE = [sys.executable, "-m", "leapscope"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*LEAPSCOPE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.slow
def test_check_digits_json():
    proc = _run("check", str(DIGITS), "--json", "--samples", "2")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["valid"] is True
    assert {p["part"]: p["status"] for p in report["parts"]}["metadata"] == "pass"
    assert {"target": "model", "kind": "model", "argument": "image", "source": "input:image"} in report["wiring"]
    assert {"target": "accuracy", "kind": "metric", "argument": "gt", "source": "gt:label"} in report["wiring"]
    assert report["subsets"] == {"training": 1078, "validation": 359, "test": 360}


@pytest.mark.slow
def test_check_digits_table():
    proc = _run("check", str(DIGITS))
    assert proc.returncode == 0, proc.stderr
    assert "✓" in proc.stdout and "wiring" in proc.stdout and "valid" in proc.stdout
    assert "prediction ← prediction:classes" in proc.stdout


@pytest.mark.slow
def test_check_broken_integration_exits_1(make_integration):
    folder = make_integration(features="return subset.data['x'][sample_id].astype(np.float64)")
    proc = _run("check", str(folder))
    assert proc.returncode == 1
    assert "✗" in proc.stdout and "astype(np.float32)" in proc.stdout


@pytest.mark.slow
def test_check_unimportable_integration_exits_2(tmp_path):
    (tmp_path / "integration.py").write_text("raise RuntimeError('boom')\n")
    proc = _run("check", str(tmp_path))
    assert proc.returncode == 2
    assert "IntegrationLoadError" in proc.stderr and "boom" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_init_writes_a_template_that_passes(tmp_path):
    target = tmp_path / "mine"
    proc = _run("init", str(target))
    assert proc.returncode == 0, proc.stderr
    assert (target / "integration.py").exists() and (target / "leapscope.yaml").exists()
    assert _run("init", str(target)).returncode == 2  # refuses to overwrite
    check = _run("check", str(target), "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["valid"] is True


def test_check_table_at_80_columns_marks_parts_that_never_ran_and_prints_errors_in_full(tmp_path: Path):
    assert _run("init", str(tmp_path / "t")).returncode == 0
    code = (tmp_path / "t" / "integration.py").read_text()
    broken = code.replace(
        'return subset.data["features"][sample_id]', 'return subset.data["features"][sample_id].astype(np.float64)'
    )
    assert broken != code
    (tmp_path / "t" / "integration.py").write_text(broken)
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run(
        [*LEAPSCOPE, "check", str(tmp_path / "t")], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 1
    rows = {
        line.split("│")[2].strip(): line
        for line in proc.stdout.splitlines()
        if line.count("│") >= 5 and line.split("│")[2].strip()
    }
    assert "—" in rows["model"] and "not run" in rows["model"] and "✓" not in rows["model"]
    assert "✗" in rows["input encoders"]
    # the whole error, fix line included, is printed below the table, not squeezed into a column
    assert "fix:      return value.astype(np.float32)" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
