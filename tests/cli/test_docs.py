from __future__ import annotations

import sys

import pytest

from leapscope.cli._docs import render
from leapscope.cli._errors import run_main
from tests.conftest import REPO


def test_cli_reference_is_in_sync():
    assert (REPO / "docs" / "cli.md").read_text() == render(), "run: python -m leapscope.cli._docs > docs/cli.md"


def _broken_command(standalone_mode: bool) -> None:
    raise RuntimeError("boom")


def test_the_reference_says_what_an_unexpected_error_prints_and_it_does(capsys, monkeypatch):
    doc = " ".join(render().split())
    assert "An unexpected error" in doc and "prints one paragraph" in doc and "exits 1" in doc
    assert "again with `LEAPSCOPE_DEBUG=1` to see its traceback" in doc
    monkeypatch.setattr(sys, "argv", ["leapscope", "runs", "-w", "ws"])
    monkeypatch.delenv("LEAPSCOPE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        run_main(_broken_command)
    err = " ".join(capsys.readouterr().err.split())
    assert info.value.code == 1 and "Traceback" not in err, err
    assert "`leapscope runs` stopped on an unexpected RuntimeError: boom" in err and "LEAPSCOPE_DEBUG=1" in err, err
    monkeypatch.setenv("LEAPSCOPE_DEBUG", "1")
    with pytest.raises(SystemExit) as info:
        run_main(_broken_command)
    assert info.value.code == 1 and "Traceback" in capsys.readouterr().err
