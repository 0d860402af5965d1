"""A small MLP on scikit-learn's breast-cancer biopsies: tabular inputs, feature-attribution bars."""

from __future__ import annotations

import numpy as np

import leapscope as ls

import data

X, Y, FEATURES, ROWS, RAW = data.load()
LABELS = ["malignant", "benign"]


@ls.preprocess
def subsets() -> list[ls.Subset]:
    return [ls.Subset(name, [int(r) for r in idx]) for name, idx in ROWS.items()]


@ls.input_encoder("features", channel_dim=None)
def features(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return X[sample_id]  # (30,) standardised


@ls.gt_encoder("diagnosis")
def diagnosis(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return np.eye(2, dtype=np.float32)[Y[sample_id]]


@ls.metadata("tumor")
def tumor(sample_id: int, subset: ls.Subset) -> dict:
    radius = float(RAW[sample_id, FEATURES.index("mean radius")])
    return {
        "radius": radius,
        "size": "large" if radius > 17 else ("small" if radius < 12 else "medium"),
        "texture": float(RAW[sample_id, FEATURES.index("mean texture")]),
    }


@ls.visualizer("features", ls.VisualizerType.HORIZONTAL_BAR)
def show_features(features: np.ndarray) -> ls.HorizontalBar:
    return ls.HorizontalBar(features, FEATURES)


@ls.visualizer("diagnosis", ls.VisualizerType.HORIZONTAL_BAR)
def show_diagnosis(diagnosis: np.ndarray, truth: np.ndarray) -> ls.HorizontalBar:
    return ls.HorizontalBar(diagnosis, LABELS, gt=truth)


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy")


@ls.load_model(predictions=[ls.Prediction("diagnosis", labels=LABELS)])
def model() -> str:
    return "model.onnx"


@ls.integration_test
def test(sample_id: int, subset: ls.Subset) -> None:
    x = features(sample_id, subset)
    y = diagnosis(sample_id, subset)
    p = model()(x)
    cross_entropy(y, p)
    accuracy(y, p)
    show_features(x)
    show_diagnosis(p, y)
