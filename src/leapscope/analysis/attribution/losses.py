"""Differentiable (torch) versions of the SDK's built-in losses, for ``target="loss"``.

Each built-in loss has one formula, in :data:`leapscope.sdk._builtins.LOSS_FORMULAS`,
written over a small array-ops namespace; the SDK evaluates it with numpy, this module
with torch (:data:`TORCH_OPS`), so the two cannot drift apart. A custom numpy loss has
no gradient: only occlusion explains it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError
from leapscope.sdk._builtins import BUILTIN_LOSSES, LOSS_FORMULAS, builtin_loss_name

__all__ = ["BUILTIN_LOSSES", "TORCH_LOSSES", "TORCH_OPS", "LossSpec", "builtin_loss_name", "loss_label", "torch_loss"]

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
