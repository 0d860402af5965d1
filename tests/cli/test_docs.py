from __future__ import annotations

from leapscope.cli._docs import render
from tests.conftest import REPO


def test_cli_reference_is_in_sync():
    assert (REPO / "docs" / "cli.md").read_text() == render(), "run: python -m leapscope.cli._docs > docs/cli.md"
