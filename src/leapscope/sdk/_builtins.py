"""Built-in metrics and losses, usable by name.

All take batched arrays and return one float32 value per sample, shape (B,):

- classification: ``gt`` and ``prediction`` of shape (B, K) (one-hot or probabilities along
  the last axis), or (B,) / (B, 1) for binary outputs;
- dense maps (segmentation, text detection): (B, ...) masks and probability maps, e.g.
  (B, 1, H, W); binary unless a class axis is given (``builtin_metric("dice", channel_dim=1)``);
- regression: (B,) or (B, k) values.

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
    "dice",
    "dice_loss",
    "f1",
    "focal_loss",
    "iou",
    "pixel_accuracy",
    "root_mean_squared_error",
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
#: additive smoothing of the soft dice loss (so that an empty mask predicted empty has loss 0)
_SMOOTH = 1.0
#: focusing parameter gamma of the focal loss (Lin et al. 2017)
_FOCAL_GAMMA = 2.0


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


def _dice_loss(ops: ArrayOps, g: Any, p: Any) -> Any:
    return 1 - (2 * (g * p).sum(1) + _SMOOTH) / (g.sum(1) + p.sum(1) + _SMOOTH)


def _focal_loss(ops: ArrayOps, g: Any, p: Any) -> Any:
    p = ops.clip(p, _EPS, 1 - _EPS)
    p_true = g * p + (1 - g) * (1 - p)
    return -((1 - p_true) ** _FOCAL_GAMMA * ops.log(p_true)).mean(1)


#: the one definition of each built-in loss, by name (numpy here; torch in ``leapscope.analysis.attribution.losses``)
LOSS_FORMULAS: Mapping[str, LossFormula] = MappingProxyType(
    {
        "cross_entropy": _cross_entropy,
        "cross_entropy_from_logits": _cross_entropy_from_logits,
        "binary_cross_entropy": _binary_cross_entropy,
        "mean_squared_error": _mean_squared_error,
        "mean_absolute_error": _mean_absolute_error,
        "dice_loss": _dice_loss,
        "focal_loss": _focal_loss,
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
    """``mean((gt - prediction) ** 2)`` over each sample's values: (B,) or (B, k) -> (B,), gt's units squared."""
    return _numpy_loss("mean_squared_error", gt, prediction)


def mean_absolute_error(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """``mean(|gt - prediction|)`` over each sample's values: (B,) or (B, k) -> (B,), gt's units."""
    return _numpy_loss("mean_absolute_error", gt, prediction)


def dice_loss(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Soft dice loss of a probability map against a mask, per sample (Milletari et al. 2016, V-Net).

    ``1 - (2 * sum(g * p) + 1) / (sum(g) + sum(p) + 1)`` over all values of each sample (any
    shape (B, ...), e.g. (B, 1, H, W); ``gt`` in {0, 1}, ``prediction`` in [0, 1]). The +1
    smoothing makes an empty mask predicted empty a loss of 0. Range [0, 1), lower is better.
    """
    return _numpy_loss("dice_loss", gt, prediction)


def focal_loss(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Binary focal loss, mean over the values of each sample (Lin et al. 2017, RetinaNet), nats.

    ``-mean((1 - p_t) ** 2 * log(p_t))`` with ``p_t = p`` where ``gt`` is 1 and ``1 - p``
    where it is 0 (gamma 2, no alpha weighting); (B, ...) probabilities against a (B, ...) mask.
    """
    return _numpy_loss("focal_loss", gt, prediction)


def _classes(x: np.ndarray, channel_dim: int | None, threshold: float) -> np.ndarray:
    """(B, positions) int: the class of each position (arg-max along ``channel_dim``, else ``x > threshold``)."""
    x = np.asarray(x, dtype=np.float32)
    if channel_dim is None:
        return (x > threshold).reshape(len(x), -1).astype(np.int64)
    return np.asarray(x.argmax(axis=channel_dim)).reshape(len(x), -1)


def _overlap(
    gt: np.ndarray, prediction: np.ndarray, channel_dim: int | None, threshold: float, dice: bool
) -> np.ndarray:
    g, p = _classes(gt, channel_dim, threshold), _classes(prediction, channel_dim, threshold)
    if g.shape != p.shape:
        raise ValueError(
            f"mask metric: gt has {g.shape[1]} positions per sample but prediction has {p.shape[1]}; fix: give both "
            "the same spatial shape (for multi-class maps, pass channel_dim= the class axis of the batched arrays)"
        )
    classes = [1] if channel_dim is None else list(range(np.asarray(prediction).shape[channel_dim]))
    scores = np.zeros((len(g), len(classes)), np.float64)
    present = np.zeros((len(g), len(classes)), bool)
    for j, c in enumerate(classes):
        gc, pc = g == c, p == c
        inter, g_n, p_n = (gc & pc).sum(1), gc.sum(1), pc.sum(1)
        denominator = (g_n + p_n) if dice else (g_n + p_n - inter)
        present[:, j] = (g_n + p_n) > 0
        scores[:, j] = np.where(present[:, j], (2 * inter if dice else inter) / np.maximum(denominator, 1), 0.0)
    n_present = present.sum(1)
    mean = np.where(n_present > 0, scores.sum(1) / np.maximum(n_present, 1), 1.0)  # both empty: perfect
    return mean.astype(np.float32)


def dice(gt: np.ndarray, prediction: np.ndarray, channel_dim: int | None = None, threshold: float = 0.5) -> np.ndarray:
    """Dice coefficient (F1 over positions) of a predicted mask against the ground truth, per sample.

    ``2 |G ∩ P| / (|G| + |P|)``, 1.0 when both masks are empty. Binary (``channel_dim`` None):
    positions whose value is above ``threshold``, every axis but the batch flattened, e.g. (B, 1, H, W)
    or (B, H, W). Multi-class (``channel_dim`` = the class axis of the batched arrays, 1 for
    (B, C, H, W)): each position's arg-max class, and the mean over the classes present in the ground
    truth or the prediction of their dice (macro average, class 0 included). Higher is better; [0, 1].
    Dice (1945), "Measures of the amount of ecologic association between species".
    """
    return _overlap(gt, prediction, channel_dim, threshold, dice=True)


def iou(gt: np.ndarray, prediction: np.ndarray, channel_dim: int | None = None, threshold: float = 0.5) -> np.ndarray:
    """Intersection over union (Jaccard index) of a predicted mask against the ground truth, per sample.

    ``|G ∩ P| / |G ∪ P|``, 1.0 when both are empty; masks and classes as in :func:`dice` (binary
    above ``threshold``, or the arg-max along ``channel_dim`` with the mean over present classes).
    Higher is better; [0, 1]. Always <= dice; IoU = dice / (2 - dice) for one class.
    """
    return _overlap(gt, prediction, channel_dim, threshold, dice=False)


def pixel_accuracy(
    gt: np.ndarray, prediction: np.ndarray, channel_dim: int | None = None, threshold: float = 0.5
) -> np.ndarray:
    """Fraction of positions whose predicted class equals the ground truth's, per sample (classes as in :func:`dice`)."""
    g, p = _classes(gt, channel_dim, threshold), _classes(prediction, channel_dim, threshold)
    return np.asarray((g == p).mean(1), dtype=np.float32)


def f1(gt: np.ndarray, prediction: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Multi-label F1 of each sample: ``2 |G ∩ P| / (|G| + |P|)`` over its labels, 1.0 when both are empty.

    ``gt`` (B, C) in {0, 1}; ``prediction`` (B, C) scores, a label is on above ``threshold`` (0.5 for
    probabilities; pass 0.0 for logits). The per-sample term of scikit-learn's
    ``f1_score(average="samples", zero_division=1.0)`` (their mean is that score). Higher is better; [0, 1].
    """
    return _overlap(gt, prediction, None, threshold, dice=True)


def root_mean_squared_error(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """``sqrt(mean((gt - prediction) ** 2))`` over each sample's values: (B,) or (B, k) -> (B,), gt's units."""
    return np.asarray(np.sqrt(mean_squared_error(gt, prediction)), dtype=np.float32)


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
    "root_mean_squared_error": (root_mean_squared_error, "lower"),
    "confusion_matrix": (confusion_matrix, "higher"),
    "dice": (dice, "higher"),
    "f1": (f1, "higher"),
    "iou": (iou, "higher"),
    "pixel_accuracy": (pixel_accuracy, "higher"),
}
#: the usual short names of the regression metrics (the stored column keeps the name the user wrote)
_SHORT_NAMES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "rmse": "root_mean_squared_error"}
#: metrics that take ``channel_dim=`` / ``threshold=`` options (``builtin_metric("dice", channel_dim=1)``)
_MASK_METRICS = ("dice", "iou", "pixel_accuracy")
#: the built-in losses by name: numpy functions ``(gt, prediction) -> (B,)`` float32
BUILTIN_LOSSES: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = MappingProxyType(
    {
        "cross_entropy": cross_entropy,
        "cross_entropy_from_logits": cross_entropy_from_logits,
        "binary_cross_entropy": binary_cross_entropy,
        "mean_squared_error": mean_squared_error,
        "mean_absolute_error": mean_absolute_error,
        "dice_loss": dice_loss,
        "focal_loss": focal_loss,
    }
)


def builtin_loss_name(function: Callable[..., object]) -> str | None:
    """The name of the built-in loss whose numpy function is ``function`` (``None`` for any other)."""
    return next((name for name, fn in BUILTIN_LOSSES.items() if fn is function), None)


def builtin_metric(
    name: str, *, alias: str | None = None, channel_dim: int | None = None, threshold: float = 0.5
) -> Metric:
    """Register a built-in metric by name (``"accuracy"``, ``"confusion_matrix"``, ``"dice"``, ...;
    ``"mse"``, ``"mae"`` and ``"rmse"`` name the regression metrics too).

    Returns the decorated metric; call it in the integration test like your own:
    ``acc = ls.builtin_metric("accuracy")`` then ``acc(gt, prediction)``. The mask metrics
    (``dice``, ``iou``, ``pixel_accuracy``) take ``channel_dim`` (the class axis of the batched
    arrays, for multi-class maps; None: binary) and ``threshold`` (binary masks: value > threshold);
    the multi-label ``f1`` takes ``threshold`` (a label is on above it; 0.0 for logits).

    Raises
    ------
    IntegrationDefinitionError
        Unknown name, or ``channel_dim`` / ``threshold`` given to a metric that has no such option.
    """
    key = _SHORT_NAMES.get(name, name)
    if key not in _METRICS:
        available = ", ".join(sorted([*_METRICS, *_SHORT_NAMES]))
        raise IntegrationDefinitionError(f"no built-in metric '{name}'; available: {available}")
    function, direction = _METRICS[key]
    if name in _MASK_METRICS:
        function = _with_options(function, name, channel_dim, threshold)
    elif name == "f1" and channel_dim is None:  # multi-label: a label is on above threshold
        function = _with_threshold(threshold)
    elif channel_dim is not None or threshold != 0.5:
        raise IntegrationDefinitionError(
            f"builtin_metric('{name}'): channel_dim/threshold apply to {', '.join(_MASK_METRICS)} only; "
            f"fix: leave them out for '{name}'"
        )
    return Metric(function, alias or name, direction=direction)  # type: ignore[arg-type]


def _with_options(
    function: Callable[..., Any], name: str, channel_dim: int | None, threshold: float
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``function`` with its options bound, as a two-parameter ``(gt, prediction)`` function named ``name``."""

    def metric(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
        return np.asarray(function(gt, prediction, channel_dim=channel_dim, threshold=threshold))

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = function.__doc__
    return metric


def _with_threshold(threshold: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """:func:`f1` with its ``threshold`` bound, as a two-parameter ``(gt, prediction)`` function."""

    def metric(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
        return f1(gt, prediction, threshold=threshold)

    metric.__name__ = metric.__qualname__ = "f1"
    metric.__doc__ = f1.__doc__
    return metric


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
