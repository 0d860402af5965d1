"""Two integrations loaded in one process keep their own helper modules (issue 11, item 14)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from leapscope.integration import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

INTEGRATION = """
import numpy as np
import leapscope as ls

import helper
from pkg import sub


@ls.preprocess
def subsets():
    return [ls.Subset("training", [0, 1]), ls.Subset("validation", [2])]


@ls.metadata("who")
def who(sample_id, subset):
    return helper.WHO + sub.WHO
"""


def _write(folder: Path, who: str) -> Path:
    folder.mkdir()
    (folder / "integration.py").write_text(INTEGRATION)
    (folder / "helper.py").write_text(f"WHO = {who!r}\n")
    (folder / "pkg").mkdir()
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "sub.py").write_text(f"WHO = {who.upper()!r}\n")
    return folder


def _who(loaded) -> str:
    return loaded.integration.metadata["who"](0, None)


def test_second_integration_gets_its_own_helper_modules(tmp_path):
    a = load(_write(tmp_path / "a", "a"))
    b = load(_write(tmp_path / "b", "b"))
    assert _who(b) == "bB"
    assert _who(a) == "aA"  # the first one's functions still see their own helpers
    a_again = load(tmp_path / "a")
    assert (_who(a_again), _who(b), _who(a)) == ("aA", "bB", "aA")
    helper_b = b.integration.metadata["who"].function.__globals__["helper"]
    assert Path(helper_b.__file__).parent == tmp_path / "b"


def test_a_library_module_of_the_same_name_is_left_alone(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "helper.py").write_text("WHO = 'library'\n")
    monkeypatch.syspath_prepend(str(lib))
    monkeypatch.delitem(sys.modules, "helper", raising=False)
    import helper  # type: ignore[import-not-found]

    loaded = load(_write(tmp_path / "a", "a"))
    assert _who(loaded) == "aA"
    assert sys.modules["helper"] is helper  # restored for the code that imported it before
    monkeypatch.delitem(sys.modules, "helper")


def test_digits_then_breast_cancer_each_see_their_own_data_module():
    digits = load(EXAMPLES / "digits")
    cancer = load(EXAMPLES / "tabular-breast-cancer")
    for loaded, folder in ((digits, "digits"), (cancer, "tabular-breast-cancer")):
        assert loaded.integration.preprocess is not None
        data = loaded.integration.preprocess.function.__globals__["data"]
        assert Path(data.__file__).parent == EXAMPLES / folder
    subsets = {s.name: len(s.sample_ids) for s in cancer.integration.preprocess()}
    assert subsets["training"] > 0
    digit_subsets = {s.name: len(s.sample_ids) for s in digits.integration.preprocess()}
    assert digit_subsets["training"] == 1078


@pytest.fixture(autouse=True)
def _no_leftover_helpers():
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name in {"helper", "pkg", "pkg.sub", "data"}:
            del sys.modules[name]
