"""The class axis of a per-pixel classifier is found from its labels: a channel-first (B, 3, H, W) torch
segmentation model with ``ls.Prediction("mask", labels=[3 names])`` and no ``channel_dim`` passes the
integration test and evaluates to the right per-pixel summaries; a wrong count names the shape."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from leapscope import api
from leapscope.exceptions import ValidationError
from leapscope.sdk._parts import class_axis

SEGMENTATION = '''
import numpy as np
import torch
import leapscope as ls
from sklearn.datasets import load_digits

@ls.preprocess
def subsets():
    x = (load_digits().images[:60] / 16.0).astype(np.float32)  # (60, 8, 8) in [0, 1]
    return [ls.Subset("training", list(range(40)), x), ls.Subset("validation", list(range(40, 60)), x)]

@ls.input_encoder("image", channel_dim=0)
def image(sample_id, subset):
    return subset.data[sample_id][None]  # (1, 8, 8)

@ls.gt_encoder("classes")
def classes(sample_id, subset):
    """(3, 8, 8) one-hot: background (< 0.25), faint (< 0.75), ink."""
    level = np.digitize(subset.data[sample_id], [0.25, 0.75])
    return np.eye(3, dtype=np.float32)[level].transpose(2, 0, 1)

@ls.metadata("ink")
def ink(sample_id, subset):
    return float((subset.data[sample_id] > 0.75).mean())

@ls.load_model(predictions=[ls.Prediction("mask", labels=["background", "faint", "ink"]{extra})])
def model():
    # a fixed 1x1 conv: scores (9 - 40x, 0, 40x - 29) pick background below 0.225, ink above 0.725
    conv = torch.nn.Conv2d(1, 3, 1)
    with torch.no_grad():
        conv.weight[:] = torch.tensor([-40.0, 0.0, 40.0]).view(3, 1, 1, 1)
        conv.bias[:] = torch.tensor([9.0, 0.0, -29.0])
    return torch.nn.Sequential(conv, torch.nn.Softmax(dim=1)).eval()

@ls.metric("pixel_accuracy")
def pixel_accuracy(classes, mask):
    return (classes.argmax(1) == mask.argmax(1)).reshape(len(mask), -1).mean(1)

@ls.integration_test
def test(sample_id, subset):
    pixel_accuracy(classes(sample_id, subset), model()(image(sample_id, subset)))
'''


def _write(tmp_path: Path, extra: str = "") -> Path:
    folder = tmp_path / "seg"
    folder.mkdir()
    (folder / "integration.py").write_text(textwrap.dedent(SEGMENTATION).replace("{extra}", extra))
    return folder


@pytest.mark.parametrize(
    ("shape", "labels", "declared", "axis"),
    [
        ((3, 64, 64), ["bg", "a", "b"], None, 0),  # NCHW
        ((64, 64, 3), ["bg", "a", "b"], None, -1),  # NHWC
        ((3, 3, 3), ["bg", "a", "b"], None, -1),  # every axis fits: the last
        ((10,), list("abcdefghij"), None, -1),
        ((12, 5), list("abcde"), None, -1),  # per-token scores
        ((5, 12), list("abcde"), None, 0),
        ((3, 64, 64), ["bg", "a", "b"], 2, 2),  # a declared axis always wins
        ((4, 64, 64), ["bg", "a", "b"], None, -1),  # none fits: -1, and the labels check names it
        ((1, 32, 32), None, None, 0),  # unlabeled channel-first map
        ((32, 32, 1), None, None, -1),
        ((None, 64, 3), ["bg", "a", "b"], None, -1),  # an ONNX dynamic axis never matches
    ],
)
def test_class_axis(shape, labels, declared, axis):
    assert class_axis(shape, labels, declared) == axis


def test_a_channel_first_segmentation_model_needs_no_channel_dim(tmp_path):
    folder = _write(tmp_path)
    report = api.check(folder, samples=3)
    assert report.valid, report.to_dict()
    assert {k.name: k.kind for k in report.predictions} == {"mask": "dense"}
    assert [(k.class_axis, k.warning) for k in report.predictions] == [(0, None)]
    run = api.evaluate(folder, workspace=tmp_path / "ws", workers=0)
    assert run.typed_manifest.predictions[0].extra["channel_dim"] == 0  # the axis found, not None
    df = run.to_pandas()
    x = (__import__("sklearn.datasets").datasets.load_digits().images[:60] / 16.0).astype(np.float32)
    ids = df.sample_id.astype(int).to_numpy()
    # positive = the arg-max class is not channel 0 (background): here every pixel at or above 0.25
    expected = (x[ids] >= 0.25).reshape(len(ids), -1).mean(1)
    np.testing.assert_allclose(df["pred_mask_positive"].to_numpy(), expected, atol=1e-6)
    assert df["metric_pixel_accuracy"].min() == 1.0  # pixels are k / 16: the model agrees with the mask


def test_labels_no_axis_fits_name_the_shape(tmp_path):
    folder = _write(tmp_path)
    source = folder / "integration.py"
    source.write_text(source.read_text().replace('labels=["background", "faint", "ink"]', 'labels=["bg", "fg"]'))
    report = api.check(folder, samples=2)
    assert not report.valid
    with pytest.raises(ValidationError, match=r"no axis of one sample \(shape \(3, 8, 8\)\) has 2 values"):
        api.evaluate(folder, workspace=tmp_path / "ws", workers=0)


def test_a_declared_channel_dim_is_checked_as_declared(tmp_path):
    folder = _write(tmp_path, extra=", channel_dim=-1")
    error = api.check(folder, samples=1).part("model").error or {}
    assert "8 values on the class axis (channel_dim=-1)" in error["problem"]
    assert error["fix"] == "set channel_dim=0 (the axis with 3 values) or leave it out"
    with pytest.raises(ValidationError, match=r"8 values on the class axis \(channel_dim=-1\)"):
        api.evaluate(folder, workspace=tmp_path / "ws", workers=0)
