"""A leapscope integration. Replace the data and the model with yours.

Run `leapscope check .` after every change: it tests each function below on a
few samples and shows how they are wired.
"""

from __future__ import annotations

import numpy as np

import leapscope as ls

LABELS = ["a", "b", "c"]


@ls.preprocess
def subsets() -> list[ls.Subset]:
    # Load your dataset here; sample ids are str or int. Any `data` object is passed to the encoders.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=300)
    features = (rng.normal(size=(300, 4)) + labels[:, None]).astype(np.float32)
    data = {"features": features, "labels": labels}
    return [
        ls.Subset("training", sample_ids=list(range(0, 200)), data=data),
        ls.Subset("validation", sample_ids=list(range(200, 300)), data=data),
    ]


@ls.input_encoder("features", channel_dim=None)
def features(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return subset.data["features"][sample_id]  # one sample, float32, no batch axis


@ls.gt_encoder("label")
def label(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return np.eye(3, dtype=np.float32)[subset.data["labels"][sample_id]]


@ls.metadata("label")
def label_name(sample_id: int, subset: ls.Subset) -> str:
    return LABELS[int(subset.data["labels"][sample_id])]


@ls.visualizer("features", ls.VisualizerType.HORIZONTAL_BAR)
def show_features(features: np.ndarray) -> ls.HorizontalBar:
    return ls.HorizontalBar(features, labels=[f"x{i}" for i in range(len(features))])


@ls.visualizer("prediction", ls.VisualizerType.HORIZONTAL_BAR)
def show_prediction(classes: np.ndarray) -> ls.HorizontalBar:
    return ls.HorizontalBar(classes, labels=LABELS)


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy")


@ls.load_model(predictions=[ls.Prediction("classes", labels=LABELS)])
def model():
    # Return a path ("model.onnx", "model.h5", "model.pt") or a model object.
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3), torch.nn.Softmax(dim=1))


@ls.integration_test
def test(sample_id: int, subset: ls.Subset) -> None:
    x = features(sample_id, subset)  # a batch of one inside the test
    y = label(sample_id, subset)
    probs = model()(x)
    cross_entropy(y, probs)
    accuracy(y, probs)
    show_features(x)
    show_prediction(probs)
