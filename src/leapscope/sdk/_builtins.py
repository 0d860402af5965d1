"""Built-in metrics and losses, usable by name.

All take batched arrays: ``gt`` and ``prediction`` of shape (B, K) (one-hot or
probabilities along the last axis) or (B,) / (B, 1) for binary and regression
outputs, and return one float32 value per sample, shape (B,).

>>> import numpy as np
>>> accuracy(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32)).tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._decorators import Loss, Metric

__all__ = [
    "ConfusionMatrixElement",
    "accuracy",
    "binary_cross_entropy",
    "builtin_loss",
    "builtin_metric",
    "confusion_matrix",
    "cross_entropy",
    "mean_absolute_error",
    "mean_squared_error",
]

_EPS = 1e-7


@dataclass(frozen=True)
class ConfusionMatrixElement:
    """One (label, outcome) pair of a sample, for confusion matrices.

    ``expected`` is whether the ground truth is ``label``; ``predicted_probability``
    the model's probability for ``label`` in [0, 1].
    """

    label: str
    expected: bool
    predicted_probability: float


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x.reshape(len(x), -1)


def accuracy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """1.0 where the predicted class equals the ground-truth class, else 0.0.

    (B, K) arrays compare argmaxes; (B,) or (B, 1) arrays compare ``> 0.5``.
    """
    g, p = _flat(gt), _flat(prediction)
    if p.shape[1] == 1:
        return ((g[:, 0] > 0.5) == (p[:, 0] > 0.5)).astype(np.float32)
    return (g.argmax(1) == p.argmax(1)).astype(np.float32)


def cross_entropy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy of probabilities: ``-sum(gt * log(p))`` per sample (nats).

    ``prediction`` holds probabilities (a softmax output); use
    ``cross_entropy_from_logits`` for raw scores.
    """
    g, p = _flat(gt), _flat(prediction)
    return -(g * np.log(np.clip(p, _EPS, 1.0))).sum(1).astype(np.float32)


def cross_entropy_from_logits(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy of raw scores (log-softmax taken here), nats."""
    g, z = _flat(gt), _flat(prediction).astype(np.float64)
    z = z - z.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -(g * log_p).sum(1).astype(np.float32)


def binary_cross_entropy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Mean binary cross-entropy over the flattened outputs of each sample (nats)."""
    g, p = _flat(gt), np.clip(_flat(prediction), _EPS, 1 - _EPS)
    return -(g * np.log(p) + (1 - g) * np.log(1 - p)).mean(1).astype(np.float32)


def mean_squared_error(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Mean of squared differences over each sample's values."""
    return ((_flat(gt) - _flat(prediction)) ** 2).mean(1).astype(np.float32)


def mean_absolute_error(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Mean of absolute differences over each sample's values."""
    return np.abs(_flat(gt) - _flat(prediction)).mean(1).astype(np.float32)


def confusion_matrix(gt: np.ndarray, prediction: np.ndarray) -> list[list[ConfusionMatrixElement]]:
    """Per sample, one :class:`ConfusionMatrixElement` per class (labels are class indices)."""
    g, p = _flat(gt), _flat(prediction)
    true = g.argmax(1)
    return [
        [ConfusionMatrixElement(str(k), bool(true[i] == k), float(p[i, k])) for k in range(p.shape[1])]
        for i in range(len(p))
    ]


_METRICS: dict[str, tuple[Callable[..., object], str]] = {
    "accuracy": (accuracy, "higher"),
    "mean_squared_error": (mean_squared_error, "lower"),
    "mean_absolute_error": (mean_absolute_error, "lower"),
    "confusion_matrix": (confusion_matrix, "higher"),
}
_LOSSES: dict[str, Callable[..., np.ndarray]] = {
    "cross_entropy": cross_entropy,
    "cross_entropy_from_logits": cross_entropy_from_logits,
    "binary_cross_entropy": binary_cross_entropy,
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
}


def builtin_metric(name: str, *, alias: str | None = None) -> Metric:
    """Register a built-in metric by name (``"accuracy"``, ``"confusion_matrix"``, ...).

    Returns the decorated metric; call it in the integration test like your own:
    ``acc = ls.builtin_metric("accuracy")`` then ``acc(gt, prediction)``.

    Raises
    ------
    IntegrationDefinitionError
        Unknown name.
    """
    if name not in _METRICS:
        raise IntegrationDefinitionError(f"no built-in metric '{name}'; available: {', '.join(sorted(_METRICS))}")
    function, direction = _METRICS[name]
    return Metric(function, alias or name, direction=direction)  # type: ignore[arg-type]


def builtin_loss(name: str, *, alias: str | None = None) -> Loss:
    """Register a built-in loss by name (``"cross_entropy"``, ``"mean_squared_error"``, ...).

    Raises
    ------
    IntegrationDefinitionError
        Unknown name.
    """
    if name not in _LOSSES:
        raise IntegrationDefinitionError(f"no built-in loss '{name}'; available: {', '.join(sorted(_LOSSES))}")
    return Loss(_LOSSES[name], alias or name)
