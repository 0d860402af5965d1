from __future__ import annotations

import numpy as np
import pytest

import leapscope as ls
from leapscope.exceptions import ValidationError
from leapscope.sdk._visuals import MASK_PALETTE


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


def test_image_mask_background_class_is_untinted_and_others_blend_by_alpha():
    img = np.full((2, 2, 1), 100, np.uint8)  # gray: repeated to RGB
    mask = np.array([[0, 1], [1, 2]], np.int32)
    m = ls.ImageMask(img, mask, ["background", "text", "logo"], colors=["#000000", "#ff0000", (0, 0, 200)], alpha=0.5)
    out = m.overlay()
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [100, 100, 100]  # background: the image itself, no tint
    assert out[0, 1].tolist() == [178, 50, 50]  # 0.5 * 100 + 0.5 * (255, 0, 0), rounded half to even
    assert out[1, 1].tolist() == [50, 50, 150]
    every = ls.ImageMask(
        img, mask, ["background", "text", "logo"], background=None, colors=["#000000", "#ff0000", "#0000c8"]
    )
    assert every.overlay()[0, 0].tolist() == [50, 50, 50]  # background=None tints class 0 as well


def test_image_mask_legend_names_colours_counts_and_background_by_label():
    mask = np.array([[0, 0, 1], [2, 2, 2]], np.int32)
    m = ls.ImageMask(np.zeros((2, 3, 3), np.float32), mask, ["cat", "sky", "grass"], background="sky")
    legend = m.legend()
    assert [e["label"] for e in legend] == ["cat", "sky", "grass"]
    assert [e["pixels"] for e in legend] == [2, 1, 3]
    assert [e["background"] for e in legend] == [False, True, False]
    assert legend[1]["color"] is None  # the background is drawn untinted
    assert legend[0]["color"] == "#{:02x}{:02x}{:02x}".format(*MASK_PALETTE[0])
    assert legend[2]["color"] == "#{:02x}{:02x}{:02x}".format(*MASK_PALETTE[2])
    assert m.background == 1


def test_image_mask_refuses_unlabelled_indices_and_bad_options():
    img = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(ValidationError, match=r"class index without a label[\s\S]*indices in \[0, 2\)[\s\S]*\[0, 5\]"):
        ls.ImageMask(img, np.array([[0, 5], [1, 1]], np.int32), ["bg", "text"])
    with pytest.raises(ValidationError, match=r"argument 'background'[\s\S]*'road'"):
        ls.ImageMask(img, np.zeros((2, 2), np.int32), ["bg", "text"], background="road")
    with pytest.raises(ValidationError, match=r"argument 'background'[\s\S]*not a class index"):
        ls.ImageMask(img, np.zeros((2, 2), np.int32), ["bg", "text"], background=2)
    with pytest.raises(ValidationError, match=r"argument 'colors'[\s\S]*2 colours"):
        ls.ImageMask(img, np.zeros((2, 2), np.int32), ["bg", "text"], colors=["#ffffff"])
    with pytest.raises(ValidationError, match=r"argument 'colors'[\s\S]*not a colour"):
        ls.ImageMask(img, np.zeros((2, 2), np.int32), ["bg", "text"], colors=["white", "#ff0000"])
    with pytest.raises(ValidationError, match=r"argument 'alpha'"):
        ls.ImageMask(img, np.zeros((2, 2), np.int32), ["bg", "text"], alpha=0)


def test_image_mask_renders_untinted_background_and_a_legend_strip():
    import io

    from PIL import Image as PILImage

    from leapscope.report import visual_to_payload

    img = np.full((16, 16, 3), 90, np.uint8)
    mask = np.zeros((16, 16), np.int32)
    mask[:8] = 1
    kind, png = visual_to_payload(ls.ImageMask(img, mask, ["background", "text"], colors=["#000000", "#00ff00"]))
    assert kind == "image/png"
    out = np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB"))
    # 16 px upscaled x10 to 160, plus a 2-row legend strip of 14 px each + 4 px
    assert out.shape == (160 + 2 * 14 + 4, 160, 3)
    assert out[150, 80].tolist() == [90, 90, 90]  # background rows: the image, untinted
    assert out[10, 80].tolist() == [45, 172, 45]  # text rows: 0.5 * 90 + 0.5 * (0, 255, 0), rounded
    swatch = out[160 + 2 + 14 + 6, 9]  # the second legend row's swatch is the text colour
    assert swatch.tolist() == [0, 255, 0]


def test_heatmap_limits_ignore_a_few_extreme_pixels() -> None:
    from leapscope.sdk._visuals import heatmap_limits

    heat = np.linspace(0.0, 1.0, 10_000).reshape(100, 100)
    heat[50, 50] = 1e6  # one hot pixel (Integrated Gradients on a saturated output)
    low, high = heatmap_limits(heat)
    assert 0.0 <= low < 0.02 and 0.98 < high <= 1.0
    assert heatmap_limits(np.full((4, 4), 3.0)) == (3.0, 4.0)
    assert heatmap_limits(np.array([np.nan, np.inf])) == (0.0, 1.0)
