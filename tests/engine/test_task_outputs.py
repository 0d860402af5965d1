"""evaluate follows each prediction's kind: dense maps and regression values get summaries, not argmax labels.

Known answers: the dense model is sigmoid(8 x - 4) per pixel (positive iff x > 0.5, the ground-truth
mask), the regression model is a least-squares fit recomputed here with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits

from leapscope.engine.scoring import KindInfo, summary_columns


def _images(n: int = 96) -> np.ndarray:
    return np.kron(load_digits().images[:n] / 16.0, np.ones((2, 2))).astype(np.float32)


def test_dense_run_has_summaries_and_no_labels(dense_run):
    columns = dense_run.samples.column_names
    assert [p.kind for p in dense_run.typed_manifest.predictions] == ["dense"]
    assert not [c for c in columns if c.endswith("_label") or c.endswith("_score")]  # no 256-class argmax
    df = dense_run.to_pandas()
    x = _images()[df["row"].to_numpy()]
    expected = (x > 0.5).reshape(len(x), -1).mean(1)
    np.testing.assert_allclose(df["pred_text_positive"], expected)
    np.testing.assert_allclose(df["gt_mask_positive"], expected)
    p = 1 / (1 + np.exp(-(8 * x - 4)))
    np.testing.assert_allclose(df["pred_text_mean"], p.reshape(len(p), -1).mean(1), rtol=1e-5)
    assert (df["metric_dice"] == 1.0).all() and (df["metric_iou"] == 1.0).all()
    g = (x > 0.5).reshape(len(x), -1)
    q = p.reshape(len(p), -1)
    dice_loss = 1 - (2 * (g * q).sum(1) + 1) / (g.sum(1) + q.sum(1) + 1)
    np.testing.assert_allclose(df["loss_dice_loss"], dice_loss, rtol=1e-4)


def test_regression_run_has_value_columns(regression_run):
    x, y = load_diabetes(return_X_y=True)
    w = np.linalg.lstsq(np.c_[x[:300], np.ones(300)], y[:300], rcond=None)[0]
    df = regression_run.to_pandas()
    rows = df["row"].to_numpy()
    expected = (np.c_[x, np.ones(len(x))] @ w)[rows]
    assert [p.kind for p in regression_run.typed_manifest.predictions] == ["regression"]
    np.testing.assert_allclose(df["pred_progression_value"], expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(df["gt_target_value"], y[rows])
    np.testing.assert_allclose(df["loss_mean_squared_error"], (expected - y[rows]) ** 2, rtol=1e-3, atol=1e-2)
    assert not [c for c in df.columns if c.endswith("_label")]


def test_multilabel_and_boxes_summaries():
    scores = np.array([[0.9, 0.1, 0.7], [0.2, 0.3, 0.4]])
    out = summary_columns("pred_tags", KindInfo("multilabel", ["cat", "dog", "sun"]), scores)
    assert out["pred_tags_label"].tolist() == ["cat,sun", ""]
    logits = np.array([[2.0, -1.0, -3.0]])  # outside [0, 1]: positive above 0
    assert summary_columns("pred_tags", KindInfo("multilabel"), logits)["pred_tags_label"].tolist() == ["0"]
    boxes = np.zeros((2, 5, 6))
    boxes[0, :3] = 1.0  # 3 boxes, then padding
    assert summary_columns("pred_boxes", KindInfo("boxes"), boxes)["pred_boxes_count"].tolist() == [3.0, 0.0]
    values = np.arange(12.0).reshape(2, 6)  # more values than MAX_VALUE_COLUMNS: the first 4
    keys = sorted(summary_columns("pred_v", KindInfo("regression"), values))
    assert keys == ["pred_v_value_0", "pred_v_value_1", "pred_v_value_2", "pred_v_value_3"]


@pytest.mark.parametrize("channel_dim", [0, -1])
def test_dense_summary_of_a_multiclass_map(channel_dim):
    # 1 sample, 3 classes over 4 positions; argmax classes [0, 1, 2, 1]: 3 of 4 positions not background
    scores = np.eye(3)[[0, 1, 2, 1]]  # (4, 3): positions x classes
    values = (scores.T if channel_dim == 0 else scores)[None]
    out = summary_columns("pred_seg", KindInfo("dense", ["bg", "a", "b"], channel_dim), values)
    assert out["pred_seg_positive"].tolist() == [0.75]
    assert out["pred_seg_mean"].tolist() == [0.5]  # channel 1 is on at 2 of 4 positions
