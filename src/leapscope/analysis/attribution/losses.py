"""Differentiable (torch) versions of the SDK's built-in losses, for ``target="loss"``.

Each built-in loss has one formula, in :data:`leapscope.sdk._builtins.LOSS_FORMULAS`,
written over a small array-ops namespace; the SDK evaluates it with numpy, this module
with torch (:data:`TORCH_OPS`), so the two cannot drift apart. A custom numpy loss has
no gradient of its own; :func:`differentiable_loss` checks whether calling it on torch
tensors (numpy-style code often runs unchanged on tensors: ``.sum(axis=...)``, ``*``, ``+``)
gives the same values with a gradient. Every loss receives the prediction in its real
(B, ...) shape; the built-in formulas flatten it themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError
from leapscope.sdk._builtins import BUILTIN_LOSSES, LOSS_FORMULAS, builtin_loss_name

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
    o, g = out.reshape(len(out), -1), gt.reshape(len(gt), -1).to(out.dtype)
    return formula(TORCH_OPS, g, o)


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


def _numpy_on_torch() -> Any:
    """A ``torch.Tensor`` subclass whose numpy calls (``np.sum(t, axis=...)``, ``np.log(t)``, ``np.clip``...) run
    as torch operations, through ``torch._numpy`` (torch's own numpy-API implementation over tensors, the one
    ``torch.compile`` uses for numpy code), so a numpy loss keeps its gradient. ``None`` without ``torch._numpy``."""
    import torch

    try:
        import torch._numpy as tnp
    except ImportError:  # an older / stripped torch: plain tensors only
        return None

    def plain(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.as_subclass(torch.Tensor)
        if isinstance(v, tuple | list):
            return type(v)(plain(x) for x in v)
        return v

    def wrap(v: Any) -> Any:
        if isinstance(v, tnp.ndarray):
            return v.tensor.as_subclass(NumpyTensor)
        if isinstance(v, tuple | list):
            return type(v)(wrap(x) for x in v)
        return v

    def call(name: str, args: Any, kwargs: dict[str, Any]) -> Any:
        fn = getattr(tnp, name, None)
        if fn is None:
            return NotImplemented
        return wrap(fn(*plain(args), **{k: plain(v) for k, v in kwargs.items()}))

    class NumpyTensor(torch.Tensor):
        def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
            return call(func.__name__, args, kwargs)

        def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
            return call(ufunc.__name__, inputs, kwargs) if method == "__call__" else NotImplemented

    return NumpyTensor, plain


def _torch_callable(loss: Callable[[np.ndarray, np.ndarray], Any], numpy_api: bool) -> Callable[[Any, Any], Any]:
    """``loss`` called on tensors: as they are, or (``numpy_api``) with numpy's functions running on torch."""
    shim = _numpy_on_torch() if numpy_api else None
    if shim is None:
        return loss  # type: ignore[return-value]
    cls, plain = shim

    def on_torch(g: Any, p: Any) -> Any:
        return plain(loss(g.as_subclass(cls), p.as_subclass(cls)))

    on_torch.__name__ = getattr(loss, "__name__", "loss")
    return on_torch


def differentiable_loss(
    loss: Callable[[np.ndarray, np.ndarray], Any], gt: np.ndarray, prediction: np.ndarray
) -> tuple[Callable[[Any, Any], Any] | None, str | None]:
    """A torch version of a custom numpy loss, if calling it on tensors works.

    The loss is called with float32 tensors (``gt`` and a ``prediction`` that requires grad, both in their
    real (B, ...) shapes): first as plain tensors (``x.sum(axis=...)``, arithmetic), then with numpy's own
    functions routed to torch (``np.sum(x, axis=...)``, ``np.log``, ``np.clip``, ``np.mean``: see
    :func:`_numpy_on_torch`). It qualifies when it returns a (B,) tensor with a gradient whose values match
    the numpy call within :data:`LOSS_PARITY_RTOL`. Returns ``(fn, None)`` or ``(None, reason)`` (the reason
    of the last attempt).
    """
    expected = numpy_loss_values(loss, gt, prediction)
    reason = None
    for numpy_api in (False, True):
        fn = _torch_callable(loss, numpy_api)
        reason = _check_on_torch(fn, gt, prediction, expected)
        if reason is None:
            return fn, None
    return None, reason


def _check_on_torch(
    fn: Callable[[Any, Any], Any], gt: np.ndarray, prediction: np.ndarray, expected: np.ndarray
) -> str | None:
    """Why ``fn`` on tensors is not a differentiable copy of the numpy loss values ``expected`` (None: it is)."""
    import torch

    g = torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32))
    p = torch.from_numpy(np.ascontiguousarray(prediction, dtype=np.float32)).requires_grad_(True)
    try:
        got = fn(g, p)
    except Exception as exc:  # noqa: BLE001 - numpy-only code fails on tensors in many ways; that is the answer
        return f"it uses numpy-only operations ({type(exc).__name__}: {str(exc)[:120]})"
    if not isinstance(got, torch.Tensor) or got.grad_fn is None:
        return f"called on torch tensors it returns {type(got).__name__} without a gradient"
    if tuple(got.shape) != (len(prediction),):
        return f"called on torch tensors it returns shape {tuple(got.shape)}, not ({len(prediction)},)"
    error = float(np.abs(got.detach().numpy() - expected).max(initial=0.0))
    if error > LOSS_PARITY_RTOL * max(1.0, float(np.abs(expected).max(initial=0.0))):
        return f"its torch and numpy values differ by {error:.3g}"
    return None
