"""The run's secret (``AUTH_SECRET`` / ``--secret-file``) never reaches any output or artifact.

An integration that puts the secret into a metadata value, into the exception an
encoder raises, into a log record and into the exception its module raises at
import: the secret must appear nowhere in the CLI's output (table and ``--json``,
in subprocesses), the run's files (errors.parquet, samples.parquet, manifest), the
catalog, the logs, nor in the environment after ``evaluate``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from leapscope.sdk._runtime import SECRET_ENV
from tests.conftest import BASE, DEFAULTS, _indent

SECRET = "S3cr3t-Tok3n-7f9Qz"
LEAPSCOPE = [sys.executable, "-m", "leapscope"]

# the secret: as a str metadata value (always, and as a type change on some samples), in an
# encoder's exception (sample 5) and in a log record of preprocess
LEAKY = {
    "preprocess": DEFAULTS["preprocess"].replace(
        "    return [",
        "    logging.getLogger('leaky').warning('connected with token %s', ls.secret())\n    return [",
        1,
    ),
    "metadata": "return {'token': ls.secret(), 'mixed': ls.secret() if sample_id % 10 == 2 else 1}",
    "features": "if sample_id == 5:\n    raise RuntimeError('login refused for ' + ls.secret())\nreturn subset.data['x'][sample_id]",
    "extra": "import logging\n",
}


def _write(folder: Path, **overrides: str) -> Path:
    folder.mkdir()
    slots = {k: (_indent(v) if k != "extra" else textwrap.dedent(v)) for k, v in {**DEFAULTS, **overrides}.items()}
    (folder / "integration.py").write_text(BASE.format(**slots))
    return folder


def _run(
    *args: str, secret_env: bool = True, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV} | {"COLUMNS": "200"} | (extra_env or {})
    if secret_env:
        env[SECRET_ENV] = SECRET
    return subprocess.run([*LEAPSCOPE, *args], capture_output=True, text=True, env=env, timeout=300)


def _files_without_secret(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"{path} contains the secret"


@pytest.fixture
def leaky(tmp_path: Path) -> Path:
    return _write(tmp_path / "leaky", **LEAKY)


@pytest.mark.slow
def test_check_table_and_json_redact_the_secret(leaky: Path):
    table = _run("check", str(leaky))
    assert table.returncode == 1  # the metadata type change is reported ...
    assert "changed type" in table.stdout
    assert SECRET not in table.stdout + table.stderr  # ... without the value
    assert "***" in table.stdout

    as_json = _run("check", str(leaky), "--json")
    assert SECRET not in as_json.stdout + as_json.stderr
    report = json.loads(as_json.stdout)
    error = next(p["error"] for p in report["parts"] if p["part"] == "metadata")
    assert error["actual"] == "str '***'"


@pytest.mark.slow
def test_import_time_exception_is_redacted(tmp_path: Path):
    folder = tmp_path / "boom"
    folder.mkdir()
    (folder / "integration.py").write_text(
        "import os\nraise RuntimeError('cannot reach the bucket with key ' + os.environ['AUTH_SECRET'])\n"
    )
    proc = _run("check", str(folder))
    assert proc.returncode == 2
    assert "IntegrationLoadError" in proc.stderr and "***" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr

    debug = _run("check", str(folder), extra_env={"LEAPSCOPE_DEBUG": "1"})  # the traceback, chained cause included
    assert (
        debug.returncode == 2
        and "Traceback" in debug.stderr
        and "RuntimeError: cannot reach the bucket" in debug.stderr
    )
    assert SECRET not in debug.stdout + debug.stderr

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    proc = _run(
        "evaluate",
        str(folder),
        "--workspace",
        str(tmp_path / "ws"),
        "--secret-file",
        str(secret_file),
        secret_env=False,
    )
    assert proc.returncode == 2 and "IntegrationLoadError" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_evaluate_cli_stores_and_prints_no_secret(leaky: Path, tmp_path: Path):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    ws = tmp_path / "ws"
    proc = _run(
        "evaluate",
        str(leaky),
        "--workspace",
        str(ws),
        "--secret-file",
        str(secret_file),
        "--workers",
        "1",
        secret_env=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr  # includes the integration's log record
    assert "connected with token ***" in proc.stderr

    (run_dir,) = (ws / "runs").iterdir()
    errors = pq.read_table(run_dir / "errors.parquet").to_pylist()
    messages = " | ".join(e["message"] for e in errors)
    assert "login refused for ***" in messages  # the encoder's exception (sample 5) ...
    assert "changed type" in messages and "'***'" in messages  # ... and the metadata type changes
    samples = pq.read_table(run_dir / "samples.parquet", columns=["info_token", "error"]).to_pylist()
    assert {r["info_token"] for r in samples if r["error"] is None} == {"***"}
    _files_without_secret(ws)  # errors.parquet, samples.parquet, manifest.json, catalog.sqlite (+ WAL)
    assert SECRET not in (run_dir / "manifest.json").read_text()


@pytest.mark.parametrize("previous", [None, "the-callers-own-value"])
def test_evaluate_scopes_the_secret(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, previous: str | None
):
    import leapscope as ls

    if previous is None:
        monkeypatch.delenv(SECRET_ENV, raising=False)
    else:
        monkeypatch.setenv(SECRET_ENV, previous)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    with caplog.at_level(logging.WARNING):
        run = ls.evaluate(leaky, workspace=tmp_path / "ws", secret_file=secret_file, workers=1, max_samples=12)
    assert os.environ.get(SECRET_ENV) == previous  # restored (or unset) after evaluate
    assert "connected with token ***" in caplog.text and SECRET not in caplog.text
    errors = pq.read_table(run.dir / "errors.parquet").to_pylist()
    assert any("login refused for ***" in e["message"] for e in errors)  # the worker knew the secret
    _files_without_secret(tmp_path / "ws")
