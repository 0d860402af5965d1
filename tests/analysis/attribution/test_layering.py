"""The attribution package knows no framework: it reaches models only through ModelWrapper."""

from __future__ import annotations

import ast
from pathlib import Path

import leapscope.analysis.attribution as attribution

PACKAGE = Path(attribution.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_attribution_imports_no_model_backend_and_no_keras():
    for path in PACKAGE.glob("*.py"):
        imports = _imports(path)
        assert not [m for m in imports if m.startswith("leapscope.models.")], path.name  # only the leapscope.models API
        assert not [m for m in imports if m.split(".")[0] in ("keras", "onnx", "onnxruntime")], path.name
        assert '"keras"' not in path.read_text(), path.name  # no branching on framework names
