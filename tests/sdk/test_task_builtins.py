"""Per-task built-in metrics and losses (dense masks, regression) on hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

import leapscope as ls
from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk import _builtins as b

# one sample, a 2x2 mask: G = {0, 1}, P (> 0.5) = {0, 2}; |G n P| = 1, |G u P| = 3
GT = np.array([[[[1.0, 1.0], [0.0, 0.0]]]], np.float32)  # (1, 1, 2, 2)
PRED = np.array([[[[0.9, 0.2], [0.8, 0.1]]]], np.float32)


def test_binary_dice_and_iou():
    assert b.dice(GT, PRED).tolist() == pytest.approx([2 * 1 / (2 + 2)])
    assert b.iou(GT, PRED).tolist() == pytest.approx([1 / 3])
    assert b.pixel_accuracy(GT, PRED).tolist() == pytest.approx([0.5])  # positions 0 and 3 agree


def test_empty_masks_are_perfect_and_disjoint_ones_zero():
    empty = np.zeros((2, 1, 2, 2), np.float32)
    full = np.ones((2, 1, 2, 2), np.float32)
    assert b.dice(empty, empty).tolist() == [1.0, 1.0]
    assert b.iou(empty, full).tolist() == [0.0, 0.0]


def test_multiclass_dice_is_the_mean_over_present_classes():
    # (1, 3, 1, 4): gt classes [0, 1, 1, 2], predicted classes [0, 1, 2, 2]
    gt = np.eye(3, dtype=np.float32)[[0, 1, 1, 2]].T[None, :, None, :]
    pred = np.eye(3, dtype=np.float32)[[0, 1, 2, 2]].T[None, :, None, :] * 0.8
    # class 0: 2*1/(1+1) = 1; class 1: 2*1/(2+1) = 2/3; class 2: 2*1/(1+2) = 2/3
    assert b.dice(gt, pred, channel_dim=1).tolist() == pytest.approx([(1 + 2 / 3 + 2 / 3) / 3])
    # IoU: 1, 1/2, 1/2
    assert b.iou(gt, pred, channel_dim=1).tolist() == pytest.approx([(1 + 0.5 + 0.5) / 3])
    metric = ls.builtin_metric("dice", channel_dim=1, alias="mdice")
    assert metric.name == "mdice" and metric.direction == "higher"
    assert metric.function(gt, pred).tolist() == pytest.approx([(1 + 2 / 3 + 2 / 3) / 3])


def test_dice_loss_and_focal_loss_formulas():
    g = np.array([[1.0, 0.0]], np.float32)
    p = np.array([[0.5, 0.5]], np.float32)
    # 1 - (2 * 0.5 + 1) / (1 + 1 + 1) = 1/3
    assert b.dice_loss(g, p).tolist() == pytest.approx([1 / 3])
    # p_t = 0.5 at both positions: -(0.5 ** 2 * log 0.5) each
    assert b.focal_loss(g, p).tolist() == pytest.approx([0.25 * np.log(2)], rel=1e-5)
    assert ls.builtin_loss("dice_loss").name == "dice_loss"


def test_dice_loss_has_the_same_differentiable_torch_formula():
    import torch

    from leapscope.analysis.attribution.losses import torch_loss

    rng = np.random.default_rng(0)
    g = (rng.random((3, 1, 4, 4)) > 0.5).astype(np.float32)
    p = rng.random((3, 1, 4, 4)).astype(np.float32)
    got = torch_loss("dice_loss", torch.tensor(p), torch.tensor(g)).numpy()
    np.testing.assert_allclose(got, b.dice_loss(g, p), rtol=1e-5)


def test_regression_metrics():
    a, c = np.array([[1.0, 2.0]]), np.array([[2.0, 4.0]])
    assert b.root_mean_squared_error(a, c).tolist() == pytest.approx([np.sqrt(2.5)])
    metric = ls.builtin_metric("root_mean_squared_error")
    assert metric.direction == "lower"


def test_mask_options_only_for_mask_metrics():
    with pytest.raises(IntegrationDefinitionError, match="channel_dim/threshold apply to dice, iou, pixel_accuracy"):
        ls.builtin_metric("accuracy", channel_dim=1)


def test_multilabel_f1_matches_scikit_learn_samples_f1():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    gt = (rng.random((64, 5)) > 0.6).astype(np.float32)
    gt[0] = 0  # both empty on sample 0: F1 1.0 (zero_division=1.0)
    scores = rng.random((64, 5)).astype(np.float32)
    scores[0] = 0.1
    metric = ls.builtin_metric("f1")
    values = metric.function(gt, scores)
    assert values.shape == (64,) and values[0] == 1.0
    expected = f1_score(gt.astype(int), (scores > 0.5).astype(int), average="samples", zero_division=1.0)
    assert np.isclose(values.mean(), expected, atol=1e-6)
    logits = np.log(scores / (1 - scores))  # same decisions above 0 for logits
    assert np.allclose(ls.builtin_metric("f1", threshold=0.0).function(gt, logits), values)
    assert metric.direction == "higher"


def test_regression_metrics_answer_to_their_short_names() -> None:
    gt = np.array([[1.0], [2.0], [4.0]], np.float32)
    prediction = np.array([[1.0], [4.0], [1.0]], np.float32)
    for short, expected in (("mse", [0.0, 4.0, 9.0]), ("mae", [0.0, 2.0, 3.0]), ("rmse", [0.0, 2.0, 3.0])):
        metric = ls.builtin_metric(short)
        assert metric.name == short  # stored as metric_<the name written>
        np.testing.assert_allclose(np.asarray(metric.function(gt, prediction)).reshape(-1), expected)


@pytest.mark.parametrize("channels_last", [False, True])
def test_cross_entropy_of_a_map_is_per_pixel_like_torch(channels_last):
    """A (B, C, H, W) / (B, H, W, C) map: the mean of each pixel's cross-entropy, never a softmax across pixels."""
    import torch

    from leapscope.analysis.attribution.losses import torch_loss

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    classes = rng.integers(0, 3, size=(2, 4, 5))
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(classes), reduction="none")
    expected = expected.mean((1, 2)).numpy()
    onehot = np.eye(3, dtype=np.float32)[classes].transpose(0, 3, 1, 2)
    probs = torch.softmax(torch.tensor(logits), 1).numpy()
    if channels_last:
        logits, onehot, probs = (a.transpose(0, 2, 3, 1) for a in (logits, onehot, probs))
    np.testing.assert_allclose(ls.builtin_loss("cross_entropy_from_logits")(onehot, logits), expected, rtol=1e-5)
    np.testing.assert_allclose(ls.builtin_loss("cross_entropy")(onehot, probs), expected, rtol=1e-5)
    differentiable = torch_loss("cross_entropy_from_logits", torch.tensor(logits), torch.tensor(onehot))
    np.testing.assert_allclose(differentiable.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "indices"])
def test_mask_metrics_find_the_class_axis_of_a_multiclass_map(layout):
    """A (B, 3, H, W) softmax map is per-pixel classes without channel_dim (before: an element-wise binary mask
    over the one-hot channels, pixel accuracy 0.97 where the true one is 0.96), as with channel_dim=1."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, size=(2, 8, 8))
    guess = np.where(rng.random((2, 8, 8)) < 0.8, truth, (truth + 1) % 3)
    onehot = np.eye(3, dtype=np.float32)[truth].transpose(0, 3, 1, 2)
    probs = np.eye(3, dtype=np.float32)[guess].transpose(0, 3, 1, 2) * 0.9 + 0.1 / 3
    expected = {name: getattr(b, name)(onehot, probs, channel_dim=1) for name in ("dice", "iou", "pixel_accuracy")}
    np.testing.assert_allclose(expected["pixel_accuracy"], (truth == guess).reshape(2, -1).mean(1), rtol=1e-6)
    gt, pred = onehot, probs
    if layout == "nhwc":
        gt, pred = onehot.transpose(0, 2, 3, 1), probs.transpose(0, 2, 3, 1)
    elif layout == "indices":
        gt = truth
    for name, want in expected.items():
        np.testing.assert_allclose(ls.builtin_metric(name)(gt, pred), want, rtol=1e-6, err_msg=f"{name} {layout}")
    binary = np.stack([truth > 0] * 1, 1).astype(np.float32)  # (B, 1, H, W): still binary
    assert b._mask_axis(binary, None) is None and b._mask_axis(probs, None) == 1
    assert b._mask_axis(probs[:, 0], None) is None  # (B, H, W)
