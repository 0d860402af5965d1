"""A typo of a ``leapscope`` name (``@ls.metrics``) says which name was meant, also when the integration loads."""

from __future__ import annotations

import re

import pytest

import leapscope as ls
from leapscope.exceptions import IntegrationLoadError
from leapscope.integration import load

TYPO = """
@ls.metrics("top_score")
def top_score(classes):
    return classes.max(1)
"""


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("metrics", "ls.metric"),
        ("Subsets", "ls.Subset"),
        ("visualiser", "ls.visualizer"),
        ("load_models", "ls.load_model"),
    ],
)
def test_a_typo_names_the_close_match(typo, meant):
    with pytest.raises(AttributeError, match=rf"has no attribute '{typo}'; did you mean {re.escape(meant)}\b"):
        getattr(ls, typo)


def test_a_name_close_to_nothing_gets_no_suggestion():
    with pytest.raises(AttributeError) as info:
        ls.zzz_not_a_name  # noqa: B018
    assert str(info.value) == "module 'leapscope' has no attribute 'zzz_not_a_name'"
    assert not hasattr(ls, "__wrapped__")


def test_the_loader_shows_the_suggestion_and_the_line(make_integration):
    folder = make_integration(extra=TYPO)
    line = next(
        i for i, text in enumerate((folder / "integration.py").read_text().splitlines(), 1) if "ls.metrics" in text
    )
    with pytest.raises(IntegrationLoadError) as info:
        load(folder)
    message = str(info.value)
    assert "has no attribute 'metrics'; did you mean ls.metric?" in message
    assert f"integration.py:{line}" in message
