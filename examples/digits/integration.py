"""leapscope integration for the digits CNN on scikit-learn's handwritten digits."""

from __future__ import annotations

import numpy as np

import leapscope as ls

import data  # the example's own data module (the integration folder is importable)

LABELS = [str(d) for d in range(10)]


@ls.preprocess
def subsets() -> list[ls.Subset]:
    images, labels, rows = data.load()
    return [
        ls.Subset(state, sample_ids=[int(r) for r in idx], data={"images": images, "labels": labels})
        for state, idx in rows.items()
    ]


@ls.input_encoder("image", channel_dim=-1)
def image(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return subset.data["images"][sample_id]  # (8, 8, 1) float32 in [0, 1]


@ls.gt_encoder("label")
def label(sample_id: int, subset: ls.Subset) -> np.ndarray:
    onehot = np.zeros(10, dtype=np.float32)
    onehot[subset.data["labels"][sample_id]] = 1.0
    return onehot


@ls.metadata("digit")
def digit(sample_id: int, subset: ls.Subset) -> dict:
    value = int(subset.data["labels"][sample_id])
    return {"label": str(value), "parity": "even" if value % 2 == 0 else "odd"}


@ls.metadata("stroke_density")
def stroke_density(sample_id: int, subset: ls.Subset) -> float:
    """Fraction of the 64 pixels that are inked (> 0.5)."""
    return float((subset.data["images"][sample_id] > 0.5).mean())


@ls.metadata("brightness")
def brightness(sample_id: int, subset: ls.Subset) -> float:
    """Mean pixel intensity in [0, 1]."""
    return float(subset.data["images"][sample_id].mean())


@ls.visualizer("image", ls.VisualizerType.IMAGE)
def show_image(image: np.ndarray) -> ls.Image:
    return ls.Image(image, scale="unit")


@ls.visualizer("prediction", ls.VisualizerType.HORIZONTAL_BAR)
def show_prediction(classes: np.ndarray) -> ls.HorizontalBar:
    return ls.HorizontalBar(classes, labels=LABELS)


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy")


@ls.metric("confidence", direction="higher")
def confidence(classes: np.ndarray) -> np.ndarray:
    """Probability of the predicted class."""
    return classes.max(axis=1)


@ls.load_model(predictions=[ls.Prediction("classes", labels=LABELS)])
def model() -> str:
    return "model.onnx"


@ls.integration_test
def test(sample_id: int, subset: ls.Subset) -> None:
    x = image(sample_id, subset)
    y = label(sample_id, subset)
    probs = model()(x)
    cross_entropy(y, probs)
    accuracy(y, probs)
    confidence(probs)
    show_image(x)
    show_prediction(probs)
