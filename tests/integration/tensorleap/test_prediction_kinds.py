"""code-loader has no prediction kind: leapscope reads it off the visualizers that draw each prediction
(an ImageMask one -> dense, an ImageWithBBox one -> boxes) on a segmentation + detection style integration
with a real (small, seeded) torch model exported to ONNX."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from leapscope import api
from leapscope.cli.check import _predictions_line

BINDER = """
from typing import List
import numpy as np
from sklearn.datasets import load_digits
from code_loader import leap_binder
from code_loader.contract.datasetclasses import PreprocessResponse
from code_loader.contract.enums import DataStateType, LeapDataType
from code_loader.contract.responsedataclasses import BoundingBox
from code_loader.contract.visualizer_classes import LeapImage, LeapImageMask, LeapImageWithBBox
from code_loader.inner_leap_binder.leapbinder_decorators import (
    tensorleap_preprocess, tensorleap_input_encoder, tensorleap_gt_encoder, tensorleap_custom_visualizer,
    tensorleap_custom_loss)

X = (load_digits().images[:40] / 16.0).astype(np.float32)[:, None]      # (N, 1, 8, 8)


@tensorleap_preprocess()
def preprocess() -> List[PreprocessResponse]:
    return [PreprocessResponse(length=24, data={"offset": 0}, state=DataStateType.training),
            PreprocessResponse(length=16, data={"offset": 24}, state=DataStateType.validation)]


@tensorleap_input_encoder("image", channel_dim=1)
def image(idx, preprocess) -> np.ndarray:
    return X[int(idx) + preprocess.data["offset"]]


@tensorleap_gt_encoder("ink")
def ink(idx, preprocess) -> np.ndarray:
    return (X[int(idx) + preprocess.data["offset"]] > 0.5).astype(np.float32)


@tensorleap_custom_visualizer("mask", LeapDataType.ImageMask)
def mask(image: np.ndarray, prediction: np.ndarray) -> LeapImageMask:
    return LeapImageMask((prediction[0, 0] > 0.5).astype(np.uint8), image[0].transpose(1, 2, 0), ["background", "ink"])


@tensorleap_custom_visualizer("detections", LeapDataType.ImageWithBBox)
def detections(image: np.ndarray, boxes: np.ndarray) -> LeapImageWithBBox:
    found = [BoundingBox(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4]), "digit") for b in boxes[0]]
    return LeapImageWithBBox((image[0].transpose(1, 2, 0) * 255).astype(np.uint8), found)


@tensorleap_custom_loss("dice")
def dice(ink: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    inter = (ink * prediction).sum((1, 2, 3))
    return (1 - 2 * inter / (ink.sum((1, 2, 3)) + prediction.sum((1, 2, 3)) + 1e-6)).astype(np.float32)
"""

ENTRY = """
import os
import onnxruntime as ort
from code_loader.contract.datasetclasses import PredictionTypeHandler
from code_loader.inner_leap_binder.leapbinder_decorators import tensorleap_load_model, tensorleap_integration_test
from leap_binder import preprocess, image, ink, mask, detections, dice


@tensorleap_load_model([PredictionTypeHandler("ink_map", ["ink"], channel_dim=1),
                        PredictionTypeHandler("boxes", ["x", "y", "w", "h", "score", "class"])])
def load_model():
    return ort.InferenceSession(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx"))


@tensorleap_integration_test()
def integration_test(idx, subset):
    x = image(idx, subset)
    gt = ink(idx, subset)
    outputs = load_model().run(None, {"image": x})
    ink_map, boxes = outputs[0], outputs[1]
    mask(x, ink_map)
    detections(x, boxes)
    dice(gt, ink_map)
"""


def _model(path: Path) -> Path:
    import torch

    class SegDet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.head = torch.nn.Conv2d(4, 1, 1)
            self.boxes = torch.nn.Linear(4, 18)

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = torch.relu(self.conv(image))
            return torch.sigmoid(self.head(h)), torch.sigmoid(self.boxes(h.mean((2, 3)))).reshape(-1, 3, 6)

    torch.manual_seed(0)
    torch.onnx.export(
        SegDet().eval(),
        (torch.zeros(1, 1, 8, 8),),
        str(path),
        input_names=["image"],
        output_names=["ink_map", "boxes"],
        dynamic_axes={"image": {0: "b"}, "ink_map": {0: "b"}, "boxes": {0: "b"}},
        dynamo=False,
    )
    return path


@pytest.fixture
def segdet(tmp_path: Path) -> Path:
    folder = tmp_path / "tl_segdet"
    folder.mkdir()
    (folder / "leap.yaml").write_text("entryFile: leap_integration.py\ninclude:\n  - leap_binder.py\n")
    (folder / "leap_binder.py").write_text(textwrap.dedent(BINDER))
    (folder / "leap_integration.py").write_text(textwrap.dedent(ENTRY))
    _model(folder / "model.onnx")
    return folder


@pytest.mark.slow
def test_visualizers_give_the_kinds_and_check_says_where_from(segdet, tmp_path):
    report = api.check(segdet, samples=2)
    assert report.valid, report.to_dict()
    kinds = {p.name: (p.kind, p.declared, p.note) for p in report.predictions}
    # the (3, 6) box rows would be inferred as 'dense' from their shape; the ImageWithBBox visualizer says boxes
    assert kinds["boxes"] == ("boxes", False, "from the ImageWithBBox visualizer 'detections'")
    assert kinds["ink_map"] == ("dense", False, "from the ImageMask visualizer 'mask'")
    line = _predictions_line([p.to_dict() for p in report.predictions])
    assert "boxes: boxes (inferred, from the ImageWithBBox visualizer 'detections'), one sample (3, 6)" in line
    run = api.evaluate(segdet, workspace=tmp_path / "ws", workers=0)
    samples = run.samples.to_pandas()
    assert (samples["pred_boxes_count"] == 3).all()  # no all-zero (padding) rows in sigmoid outputs
    assert samples["pred_ink_map_positive"].between(0, 1).all() and samples["loss_dice"].notna().all()
    assert {p.name: p.resolved_kind for p in run.typed_manifest.predictions} == {"ink_map": "dense", "boxes": "boxes"}


@pytest.mark.slow
def test_a_default_channel_dim_is_found_and_check_warns_tensorleap_would_not(segdet):
    entry = segdet / "leap_integration.py"
    entry.write_text(entry.read_text().replace('PredictionTypeHandler("ink_map", ["ink"], channel_dim=1)',
                                               'PredictionTypeHandler("ink_map", ["ink"])'))  # fmt: skip
    report = api.check(segdet, samples=2)
    assert report.valid, report.to_dict()
    ink_map = next(p for p in report.predictions if p.name == "ink_map")
    assert ink_map.class_axis == 0  # the one label is on axis 0 of (1, 8, 8), not on the last axis (8 values)
    assert "1 labels on axis 0" in _predictions_line([ink_map.to_dict()])
    (warning,) = [w for w in report.warnings if "ink_map" in w]
    assert "Tensorleap would read axis -1" in warning and "set channel_dim=1" in warning
    boxes = next(p for p in report.predictions if p.name == "boxes")
    assert boxes.class_axis is None and boxes.warning is None  # box rows: their labels name columns, not classes
