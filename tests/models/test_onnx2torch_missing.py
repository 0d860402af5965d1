"""A missing onnx2torch names the exact install command (a --no-deps install, pinned as in the Makefile)."""

from __future__ import annotations

import re
import sys

import pytest

from leapscope.exceptions import ModelError
from leapscope.models import _onnx_torch
from tests.conftest import REPO


def test_missing_onnx2torch_gives_the_exact_pip_command(monkeypatch):
    for name in [m for m in sys.modules if m == "onnx2torch" or m.startswith("onnx2torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx2torch", None)  # what an absent package looks like to `import`
    with pytest.raises(ModelError) as info:
        _onnx_torch.import_onnx2torch()
    pinned = re.search(r"\$\(PIP\) install -q --no-deps (onnx2torch==\S+)", (REPO / "Makefile").read_text())
    assert pinned, "the Makefile installs onnx2torch with --no-deps and a pinned version"
    assert f"pip install --no-deps {pinned.group(1)}" in str(info.value)
    assert "Makefile" not in str(info.value)


def test_missing_onnx2torch_with_torchvision_installed_is_a_model_error(monkeypatch):
    # with an importable torchvision, the stand-in context manager used to swallow the ImportError
    # raised inside its body and yield a second time ("generator didn't stop after throw()")
    import types

    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    for name in [m for m in sys.modules if m == "onnx2torch" or m.startswith("onnx2torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx2torch", None)
    with pytest.raises(ModelError, match="pip install --no-deps onnx2torch=="):
        _onnx_torch.import_onnx2torch()
