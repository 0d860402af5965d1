"""Built-in metrics and losses, usable by name.

All take batched arrays and return one float32 value per sample, shape (B,):

- classification: ``gt`` and ``prediction`` of shape (B, K) (one-hot or probabilities along
  the last axis), or (B,) / (B, 1) for binary outputs;
- dense maps (segmentation, text detection): (B, ...) masks and probability maps, e.g.
  (B, 1, H, W); binary, multi-class for a (B, C, H, W) / (B, H, W, C) map with 2+ classes (the
  class axis found, or given: ``builtin_metric("dice", channel_dim=1)``);
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
from leapscope.sdk._parts import class_axis

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

    def permute(self, x: Any, order: tuple[int, ...]) -> Any:
        """``x`` with its axes in ``order`` (numpy ``transpose``, torch ``permute``)."""


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

    def permute(self, x: Any, order: tuple[int, ...]) -> Any:
        return np.transpose(x, order)


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


#: the losses over a class axis: on a map they score each position and average over positions
_PER_POSITION_LOSSES = ("cross_entropy", "cross_entropy_from_logits")


def apply_loss_formula(name: str, ops: ArrayOps, gt: Any, prediction: Any) -> Any:
    """Built-in loss ``name`` of (B, ...) arrays of one array library (numpy or torch): (B,).

    Most losses run on each sample's values flattened to (B, K). The cross-entropies of a map
    with a class axis (gt and prediction of the same shape, (B, C, H, W), (B, H, W, C) or (B, T, C);
    the class axis found by :func:`leapscope.sdk._parts.class_axis`) are the mean over positions of
    each position's cross-entropy over its C classes (as ``torch.nn.functional.cross_entropy`` with
    ``reduction="mean"`` per sample); a softmax is never taken across positions.
    """
    formula, n, shape = LOSS_FORMULAS[name], len(prediction), tuple(prediction.shape)
    if name in _PER_POSITION_LOSSES and len(shape) > 2 and tuple(gt.shape) == shape:
        axis = class_axis(shape[1:]) % (len(shape) - 1) + 1
        order = (0, *[a for a in range(1, len(shape)) if a != axis], axis)
        classes = shape[axis]
        g, p = ops.permute(gt, order).reshape(-1, classes), ops.permute(prediction, order).reshape(-1, classes)
        return formula(ops, g, p).reshape(n, -1).mean(1)
    return formula(ops, gt.reshape(n, -1), prediction.reshape(n, -1))


def _numpy_loss(name: str, gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    g, p = np.asarray(gt, dtype=np.float32), np.asarray(prediction, dtype=np.float32)
    return np.asarray(apply_loss_formula(name, NUMPY_OPS, g, p), dtype=np.float32)


def cross_entropy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy of probabilities: ``-sum(gt * log(p))`` per sample (nats).

    ``prediction`` holds probabilities (a softmax output), (B, C); use
    ``cross_entropy_from_logits`` for raw scores. A map with a class axis, (B, C, H, W) or
    (B, H, W, C) against a one-hot ground truth of the same shape: the mean over its pixels of
    each pixel's cross-entropy (:func:`apply_loss_formula`).
    """
    return _numpy_loss("cross_entropy", gt, prediction)


def cross_entropy_from_logits(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy of raw scores (log-softmax over the class axis, in float64), nats; (B, C),
    or a map averaged over its positions like :func:`cross_entropy`."""
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


def _mask_axis(prediction: np.ndarray, channel_dim: int | None) -> int | None:
    """The class axis of a batched mask prediction: ``channel_dim`` when given; else, for a (B, C, H, W) /
    (B, H, W, C) map whose class axis (:func:`~leapscope.sdk._parts.class_axis`) holds 2+ classes and is
    shorter than both spatial axes, that axis; else None (a binary mask: (B, 1, H, W), (B, H, W), ...)."""
    if channel_dim is not None:
        return channel_dim
    shape = np.shape(prediction)
    if len(shape) != 4:
        return None
    axis = class_axis(shape[1:]) % 3 + 1
    spatial = [size for i, size in enumerate(shape[1:], start=1) if i != axis]
    return axis if 1 < shape[axis] < min(spatial) else None


def _mask_classes(
    gt: np.ndarray, prediction: np.ndarray, channel_dim: int | None, threshold: float
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(gt classes, predicted classes, class axis): (B, positions) int each. A ground truth with one axis
    fewer than a multi-class prediction holds class indices (B, H, W) already."""
    axis = _mask_axis(prediction, channel_dim)
    p = _classes(prediction, axis, threshold)
    if axis is not None and np.ndim(gt) == np.ndim(prediction) - 1:
        return np.asarray(gt).reshape(len(p), -1).astype(np.int64), p, axis
    return _classes(gt, axis, threshold), p, axis


def _overlap(
    gt: np.ndarray, prediction: np.ndarray, channel_dim: int | None, threshold: float, dice: bool
) -> np.ndarray:
    g, p, channel_dim = _mask_classes(gt, prediction, channel_dim, threshold)
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

    ``2 |G ∩ P| / (|G| + |P|)``, 1.0 when both masks are empty. Binary: positions whose value is above
    ``threshold``, every axis but the batch flattened, e.g. (B, 1, H, W) or (B, H, W). Multi-class
    (``channel_dim`` = the class axis of the batched arrays, 1 for (B, C, H, W); found when left out
    for a (B, C, H, W) / (B, H, W, C) map with 2+ classes, see :func:`_mask_axis`): each position's
    arg-max class (a (B, H, W) ground truth may hold the class indices), and the mean over the classes
    present in the ground truth or the prediction of their dice (macro average, class 0 included).
    Higher is better; [0, 1].
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
    g, p, _ = _mask_classes(gt, prediction, channel_dim, threshold)
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
    arrays, for multi-class maps; default: found for a (B, C, H, W) / (B, H, W, C) map with 2+
    classes, else binary) and ``threshold`` (binary masks: value > threshold);
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
