"""Differentiable (torch) versions of the SDK's built-in losses, for ``target="loss"``.

Each built-in loss has one formula, in :data:`leapscope.sdk._builtins.LOSS_FORMULAS`,
written over a small array-ops namespace; the SDK evaluates it with numpy, this module
with torch (:data:`TORCH_OPS`), so the two cannot drift apart. A custom numpy loss has
no gradient of its own; :func:`differentiable_loss` checks whether calling it on torch
tensors (numpy-style code often runs unchanged on tensors: ``.sum(axis=...)``, ``*``, ``+``)
gives the same values with a gradient. Every loss receives the prediction in its real
(B, ...) shape; the built-in formulas lay it out themselves (``apply_loss_formula``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from leapscope.analysis.attribution import _numpy_torch
from leapscope.exceptions import LeapscopeError
from leapscope.sdk._builtins import BUILTIN_LOSSES, LOSS_FORMULAS, apply_loss_formula, builtin_loss_name

__all__ = [
    "BUILTIN_LOSSES",
    "TORCH_LOSSES",
    "TORCH_OPS",
    "LossSpec",
    "builtin_loss_name",
    "differentiable_loss",
    "loss_label",
    "numpy_loss_values",
    "torch_loss",
]

#: a built-in loss name, or a numpy function ``(gt, prediction) -> (B,)``
LossSpec = str | Callable[[np.ndarray, np.ndarray], Any]

#: the losses ``explain(target="loss")`` can differentiate: every built-in one
TORCH_LOSSES: tuple[str, ...] = tuple(LOSS_FORMULAS)


class _TorchOps:
    """:class:`leapscope.sdk._builtins.ArrayOps` in torch."""

    def log(self, x: Any) -> Any:
        import torch

        return torch.log(x)

    def clip(self, x: Any, low: float, high: float) -> Any:
        return x.clamp(low, high)

    def log_softmax(self, x: Any) -> Any:
        import torch

        return torch.log_softmax(x, dim=1)

    def abs(self, x: Any) -> Any:
        return x.abs()

    def permute(self, x: Any, order: tuple[int, ...]) -> Any:
        return x.permute(*order)

    def __getattr__(self, name: str) -> Any:
        # an op a newer formula uses (sum, exp, mean, ...): torch's function of the same name
        import torch

        return getattr(torch, name)


TORCH_OPS = _TorchOps()


def torch_loss(name: str, out: Any, gt: Any) -> Any:
    """Per-sample loss ``name`` of a (B, ...) torch prediction against a (B, ...) ground truth: (B,), differentiable.

    Raises
    ------
    LeapscopeError
        ``name`` is not a built-in loss.
    """
    formula = LOSS_FORMULAS.get(name)
    if formula is None:
        raise LeapscopeError(
            f"explain: no differentiable version of loss '{name}'; built-ins: {', '.join(TORCH_LOSSES)}"
        )
    return apply_loss_formula(name, TORCH_OPS, gt.to(out.dtype), out)


def loss_label(loss: LossSpec) -> str:
    """The name stored with an attribution of the loss: a built-in name, else the function's ``__name__``."""
    return loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")


#: |torch - numpy| allowed for a custom loss run on tensors, relative to max(1, |numpy value|)
LOSS_PARITY_RTOL = 1e-4


def numpy_loss_values(
    loss: Callable[[np.ndarray, np.ndarray], Any], gt: np.ndarray, prediction: np.ndarray
) -> np.ndarray:
    """(B,) float32 values of a numpy loss on a (B, ...) ground truth and prediction (real shapes).

    Raises
    ------
    LeapscopeError
        The loss fails or does not return one finite value per sample.
    """
    try:
        values = np.asarray(loss(gt, prediction), dtype=np.float32).reshape(-1)
    except Exception as exc:
        raise LeapscopeError(
            f"explain: loss '{loss_label(loss)}' failed on ground truth {gt.shape} and prediction {prediction.shape} "
            f"({type(exc).__name__}: {exc}); fix: make it accept batched arrays in these shapes"
        ) from exc
    if values.shape != (len(prediction),):
        raise LeapscopeError(
            f"explain: loss '{loss_label(loss)}' returned {values.size} value(s) for {len(prediction)} sample(s); "
            "fix: return one value per sample, shape (B,)"
        )
    return values


def _torch_callable(loss: Callable[[np.ndarray, np.ndarray], Any], numpy_api: bool) -> Callable[[Any, Any], Any]:
    """``loss`` called on tensors: as they are, or (``numpy_api``) as :class:`._numpy_torch.NumpyTensor` values
    whose numpy calls (``np.sum(t, axis=...)``, ``.astype(np.float32)``, ``np.asarray(t)``...) run as torch
    operations, so a numpy loss keeps its gradient (see :mod:`._numpy_torch`). A (B, 1) result is made (B,)."""

    def on_torch(g: Any, p: Any) -> Any:
        if numpy_api:
            with _numpy_torch.numpy_on_torch():
                value = _numpy_torch.plain(loss(_numpy_torch.numpy_tensor(g), _numpy_torch.numpy_tensor(p)))
        else:
            value = loss(g, p)
        if getattr(value, "ndim", 1) != 1 and getattr(value, "numel", lambda: -1)() == len(p):
            value = value.reshape(len(p))
        return value

    on_torch.__name__ = getattr(loss, "__name__", "loss")
    return on_torch


def differentiable_loss(
    loss: Callable[[np.ndarray, np.ndarray], Any], gt: np.ndarray, prediction: np.ndarray
) -> tuple[Callable[[Any, Any], Any] | None, str | None]:
    """A torch version of a custom numpy loss, if calling it on tensors works.

    The loss is called with float32 tensors (``gt`` and a ``prediction`` that requires grad, both in their
    real (B, ...) shapes): first as numpy arrays backed by torch (numpy functions, ``.astype``, ``np.asarray``...:
    see :mod:`._numpy_torch`), then as plain tensors (torch-style code). It qualifies
    when it returns (B,) values with a gradient that match the numpy call within :data:`LOSS_PARITY_RTOL`.
    Returns ``(fn, None)`` or ``(None, reason)``: the reason of the numpy-on-torch attempt, naming the
    operation that failed and the line of the loss where it did.
    """
    expected = numpy_loss_values(loss, gt, prediction)
    reasons = []
    for numpy_api in (True, False) if _numpy_torch.available() else (False,):
        fn = _torch_callable(loss, numpy_api)
        reason = _check_on_torch(fn, gt, prediction, expected)
        if reason is None:
            return fn, None
        reasons.append(reason)
    return None, reasons[0]


def _check_on_torch(
    fn: Callable[[Any, Any], Any], gt: np.ndarray, prediction: np.ndarray, expected: np.ndarray
) -> str | None:
    """Why ``fn`` on tensors is not a differentiable copy of the numpy loss values ``expected`` (None: it is)."""
    import torch

    g = torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32))
    p = torch.from_numpy(np.ascontiguousarray(prediction, dtype=np.float32)).requires_grad_(True)
    try:
        with warnings.catch_warnings():  # float() of a tensor that requires grad warns; the checks below say it
            warnings.simplefilter("ignore")
            got = fn(g, p)
    except Exception as exc:  # noqa: BLE001 - numpy-only code fails on tensors in many ways; that is the answer
        return _numpy_torch.failure_reason(exc)
    if not isinstance(got, torch.Tensor) or got.grad_fn is None:
        return (
            f"called on torch tensors it returns {type(got).__name__} without a gradient: a step leaves torch "
            "(float(), .item(), .tolist(), python numbers, a library outside numpy) or ignores the prediction"
        )
    if tuple(got.shape) != (len(prediction),):
        return f"called on torch tensors it returns shape {tuple(got.shape)}, not ({len(prediction)},)"
    error = float(np.abs(got.detach().double().numpy() - expected).max(initial=0.0))
    if not error <= LOSS_PARITY_RTOL * max(1.0, float(np.abs(expected).max(initial=0.0))):
        return (
            f"called on torch tensors its values differ from numpy's by {error:.3g} (an operation whose torch "
            "meaning differs from numpy's)"
        )
    return None
