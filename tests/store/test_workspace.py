"""A workspace path that is wrong is refused with a message, never created by a read-only command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import leapscope as ls
from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.store import Workspace

LEAPSCOPE = [sys.executable, "-m", "leapscope"]


def test_a_file_is_not_a_workspace(tmp_path: Path) -> None:
    path = tmp_path / "afile"
    path.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        Workspace(path)
    with pytest.raises(StoreError, match="cannot create workspace"):
        Workspace(path / "sub")


def test_read_only_open_refuses_a_missing_workspace(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no workspace at"):
        Workspace(tmp_path / "typo", create=False)
    assert not (tmp_path / "typo").exists()
    Workspace(tmp_path / "new")  # evaluate and serve still create one
    assert Workspace(tmp_path / "new", create=False).runs() == []


@pytest.mark.parametrize(
    "command", [["runs"], ["insights", "20260101-000000-abcdef"], ["report", "20260101-000000-abcdef"]]
)
@pytest.mark.slow
def test_cli_read_only_commands_do_not_create_a_mistyped_workspace(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "nows"
    done = subprocess.run([*LEAPSCOPE, *command, "--workspace", str(typo)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "no workspace at" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not typo.exists()


def test_unknown_explain_method_is_refused_before_evaluating(tmp_path: Path) -> None:
    with pytest.raises(LeapscopeError, match="unknown explain method 'bogus'"):
        ls.evaluate("examples/digits", workspace=tmp_path / "ws", explain="bogus")
    assert not (tmp_path / "ws" / "runs").exists()
