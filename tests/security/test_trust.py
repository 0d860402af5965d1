"""A workspace file never decides which code runs: a run's views (visuals, explanations, the report)
import its integration only from a folder this user checked or evaluated (integration/_trust.py).

Before: editing ``integration.entry`` in a run's manifest.json made a plain GET of a sample (or
``leapscope report``) import any file, which wrote a marker file here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from leapscope import api
from leapscope.integration._trust import TRUST_FILE_ENV, is_trusted, trust_file
from leapscope.server import create_app
from leapscope.store import Workspace

EVIL = """
from pathlib import Path
Path(__file__).with_name("PWNED").write_text("imported")
from integration_copy import *  # a working integration, so nothing but the marker tells it ran
"""


def _tamper(tmp_path: Path, make_integration) -> tuple[Path, str, Path]:
    """(workspace, run id, the folder of the other code the run's manifest now names)."""
    good = make_integration()
    run = api.evaluate(good, workspace=tmp_path / "ws", workers=0)
    evil = tmp_path / "elsewhere"
    evil.mkdir()
    (evil / "integration_copy.py").write_text((good / "integration.py").read_text())
    (evil / "integration.py").write_text(EVIL)
    manifest_path = Workspace(tmp_path / "ws").open_run(run.id).dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["integration"]["root"], manifest["integration"]["entry"] = str(evil), str(evil / "integration.py")
    manifest_path.write_text(json.dumps(manifest))
    return tmp_path / "ws", run.id, evil


def test_the_trust_file_is_the_sessions_own(make_integration):
    assert str(trust_file()) == os.environ[TRUST_FILE_ENV]  # tests/conftest.py: never the user's own list
    folder = make_integration()
    assert not is_trusted(folder)
    api.check(folder, samples=1)
    assert is_trusted(folder) and is_trusted(folder / "integration.py") and not is_trusted(folder.parent)


def test_a_tampered_manifest_runs_no_code_in_the_server(make_integration, tmp_path):
    workspace, run_id, evil = _tamper(tmp_path, make_integration)
    app = create_app(workspace, warm=False, serve_ui=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.get(f"/api/v1/runs/{run_id}/samples/training/3/visuals/bars")
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["title"] == "Untrusted integration" and str(evil) in body["detail"]
        assert f"leapscope check {evil}" in body["detail"]
        assert client.get(f"/api/v1/runs/{run_id}/samples", params={"limit": 5}).status_code == 200  # tables work
    assert not (evil / "PWNED").exists()


def test_a_tampered_manifest_runs_no_code_in_the_report(make_integration, tmp_path):
    workspace, run_id, evil = _tamper(tmp_path, make_integration)
    proc = subprocess.run(
        [sys.executable, "-m", "leapscope", "report", run_id, "-w", str(workspace), "-o", str(tmp_path / "r.html")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert not (evil / "PWNED").exists(), out
    assert "Traceback" not in out
    # the report either leaves the visuals out saying why, or refuses: either way it names the folder and the fix
    assert f"leapscope check {evil}" in " ".join(out.split()), out


def test_after_checking_it_the_user_trusts_that_code(make_integration, tmp_path):
    workspace, run_id, evil = _tamper(tmp_path, make_integration)
    api.check(evil, samples=1)  # the user read it and checked it: it runs (and writes its marker) on purpose
    (evil / "PWNED").unlink()
    app = create_app(workspace, warm=False, serve_ui=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get(f"/api/v1/runs/{run_id}/samples/training/3/visuals/bars").status_code == 200


def test_a_home_that_cannot_be_written_falls_back_to_a_private_temp_file(make_integration, tmp_path, monkeypatch):
    import tempfile

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.delenv(TRUST_FILE_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker / "config"))  # mkdir fails: a file is in the way
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    from leapscope.integration._trust import fallback_trust_file

    folder = make_integration()
    api.check(folder, samples=1)
    fallback = fallback_trust_file()
    assert fallback.exists() and oct(fallback.parent.stat().st_mode & 0o777) == "0o700"
    assert is_trusted(folder)
    fallback.parent.chmod(0o777)  # a folder others can write to is never read: anyone could add folders there
    assert not is_trusted(folder)
