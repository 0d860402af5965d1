"""``leapscope runs`` at 80 columns: run ids whole (they are copied into other commands), headers unclipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_runs_table_fits_80_columns_without_cutting_ids(digits_workspace: tuple[Path, str]) -> None:
    ws, run_id = digits_workspace
    proc = subprocess.run(
        [sys.executable, "-m", "leapscope", "runs", "-w", str(ws)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert any(run_id in line for line in lines)
    header = next(line for line in lines if "project" in line)
    for column in ("project", "version", "run", "status", "samples", "created", "seconds"):
        assert f" {column} " in f" {header} "
    assert "…" not in proc.stdout


def test_explain_of_an_unknown_sample_names_the_run_and_real_ids(digits_workspace: tuple[Path, str]) -> None:
    ws, run_id = digits_workspace
    proc = subprocess.run(
        [sys.executable, "-m", "leapscope", "explain", run_id, "no-such-id", "-w", str(ws)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())
    assert f"run {run_id} has no sample 'no-such-id'" in out and "ids look like '" in out and "Traceback" not in out
