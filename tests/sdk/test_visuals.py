from __future__ import annotations

import numpy as np
import pytest

import leapscope as ls
from leapscope.exceptions import ValidationError


def test_image_unit_and_byte_floats_render_the_same():
    unit = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 2, 3)
    byte = unit * 255
    assert np.array_equal(ls.Image(unit).to_uint8(), ls.Image(byte).to_uint8())
    assert ls.Image(unit).to_uint8().dtype == np.uint8
    assert ls.Image(unit).to_uint8()[1, 1, 2] == 255


def test_image_scale_is_explicit_for_dark_byte_images():
    dark = np.full((2, 2, 1), 0.8, dtype=np.float32)  # 0.8 of 255, not 80 %
    assert ls.Image(dark, scale="byte").to_uint8()[0, 0, 0] == 1
    assert ls.Image(dark).to_uint8()[0, 0, 0] == 204


def test_image_gray_2d_gets_a_channel_axis():
    assert ls.Image(np.zeros((4, 5), np.uint8)).data.shape == (4, 5, 1)


def test_image_channels_first_is_refused_with_a_fix():
    with pytest.raises(
        ValidationError,
        match=r"function 'Image', argument 'data'[\s\S]*\(H, W, 1\)[\s\S]*shape \(3, 8, 8\)[\s\S]*np.transpose",
    ):
        ls.Image(np.zeros((3, 8, 8), np.float32))


def test_image_nan_is_refused():
    with pytest.raises(ValidationError, match="NaN"):
        ls.Image(np.full((2, 2, 1), np.nan, np.float32))


def test_horizontal_bar_checks_labels_and_gt():
    bar = ls.HorizontalBar(np.array([0.2, 0.8]), ["a", "b"], gt=np.array([0, 1]))
    assert bar.body.dtype == np.float32
    with pytest.raises(ValidationError, match="2 labels"):
        ls.HorizontalBar(np.array([0.2, 0.8]), ["a"])
    with pytest.raises(ValidationError, match="gt and body differ"):
        ls.HorizontalBar(np.array([0.2, 0.8]), ["a", "b"], gt=np.zeros(3))


def test_text_heatmap_one_per_token():
    assert ls.Text(["a", "b"], heatmap=np.array([0.1, 0.9])).heatmap.shape == (2,)
    with pytest.raises(ValidationError, match="one value per token"):
        ls.Text(["a", "b"], heatmap=np.array([0.1]))
    with pytest.raises(ValidationError, match="list of str"):
        ls.Text("a b")


def test_masks_boxes_heatmaps_audio_video():
    img = np.zeros((4, 4, 3), np.uint8)
    ls.ImageMask(img, np.zeros((4, 4), np.int32), ["bg"])
    with pytest.raises(ValidationError, match="integer class indices"):
        ls.ImageMask(img, np.zeros((4, 4), np.float32), ["bg"])
    ls.TextMask(["a"], np.array([0]), ["O"])
    ls.ImageWithBoxes(img, [ls.BoundingBox(0.5, 0.5, 0.2, 0.2, 0.9, "cat")])
    with pytest.raises(ValidationError, match=r"argument 'x'[\s\S]*divide pixel coordinates"):
        ls.BoundingBox(12, 0.5, 0.2, 0.2)
    with pytest.raises(ValidationError, match="upsample the heatmap"):
        ls.ImageWithHeatmap(img, np.zeros((2, 2)))
    ls.ImageWithHeatmap(img, np.zeros((4, 4)))
    ls.Graph(np.arange(5))
    ls.Audio(np.zeros(100), 16000)
    with pytest.raises(ValidationError, match="sample_rate"):
        ls.Audio(np.zeros(100), 0)
    ls.Video(np.zeros((2, 4, 4, 3), np.uint8), fps=10)


def test_every_visualizer_type_maps_to_a_class():
    for vtype in ls.VisualizerType:
        assert vtype.result_class.type is vtype
