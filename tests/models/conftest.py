"""Small real models for the model-layer tests (built here, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import DIGITS


class TwoInTwoOut(torch.nn.Module):
    """a (B, 3) and b (B, 2) -> (sum head (B, 1), class head (B, 4))."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(3, 8)
        self.b = torch.nn.Linear(2, 8)
        self.head_sum = torch.nn.Linear(8, 1)
        self.head_cls = torch.nn.Linear(8, 4)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.a(a) + self.b(b))
        return self.head_sum(h), self.head_cls(h)


@pytest.fixture(scope="session")
def digits_images() -> np.ndarray:
    import sys

    sys.path.insert(0, str(DIGITS))
    import data

    images, _, _ = data.load()
    return images[:32]


@pytest.fixture(scope="session")
def two_in_two_out_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "two.onnx"
    torch.onnx.export(
        TwoInTwoOut().eval(),
        (torch.zeros(1, 3), torch.zeros(1, 2)),
        str(path),
        input_names=["a", "b"],
        output_names=["total", "classes"],
        dynamic_axes={"a": {0: "batch"}, "b": {0: "batch"}, "total": {0: "batch"}, "classes": {0: "batch"}},
        dynamo=False,
    )
    return path


@pytest.fixture(scope="session")
def fixed_batch_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits model re-declared with a fixed batch axis of 4."""
    import onnx

    proto = onnx.load(str(DIGITS / "model.onnx"))
    for value in [*proto.graph.input, *proto.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_value = 4
    path = tmp_path_factory.mktemp("fixed") / "fixed.onnx"
    onnx.save(proto, str(path))
    return path
