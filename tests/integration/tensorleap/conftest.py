"""Fixtures: Tensorleap integrations on real code-loader, with small models trained here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.tensorleap import fixtures


@pytest.fixture(scope="session")
def digits_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixtures.export_onnx(fixtures.train_digits_mlp(), tmp_path_factory.mktemp("tl_model") / "model.onnx")


@pytest.fixture
def decorator_onnx(tmp_path: Path, digits_onnx: Path) -> Path:
    return fixtures.write_decorator_onnx(tmp_path / "tl_onnx", digits_onnx)


@pytest.fixture
def old_style(tmp_path: Path) -> Path:
    return fixtures.write_old_style(tmp_path / "tl_old")
