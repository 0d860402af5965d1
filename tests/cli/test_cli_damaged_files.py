"""The CLI on damaged workspace files and odd arguments (trial C, item 5): known storage errors print their
message (exit 2), an unexpected exception prints one paragraph naming the command and LEAPSCOPE_DEBUG
(exit 1); never a raw traceback unless LEAPSCOPE_DEBUG=1. Real runs, real files damaged on disk."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server._odd_run import make_odd_run


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return make_odd_run(tmp_path_factory.mktemp("cli-damaged"))


@pytest.fixture
def ws(pristine, tmp_path) -> tuple[Path, str]:
    copy = tmp_path / "ws"
    shutil.copytree(pristine[0], copy)
    return copy, pristine[1]


def _cli(*args: str | bytes, debug: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("LEAPSCOPE_DEBUG", None)
    if debug:
        env["LEAPSCOPE_DEBUG"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "leapscope", *args], capture_output=True, text=True, timeout=300, env=env
    )


def _flat(proc: subprocess.CompletedProcess[str]) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


@pytest.mark.parametrize(
    "content",
    ['{"insights": [ {"type": ', json.dumps({"insights": [{"type": "low_performance", "rows": None}]})],
    ids=["invalid-json", "wrong-types"],
)
def test_insights_and_report_of_a_damaged_insights_json(ws, tmp_path, content):
    path, run_id = ws
    (path / "runs" / run_id / "insights.json").write_text(content)
    for args in (("insights", run_id), ("report", run_id, "-o", str(tmp_path / "r.html"))):
        proc = _cli(*args, "-w", str(path))
        out = _flat(proc)
        assert proc.returncode == 2, out
        assert "Traceback" not in out and "CorruptStorageError" in out and "insights.json" in out
        assert f"leapscope analyze {run_id}" in out


def test_a_saved_test_name_that_is_not_utf8_is_refused(ws):
    path, run_id = ws
    args = ["test", run_id, "-w", str(path), "--metric", "metric_accuracy", "--min", "0.1", "--save"]
    proc = subprocess.run(
        [sys.executable, "-m", "leapscope", *[a.encode() for a in args], b"caf\xe9"],  # Latin-1 bytes, not UTF-8
        capture_output=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    out = " ".join((proc.stdout + proc.stderr).decode("utf-8", "replace").split())
    assert proc.returncode == 2, out
    assert "Traceback" not in out and "lone surrogate" in out and "UnicodeEncodeError" not in out


def test_an_unexpected_error_is_one_paragraph_and_the_traceback_only_on_request(ws):
    path, run_id = ws
    # no reader expects a folder here: an error leapscope does not know
    (path / "runs" / run_id / "insights.json").mkdir()
    proc = _cli("insights", run_id, "-w", str(path))
    out = _flat(proc)
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    assert "`leapscope insights` stopped on an unexpected IsADirectoryError" in out and "LEAPSCOPE_DEBUG=1" in out
    debug = _cli("insights", run_id, "-w", str(path), debug=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_runs_lists_a_damaged_catalog_entry(ws):
    path, run_id = ws
    db = sqlite3.connect(path / "catalog.sqlite")
    db.execute("UPDATE runs SET counts = '{not json' WHERE id = ?", (run_id,))
    db.commit()
    db.close()
    proc = _cli("runs", "-w", str(path))
    out = _flat(proc)
    assert proc.returncode == 0, out
    assert run_id in out and "damaged" in out and "Traceback" not in out
