"""Explaining dense (per-pixel) outputs (issue 14, item 2) on a real third-party detector (PP-OCRv4 DB text
detection, ONNX via onnx2torch), a tiny Keras segmentation net (NHWC) and a tiny torch one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from leapscope.analysis.attribution import Box, explain
from leapscope.analysis.attribution.losses import differentiable_loss
from leapscope.exceptions import LeapscopeError
from leapscope.models import open_model


def _ppocr_path() -> Path | None:
    """The detector inside the rapidocr-onnxruntime wheel (installed --no-deps; importing it would pull opencv)."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "ch_PP-OCRv4_det_infer.onnx"


@pytest.fixture(scope="module")
def ppocr():
    path = _ppocr_path()
    assert path is not None and path.exists(), "the rapidocr-onnxruntime wheel (PP-OCRv4 detector): make install"
    return open_model(path)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    """A 64x64 page with two printed words ("Hello" in rows ~17-25, "world" in rows ~41-49), normalized as
    rapidocr feeds its detector (ImageNet mean / std), NCHW float32."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (64, 64), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    draw.text((4, 10), "Hello", fill="black", font=font)
    draw.text((4, 34), "world", fill="black", font=font)
    x = np.asarray(image, np.float32).transpose(2, 0, 1)[None] / 255.0
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    return ((x - mean) / std).astype(np.float32)


def test_ppocr_default_target_and_methods(ppocr, page):
    positive = int((ppocr.predict([page])[0] > 0.5).sum())
    assert positive > 100  # the detector finds the two words
    for method, settings in (("saliency", {}), ("gradcam", {}), ("occlusion", {"window": 16})):
        result = explain(ppocr, page, method=method, **settings)
        assert result.values.shape == page.shape and result.heatmap().shape == (1, 64, 64), method
        assert np.isfinite(result.values).all() and np.abs(result.values).sum() > 0, method
        assert result.descriptions == [f"sum of channel 0 over predicted-positive pixels ({positive} of 4096)"]
        assert result.target == [0]
        if method == "gradcam":
            # the deepest feature layer, by its canonical (ONNX node) name; not the 1-channel output head
            assert result.layer == "p2o.Relu.11"
            assert result.layer in {layer.name for layer in ppocr.layer_info() if layer.is_spatial}


def test_ppocr_a_region_moves_the_heat_to_its_word(ppocr, page):
    top = explain(ppocr, page, method="saliency", region=Box(0, 0, 64, 30))
    bottom = explain(ppocr, page, method="saliency", region=Box(0, 30, 64, 64))
    assert top.descriptions == ["sum of channel 0 inside box x 0..63, y 0..29 (1920 of 4096 pixels)"]

    def top_share(result):
        heat = np.abs(result.heatmap()[0])
        return heat[:30].sum() / heat.sum()

    assert top_share(top) > 0.5 > top_share(bottom)
    # the onnx2torch spelling of a layer is accepted and reported by its one canonical (ONNX node) name
    cam = explain(ppocr, page, method="layercam", layer="p2o/Concat/0")
    assert cam.layer == "p2o.Concat.0" and cam.heatmap().shape == (1, 64, 64)

    def dice(gt, p):  # numpy-style, batched, real (B, 1, H, W) shapes
        inter = (gt * p).sum(axis=(1, 2, 3))
        return 1 - 2 * inter / (gt.sum(axis=(1, 2, 3)) + p.sum(axis=(1, 2, 3)) + 1e-6)

    gt = (page[:, :1] < 0).astype(np.float32)  # the dark strokes
    result = explain(ppocr, page, method="saliency", target="loss", loss=dice, ground_truth=gt)
    assert result.descriptions == ["loss 'dice' against the ground truth"] and result.target == [-1]
    assert np.abs(result.values).sum() > 0


class _LeftTorch(torch.nn.Module):
    """(B, 3, 8, 8) -> (B, 2, 8, 8) softmax over {background, object}; only the left half depends on the input."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 2, 1)
        left = torch.zeros(1, 1, 8, 8)
        left[..., :4] = 1
        self.register_buffer("left", left)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x) * self.left + torch.tensor([3.0, -3.0]).view(1, 2, 1, 1) * (1 - self.left)
        return torch.softmax(z, dim=1)


@pytest.mark.parametrize(
    "method", ["saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "gradcam", "layercam", "occlusion"]
)
def test_every_method_keeps_a_left_half_model_left(method):
    model = open_model(_LeftTorch().eval())
    x = np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)
    settings = {"window": 1} if method == "occlusion" else ({"noise_samples": 4} if method == "smoothgrad" else {})
    result = explain(model, x, method=method, labels=["background", "object"], **settings)
    heat = np.abs(result.heatmap())
    assert heat.shape == (2, 8, 8) and heat[:, :, :4].sum() > 0 and result.target == [1, 1], method
    if method == "gradcam":  # one weight per channel (its mean gradient) times the whole map: not local
        assert result.layer == "conv"
    else:
        assert heat[:, :, 4:].sum() == 0, method


def test_torch_multiclass_dense_main_class_skips_background():
    model = open_model(_LeftTorch().eval())
    x = np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)
    result = explain(model, x, method="saliency", labels=["background", "object"])
    assert result.target == [1, 1]  # the main class is never the one labeled background
    assert result.descriptions[0].startswith("sum of channel 1 (object) over ")
    heat = np.abs(result.heatmap())
    assert heat[:, :, 4:].sum() == 0 and heat[:, :, :4].sum() > 0
    by_label = explain(model, x, method="saliency", target="background", labels=["background", "object"], region="all")
    assert by_label.target == [0, 0] and by_label.descriptions[0] == "sum of channel 0 (background) over all pixels"
    with pytest.raises(LeapscopeError, match="applies to dense"):
        explain(open_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 3))), x, region=Box(0, 0, 2, 2))
    left_mask = np.zeros((16, 16), np.float32)  # drawn at twice the output's size: resized to 8x8
    left_mask[:, :4] = 1
    masked = explain(model, x, method="saliency", region=left_mask)
    assert "inside the given mask (16 of 64 pixels)" in masked.descriptions[0]
    assert np.abs(masked.heatmap())[:, :, 2:].sum() == 0  # 1x1 convolutions: the heat stays in the mask
    with pytest.raises(LeapscopeError, match="the region mask has shape"):
        explain(model, x, method="saliency", region=np.ones((3, 5, 5)))


def test_gradient_method_on_a_numpy_only_loss_says_which_methods_apply():
    model = open_model(_LeftTorch().eval())
    x = np.random.default_rng(0).random((1, 3, 8, 8), dtype=np.float32)
    gt = np.zeros((1, 2, 8, 8), np.float32)
    gt[:, 1, :, :4] = 1

    def float_loss(g, p):  # python floats per sample: no gradient through them, whatever the array type
        return np.array([float(v) for v in (g * p).sum(axis=(1, 2, 3))])

    with pytest.raises(LeapscopeError, match=r"needs the gradient of loss 'float_loss'.*Methods that apply: occlusion"):
        explain(model, x, method="integrated_gradients", target="loss", loss=float_loss, ground_truth=gt)
    result = explain(model, x, method="occlusion", target="loss", loss=float_loss, ground_truth=gt, window=1)
    assert result.method == "occlusion" and np.abs(result.heatmap())[:, :, 4:].sum() == 0


def test_numpy_loss_written_with_np_functions_is_differentiated():
    """np.sum(..., axis=...), np.clip, np.log, np.mean: the obvious numpy dice / BCE get their exact gradient."""
    rng = np.random.default_rng(0)
    gt = (rng.random((2, 1, 6, 6)) > 0.5).astype(np.float32)
    pred = rng.uniform(0.05, 0.95, (2, 1, 6, 6)).astype(np.float32)

    def dice(g, p):
        eps = 1e-6
        inter = np.sum(g * p, axis=(1, 2, 3))
        return 1 - (2 * inter + eps) / (np.sum(g, axis=(1, 2, 3)) + np.sum(p, axis=(1, 2, 3)) + eps)

    def bce(g, p):
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return -np.mean(g * np.log(p) + (1 - g) * np.log(1 - p), axis=(1, 2, 3))

    g_t = torch.from_numpy(gt)
    for loss, reference in (
        (dice, lambda p: 1 - (2 * (g_t * p).sum((1, 2, 3)) + 1e-6) / (g_t.sum((1, 2, 3)) + p.sum((1, 2, 3)) + 1e-6)),
        (bce, lambda p: -(g_t * p.log() + (1 - g_t) * (1 - p).log()).mean((1, 2, 3))),
    ):
        fn, reason = differentiable_loss(loss, gt, pred)
        assert fn is not None, reason
        p1 = torch.from_numpy(pred.copy()).requires_grad_(True)
        p2 = torch.from_numpy(pred.copy()).requires_grad_(True)
        fn(g_t, p1).sum().backward()
        reference(p2).sum().backward()
        np.testing.assert_allclose(p1.grad.numpy(), p2.grad.numpy(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(loss(gt, pred), reference(torch.from_numpy(pred)).numpy(), rtol=1e-5)


def _keras_left_half():
    from leapscope.models._keras import import_keras

    keras = import_keras()
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(4, 1, activation="relu", name="features")(inputs)
    logits = keras.layers.Conv2D(1, 1, name="head")(features)
    left = np.zeros((1, 8, 8, 1), np.float32)
    left[:, :, :4] = 1
    masked = keras.layers.Multiply(name="left_only")([logits, keras.ops.convert_to_tensor(left)])
    outputs = keras.layers.Activation("sigmoid", name="mask")(masked)
    return keras.Model(inputs, outputs)


def test_keras_dense_model_nhwc():
    model = open_model(_keras_left_half())
    x = np.random.default_rng(1).random((2, 8, 8, 3), dtype=np.float32)
    result = explain(model, x, method="saliency", region="all")
    heat = np.abs(result.heatmap())
    assert heat.shape == (2, 8, 8) and heat[:, :, 4:].sum() == 0 and heat[:, :, :4].sum() > 0
    assert result.descriptions[0] == "sum of channel 0 over all pixels"
    cam = explain(model, x, method="gradcam")
    assert cam.layer == "features" and cam.heatmap().shape == (2, 8, 8)
    assert model.default_latent_layer() == "features"  # no Dense layer: the deepest multi-channel feature map


def test_deletion_curve_follows_the_dense_score():
    from leapscope.analysis.attribution import deletion_auc

    model = open_model(_LeftTorch().eval())
    x = np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)
    result = explain(model, x, method="saliency", labels=["background", "object"], region="all")
    auc = deletion_auc(model, x, result, steps=4)
    # the score is the object channel's sum over all 64 pixels: at most 64 at every step
    assert auc.shape == (2,) and np.all((auc > 0) & (auc < 64))
    # the curve starts at the explained score of the input and ends at that of an all-baseline input
    from leapscope.analysis.attribution.faithfulness import _curve

    curve = _curve(model, x, result, steps=4, insert=False, baseline=0.0, out_index=0)
    np.testing.assert_allclose(curve[:, 0], model.predict([x])[0][:, 1].sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(curve[:, -1], model.predict([np.zeros_like(x)])[0][:, 1].sum(axis=(1, 2)), rtol=1e-5)
    gt = np.zeros((2, 2, 8, 8), np.float32)
    loss = explain(model, x, method="saliency", target="loss", loss="binary_cross_entropy", ground_truth=gt)
    with pytest.raises(LeapscopeError, match="explains a loss"):
        deletion_auc(model, x, loss, steps=4)


def test_gradcam_default_layer_skips_a_two_class_softmax_head():
    """conv(3->8) relu conv(8->2) softmax: the 2-channel logits and softmax maps are the output again; the
    deepest feature layer is the ReLU."""
    from leapscope.analysis.attribution import default_cam_layer

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1), torch.nn.Softmax(dim=1)
    ).eval()
    model = open_model(net)
    x = np.random.default_rng(0).random((1, 3, 8, 8), dtype=np.float32)
    assert default_cam_layer(model, [x]) == "1"
    result = explain(model, x, method="gradcam", labels=["background", "fg"])
    assert result.layer == "1" and result.heatmap().shape == (1, 8, 8)


def test_box_region_is_clipped_to_the_map_and_an_outside_box_is_an_error():
    model = open_model(_LeftTorch().eval())
    x = np.random.default_rng(0).random((1, 3, 8, 8), dtype=np.float32)
    result = explain(model, x, method="saliency", target=1, region=Box(6, 0, 200, 2))
    assert "box x 6..7, y 0..1 (4 of 64 pixels)" in result.descriptions[0]
    with pytest.raises(LeapscopeError, match=r"lies outside the output map \(8 wide, 8 high\)"):
        explain(model, x, method="saliency", region=Box(10, 10, 20, 20))
