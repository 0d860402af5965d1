"""The digits models and images every attribution test explains (real models, nothing mocked)."""

from __future__ import annotations

import sys

import pytest
import torch

from leapscope.models import open_model
from tests.conftest import DIGITS


@pytest.fixture(scope="module")
def images():
    sys.path.insert(0, str(DIGITS))
    import data

    imgs, _, rows = data.load()
    return imgs[rows["test"][:12]]


@pytest.fixture(scope="module")
def onnx_model():
    return open_model(DIGITS / "model.onnx")


@pytest.fixture(scope="module")
def keras_model():
    return open_model(DIGITS / "model.h5")


class TorchCNN(torch.nn.Module):
    """NCHW torch model with the ONNX export's weights."""

    def __init__(self, onnx_module):
        super().__init__()
        self.inner = onnx_module

    def forward(self, x):
        return self.inner(x.permute(0, 2, 3, 1))
