"""Saved regression tests from the CLI, in subprocesses: `test RUN`, `test --save`, evaluate's table, insights' commands."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leapscope import runs
from leapscope.server import create_app
from leapscope.store import Workspace

LEAPSCOPE = [sys.executable, "-m", "leapscope"]


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([*LEAPSCOPE, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A workspace with one evaluated run of the small generated integration: ``(workspace, integration, run id, project)``."""
    from tests.conftest import BASE, DEFAULTS, _indent

    folder = tmp_path_factory.mktemp("small") / "tiny"
    folder.mkdir()
    folder.joinpath("integration.py").write_text(
        BASE.format(**{k: (_indent(v) if k != "extra" else v) for k, v in DEFAULTS.items()})
    )
    ws = folder.parent / "ws"
    proc = _run("evaluate", folder, "-w", ws, "--workers", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = Workspace(ws).runs()[-1]
    return ws, folder, run.id, run.row.project


def test_saved_tests_flow(small):
    ws, folder, run_id, project = small
    # no saved test yet: a clear message, exit 0
    proc = _run("test", run_id, "-w", ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"project '{project}' has no saved test" in proc.stdout and "--save NAME" in proc.stdout

    # --save records the result on this run at once
    proc = _run("test", run_id, "-w", ws, "--metric", "accuracy", "--min", "0", "--save", "anything")
    assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr
    proc = _run(
        "test",
        run_id,
        "-w",
        ws,
        "--metric",
        "accuracy",
        "--filter",
        "info_odd == True",
        "--min",
        "1.01",
        "--save",
        "perfect-odd",
    )
    assert proc.returncode == 1 and "FAIL" in proc.stdout, proc.stdout + proc.stderr
    stored = {r.test_id: r.passed for r in Workspace(ws).catalog.test_results(run_id=run_id)}
    names = {tid: t.name for tid, t in runs.saved_tests(Workspace(ws), project)}
    assert {names[tid]: passed for tid, passed in stored.items()} == {"anything": True, "perfect-odd": False}

    # without --metric: every saved test, as a table, exit 1 because one fails
    proc = _run("test", run_id, "-w", ws)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for text in (
        "name",
        "filter",
        "metric",
        "bound",
        "value",
        "anything",
        "perfect-odd",
        "info_odd == True",
        "metric_accuracy",
        ">= 1.01",
        "PASS",
        "FAIL",
        "1 passed, 1 failed",
    ):
        assert text in proc.stdout, (text, proc.stdout)
    # options that need --metric are refused, not ignored
    proc = _run("test", run_id, "-w", ws, "--min", "0.5")
    assert proc.returncode == 2 and "--metric" in proc.stderr

    # evaluate prints the saved-test results after its summary
    proc = _run("evaluate", folder, "-w", ws, "--workers", "0", "--version", "second")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "saved tests" in out and "perfect-odd" in out and "1 passed, 1 failed" in out
    assert out.index("validation") < out.index("perfect-odd")  # after the run summary

    # only the passing test left: exit 0
    Workspace(ws).catalog.delete_test(project, "perfect-odd")
    proc = _run("test", run_id, "-w", ws)
    assert proc.returncode == 0 and "1 passed, 0 failed" in proc.stdout, proc.stdout + proc.stderr


def test_dashboard_answer_shows_the_result_on_the_run_a_test_was_saved_from(small):
    ws, _, run_id, project = small
    proc = _run("test", run_id, "-w", ws, "--metric", "metric_accuracy", "--min", "0", "--save", "dashboard")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with TestClient(create_app(ws, warm=False), base_url="http://127.0.0.1") as client:
        # what the dashboard reads ("this run" column) ...
        listed = {t["name"]: t for t in client.get(f"/api/v1/projects/{project}/tests").json()["data"]}
        mine = [r for r in listed["dashboard"]["results"] if r["run_id"] == run_id]
        assert len(mine) == 1 and mine[0]["passed"] == 1
        # ... agrees with the tests run now on that run
        now = {r["test"]["name"]: r["passed"] for r in client.get(f"/api/v1/runs/{run_id}/tests").json()["data"]}
        assert now["dashboard"] is True
        # a test saved through the API is run on the project's latest complete run at once
        latest = Workspace(ws).runs(project)[-1].id
        body = {"name": "from-api", "metric": "metric_accuracy", "min": 2.0}
        assert client.post(f"/api/v1/projects/{project}/tests", json=body).status_code == 200
        listed = {t["name"]: t for t in client.get(f"/api/v1/projects/{project}/tests").json()["data"]}
        assert [(r["run_id"], r["passed"]) for r in listed["from-api"]["results"]] == [(latest, 0)]


def test_insights_table_prints_copyable_suggested_tests(digits_workspace):
    path, run_id = digits_workspace
    found = runs.load_insights(Workspace(path).open_run(run_id))
    suggested = [i for i in found if i.suggested_test]
    assert suggested, "the digits run has insights with a suggested test"
    proc = _run("insights", run_id[:12], "-w", path)
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines() if f"leapscope test {run_id} " in line]
    assert len(lines) == len(suggested[:100])
    for line in lines:  # each line is one whole command that the shell splits into the right arguments
        argv = shlex.split(line.split("] ", 1)[1])
        assert argv[:4] == ["leapscope", "test", run_id, "--metric"] and argv[4] in {
            i.suggested_test["metric"] for i in suggested
        }
        assert argv[-2:] == ["--workspace", str(path)] and ("--min" in argv or "--max" in argv) and "--filter" in argv
    # and the first one runs as printed
    argv = shlex.split(lines[0].split("] ", 1)[1])
    proc = _run(*argv[1:])
    assert proc.returncode in (0, 1) and ("PASS" in proc.stdout or "FAIL" in proc.stdout), proc.stdout + proc.stderr


def test_short_metric_names_and_unquoted_words_from_the_cli(small):
    ws, _, run_id, _ = small
    # `--metric ce` finds loss_ce (the trial's `--metric bce` did not find loss_bce)
    proc = _run("test", run_id, "-w", ws, "--metric", "ce", "--max", "100")
    assert proc.returncode == 0 and "PASS mean loss_ce <= 100.0" in proc.stdout, proc.stdout + proc.stderr
    proc = _run("test", run_id, "-w", ws, "--metric", "accuracy", "--min", "0")
    assert proc.returncode == 0 and "mean metric_accuracy >= 0.0" in proc.stdout, proc.stdout + proc.stderr
    # an unquoted word on the right of a filter: the quoted fix, not the grammar
    proc = _run("test", run_id, "-w", ws, "--metric", "ce", "--max", "1", "--filter", "subset == validation")
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and 'strings go in quotes: subset == "validation"' in err, proc.stderr


def test_on_a_failed_run_the_cli_says_it_failed_and_where_to_see_why(make_integration, tmp_path):
    # the trial's `leapscope test` on a failed run: "no column 'loss_huber'; metric and loss columns: " (empty)
    from tests.runs.test_saved_tests import _failed_run

    ws = Workspace(tmp_path / "ws")
    run = _failed_run(make_integration, ws)
    runs.save_test(ws, run.row.project, runs.ThresholdTest(metric="loss_ce", max=1.0, name="cap"))
    for args in (("--metric", "ce", "--max", "1"), ()):  # one test, then the saved tests
        proc = _run("test", run.id, "-w", ws.path, *args)
        err = " ".join(proc.stderr.split())
        assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
        assert f"run {run.id} failed (every one of its 40 samples failed" in err and "broken encoder" in err, err
        joined = "".join(proc.stderr.split())  # paths wrapped at the terminal's width
        assert f"`leapscoperuns-w{ws.path}`" in joined and f"{run.dir}/errors.parquet" in joined, err
        assert "metric and loss columns" not in err and err.count(f"run {run.id} failed") == 1, err
