"""Built-in metrics and losses, usable by name.

All take batched arrays: ``gt`` and ``prediction`` of shape (B, K) (one-hot or
probabilities along the last axis) or (B,) / (B, 1) for binary and regression
outputs, and return one float32 value per sample, shape (B,).

>>> import numpy as np
>>> accuracy(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32)).tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._decorators import Loss, Metric

__all__ = [
    "BUILTIN_LOSSES",
    "LOSS_FORMULAS",
    "NUMPY_OPS",
    "ArrayOps",
    "ConfusionMatrixElement",
    "accuracy",
    "binary_cross_entropy",
    "builtin_loss",
    "builtin_loss_name",
    "builtin_metric",
    "confusion_matrix",
    "cross_entropy",
    "cross_entropy_from_logits",
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
    same: np.ndarray = (g[:, 0] > 0.5) == (p[:, 0] > 0.5) if p.shape[1] == 1 else g.argmax(1) == p.argmax(1)
    return same.astype(np.float32)


class ArrayOps(Protocol):
    """The few element-wise operations a loss formula needs beyond arithmetic, ``.sum(1)`` and ``.mean(1)``.

    numpy's are :data:`NUMPY_OPS`; the attribution layer supplies torch's, so each built-in
    loss has one formula that serves both (the numpy value and a differentiable torch one).
    """

    def log(self, x: Any) -> Any: ...

    def clip(self, x: Any, low: float, high: float) -> Any: ...

    def log_softmax(self, x: Any) -> Any:
        """Log-softmax along axis 1 of a (B, K) array."""

    def abs(self, x: Any) -> Any: ...


class _NumpyOps:
    def log(self, x: Any) -> Any:
        return np.log(x)

    def clip(self, x: Any, low: float, high: float) -> Any:
        return np.clip(x, low, high)

    def log_softmax(self, x: Any) -> Any:
        z = np.asarray(x, dtype=np.float64)  # float64: exact for large logits
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    def abs(self, x: Any) -> Any:
        return np.abs(x)


NUMPY_OPS: ArrayOps = _NumpyOps()

#: a loss formula: ``(ops, gt, prediction) -> (B,)`` on (B, K) arrays of one array library
LossFormula = Callable[[ArrayOps, Any, Any], Any]


def _cross_entropy(ops: ArrayOps, g: Any, p: Any) -> Any:
    return -(g * ops.log(ops.clip(p, _EPS, 1.0))).sum(1)


def _cross_entropy_from_logits(ops: ArrayOps, g: Any, z: Any) -> Any:
    return -(g * ops.log_softmax(z)).sum(1)


def _binary_cross_entropy(ops: ArrayOps, g: Any, p: Any) -> Any:
    p = ops.clip(p, _EPS, 1 - _EPS)
    return -(g * ops.log(p) + (1 - g) * ops.log(1 - p)).mean(1)


def _mean_squared_error(ops: ArrayOps, g: Any, p: Any) -> Any:
    return ((g - p) ** 2).mean(1)


def _mean_absolute_error(ops: ArrayOps, g: Any, p: Any) -> Any:
    return ops.abs(g - p).mean(1)


#: the one definition of each built-in loss, by name (numpy here; torch in ``leapscope.analysis.attribution.losses``)
LOSS_FORMULAS: Mapping[str, LossFormula] = MappingProxyType(
    {
        "cross_entropy": _cross_entropy,
        "cross_entropy_from_logits": _cross_entropy_from_logits,
        "binary_cross_entropy": _binary_cross_entropy,
        "mean_squared_error": _mean_squared_error,
        "mean_absolute_error": _mean_absolute_error,
    }
)


def _numpy_loss(name: str, gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return np.asarray(LOSS_FORMULAS[name](NUMPY_OPS, _flat(gt), _flat(prediction)), dtype=np.float32)


def cross_entropy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy of probabilities: ``-sum(gt * log(p))`` per sample (nats).

    ``prediction`` holds probabilities (a softmax output); use
    ``cross_entropy_from_logits`` for raw scores.
    """
    return _numpy_loss("cross_entropy", gt, prediction)


def cross_entropy_from_logits(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy of raw scores (log-softmax taken here, in float64), nats."""
    return _numpy_loss("cross_entropy_from_logits", gt, prediction)


def binary_cross_entropy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Mean binary cross-entropy over the flattened outputs of each sample (nats)."""
    return _numpy_loss("binary_cross_entropy", gt, prediction)


def mean_squared_error(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Mean of squared differences over each sample's values."""
    return _numpy_loss("mean_squared_error", gt, prediction)


def mean_absolute_error(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Mean of absolute differences over each sample's values."""
    return _numpy_loss("mean_absolute_error", gt, prediction)


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
#: the built-in losses by name: numpy functions ``(gt, prediction) -> (B,)`` float32
BUILTIN_LOSSES: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = MappingProxyType(
    {
        "cross_entropy": cross_entropy,
        "cross_entropy_from_logits": cross_entropy_from_logits,
        "binary_cross_entropy": binary_cross_entropy,
        "mean_squared_error": mean_squared_error,
        "mean_absolute_error": mean_absolute_error,
    }
)


def builtin_loss_name(function: Callable[..., object]) -> str | None:
    """The name of the built-in loss whose numpy function is ``function`` (``None`` for any other)."""
    return next((name for name, fn in BUILTIN_LOSSES.items() if fn is function), None)


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
    if name not in BUILTIN_LOSSES:
        raise IntegrationDefinitionError(f"no built-in loss '{name}'; available: {', '.join(sorted(BUILTIN_LOSSES))}")
    return Loss(BUILTIN_LOSSES[name], alias or name)
