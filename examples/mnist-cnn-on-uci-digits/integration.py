"""A pretrained MNIST CNN (from the digit-recognizer-py wheel) on scikit-learn's UCI digits.

UCI digits are 8x8 scans of other writers: upscaled to the 28x28 the model was
trained on, they are a real domain shift. The insights show where it breaks.
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from sklearn.datasets import load_digits

import leapscope as ls

import pretrained

LABELS = [str(d) for d in range(10)]
MEAN, STD = 0.1307, 0.3081  # the package's MNIST normalisation


def _upscale(image8: np.ndarray) -> np.ndarray:
    """MNIST framing: the digit resized (PIL bilinear) into a 20x20 box centred in 28x28, values in [0, 1]."""
    pil = PILImage.fromarray((image8 / 16.0 * 255).astype(np.uint8), mode="L").resize(
        (20, 20), PILImage.Resampling.BILINEAR
    )
    out = np.zeros((28, 28), dtype=np.float32)
    out[4:24, 4:24] = np.asarray(pil, dtype=np.float32) / 255.0
    return out


@ls.preprocess
def subsets() -> list[ls.Subset]:
    digits = load_digits()
    images = np.stack([_upscale(img) for img in digits.images])
    data = {"images": images, "labels": digits.target, "raw": digits.images}
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    cut1, cut2 = int(0.6 * len(order)), int(0.8 * len(order))
    return [
        ls.Subset("training", sorted(order[:cut1].tolist()), data),
        ls.Subset("validation", sorted(order[cut1:cut2].tolist()), data),
        ls.Subset("test", sorted(order[cut2:].tolist()), data),
    ]


@ls.input_encoder("image", channel_dim=0)
def image(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return ((subset.data["images"][sample_id] - MEAN) / STD)[None].astype(np.float32)  # (1, 28, 28)


@ls.gt_encoder("label")
def label(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[subset.data["labels"][sample_id]]


@ls.metadata("digit")
def digit(sample_id: int, subset: ls.Subset) -> dict:
    return {"label": str(int(subset.data["labels"][sample_id]))}


@ls.metadata("stroke")
def stroke(sample_id: int, subset: ls.Subset) -> dict:
    """Ink coverage, width and height of the written digit on the 8x8 grid."""
    raw = subset.data["raw"][sample_id]
    rows, cols = np.nonzero(raw > 4)
    width = int(cols.max() - cols.min() + 1) if len(cols) else 0
    height = int(rows.max() - rows.min() + 1) if len(rows) else 0
    return {"density": float((raw > 8).mean()), "width": width, "height": height, "thin": bool(width <= 4)}


@ls.visualizer("image", ls.VisualizerType.IMAGE)
def show(image: np.ndarray) -> ls.Image:
    return ls.Image(np.clip(image[0] * STD + MEAN, 0, 1), scale="unit")


@ls.visualizer("prediction", ls.VisualizerType.HORIZONTAL_BAR)
def show_prediction(logits: np.ndarray, label: np.ndarray) -> ls.HorizontalBar:
    probs = np.exp(logits - logits.max())
    return ls.HorizontalBar(probs / probs.sum(), LABELS, gt=label)


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy_from_logits", alias="cross_entropy")


@ls.load_model(predictions=[ls.Prediction("logits", labels=LABELS)])
def model():
    return pretrained.onnx_path()


@ls.integration_test
def test(sample_id: int, subset: ls.Subset) -> None:
    x = image(sample_id, subset)
    y = label(sample_id, subset)
    logits = model()(x)
    cross_entropy(y, logits)
    accuracy(y, logits)
    show(x)
    show_prediction(logits, y)
