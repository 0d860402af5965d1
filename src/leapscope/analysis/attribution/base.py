"""What every attribution method shares: the :class:`Attribution` result, the method
registry, the :class:`ExplainRequest` a method receives, and what is explained per
sample (:class:`Scorer`: a class score, or the loss against the ground truth).

A method is a subclass of :class:`AttributionMethod` decorated with :func:`register`;
``explain`` looks it up by name, so adding a method is one new class in one module.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict

import numpy as np

from leapscope.analysis.attribution.losses import LossSpec, torch_loss
from leapscope.exceptions import LeapscopeError
from leapscope.models import ModelWrapper

__all__ = [
    "CHUNK_BYTES",
    "MAX_CHUNK",
    "Attribution",
    "AttributionMethod",
    "ExplainOptions",
    "ExplainRequest",
    "ExplainSettings",
    "Scorer",
    "chunk_size",
    "forward_scores",
    "get_method",
    "method_names",
    "register",
    "select_output",
]

#: bytes of interpolated inputs per forward/backward chunk (integrated gradients, smoothgrad)
CHUNK_BYTES = 16 * 2**20
#: at most this many interpolated points per chunk: activations, not inputs, dominate memory,
#: and chunks of a few hundred points also run faster on CPU caches (benchmarks/attribution.py)
MAX_CHUNK = 256


@dataclass
class Attribution:
    """Attributions for a batch.

    Attributes
    ----------
    values : ndarray, same shape and layout as the explained input (B, ...)
    method : str
    target : list of int
        The explained class (or dense-output channel) per sample; -1 for the loss or one output element.
    layer : str or None
        The layer of Grad-CAM / LayerCAM.
    completeness_error : ndarray of shape (B,) or None
        Integrated gradients: |sum(values) - (f(x) - f(baseline))| / max(|f(x) - f(baseline)|, 1e-6).
    channel_axis : int or None
        The input's channel axis (batched), used by :meth:`heatmap`.
    """

    values: np.ndarray
    method: str
    target: list[int]
    layer: str | None = None
    completeness_error: np.ndarray | None = None
    channel_axis: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: what was explained, in words, per sample ("sum of channel 0 (text) over predicted-positive pixels (812 of 4096)")
    descriptions: list[str] = field(default_factory=list)
    #: (B, *output shape) float32: the explained score is ``sum(weights * output)`` (None for a loss target)
    weights: np.ndarray | None = None

    def heatmap(self) -> np.ndarray:
        """(B, H, W) (or (B, T) for 1-D inputs): attributions summed over the channel axis."""
        values = self.values
        if self.channel_axis is not None and values.ndim >= 3:
            values = values.sum(axis=self.channel_axis)
        return values


class ExplainSettings(TypedDict, total=False):
    """The per-method knobs ``explain`` accepts as keywords (see :class:`ExplainOptions`)."""

    layer: str | None
    baseline: float | np.ndarray | None
    batch_size: int | None
    steps: int
    noise_samples: int
    noise_level: float
    window: int | None
    seed: int


@dataclass(frozen=True)
class ExplainOptions:
    """Per-method knobs.

    Attributes
    ----------
    layer : Grad-CAM / LayerCAM layer (default: the last spatial layer).
    baseline : float or ndarray broadcastable to the input (default 0).
    batch_size : samples x steps per forward/backward chunk (default: from the input size).
    steps : integrated-gradients quadrature nodes.
    noise_samples, noise_level : SmoothGrad copies, and noise std as a fraction of the input range.
    window : occlusion window in pixels or positions (default: an eighth of the image side).
    seed : makes SmoothGrad deterministic.
    """

    layer: str | None = None
    baseline: float | np.ndarray | None = None
    batch_size: int | None = None
    steps: int = 50
    noise_samples: int = 25
    noise_level: float = 0.15
    window: int | None = None
    seed: int = 0


def _torch() -> Any:
    import torch

    return torch


def select_output(out: Any, out_index: int) -> Any:
    """Output ``out_index`` of a torch forward that returned a tensor or a tuple of tensors."""
    return out if isinstance(out, _torch().Tensor) else out[out_index]


class Scorer:
    """What is explained, per sample: ``sum(weights * output)`` (a class score, a channel's sum over a
    region, one element; see :mod:`.targets`), or the loss against the ground truth.

    ``loss`` is a built-in loss name or a torch-differentiable callable ``(gt, prediction) -> (B,)``
    that receives the prediction in its real (B, ...) shape (:func:`.losses.differentiable_loss`).
    """

    def __init__(
        self,
        weights: np.ndarray | None,
        loss: str | Callable[[Any, Any], Any] | None = None,
        ground_truth: np.ndarray | None = None,
    ):
        torch = _torch()
        self.weights = None if weights is None else torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32))
        self.loss = loss
        self.gt = (
            None if ground_truth is None else torch.from_numpy(np.ascontiguousarray(ground_truth, dtype=np.float32))
        )

    def __call__(self, out: Any, index: Any) -> Any:
        """(B,) scores of the batch ``out`` whose samples are ``index`` (a tensor of sample positions)."""
        if self.loss is not None:
            gt = self.gt[index]  # type: ignore[index]
            if isinstance(self.loss, str):
                return torch_loss(self.loss, out, gt)
            return self.loss(gt, out)
        weights = self.weights[index]  # type: ignore[index]
        return (out.reshape(len(out), -1) * weights.reshape(len(weights), -1).to(out.dtype)).sum(1)


def forward_scores(module: Any, out_index: int, scorer: Scorer, index: Any) -> Any:
    """A function x -> (B,) explained scores (class score or loss) for Captum and our own loops."""

    def fn(*xs: Any) -> Any:
        out = select_output(module(*xs), out_index)
        return scorer(out, index[: len(out)])

    return fn


def chunk_size(sample_bytes: int, copies: int) -> int:
    """Samples per chunk so that ``copies`` copies of each stay within :data:`CHUNK_BYTES` (1..MAX_CHUNK)."""
    return int(np.clip(CHUNK_BYTES // max(1, sample_bytes * copies), 1, MAX_CHUNK))


@dataclass
class ExplainRequest:
    """A checked explain call, as a method receives it.

    ``arrays`` are the model inputs (one (B, ...) array each), ``input_index`` the explained
    one; ``targets`` one class index per sample (-1 each when the loss is explained, then
    ``loss`` and ``ground_truth`` are set); ``baseline`` has the explained input's shape.
    """

    model: ModelWrapper
    arrays: list[np.ndarray]
    input_index: int
    out_index: int
    targets: list[int]
    scorer: Scorer
    baseline: np.ndarray
    channel_axis: int | None
    options: ExplainOptions
    loss: LossSpec | None = None
    ground_truth: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def x(self) -> np.ndarray:
        """The explained input, (B, ...)."""
        return self.arrays[self.input_index]


class AttributionMethod(abc.ABC):
    """One attribution method. Subclasses set ``name`` and are decorated with :func:`register`.

    ``needs_gradients``: ``explain`` checks, before :meth:`attribute` runs, that the model has
    a differentiable view, a single input, and float values (what gradients need).
    """

    name: ClassVar[str]
    needs_gradients: ClassVar[bool] = True
    #: where the method comes in :func:`method_names` (and so in CLI help and the UI's list)
    order: ClassVar[int] = 100

    @abc.abstractmethod
    def attribute(self, request: ExplainRequest) -> Attribution:
        """Attributions of ``request.x`` in its own shape and layout, (B, ...) float32."""


_REGISTRY: dict[str, AttributionMethod] = {}


def register(cls: type[AttributionMethod]) -> type[AttributionMethod]:
    """Class decorator: make a method available to ``explain`` under ``cls.name``."""
    _REGISTRY[cls.name] = cls()
    return cls


def method_names() -> tuple[str, ...]:
    """The registered method names, by their ``order``."""
    return tuple(sorted(_REGISTRY, key=lambda name: _REGISTRY[name].order))


def get_method(name: str) -> AttributionMethod:
    """The registered method ``name``.

    Raises
    ------
    LeapscopeError
        No such method; the message lists the available ones.
    """
    method = _REGISTRY.get(name)
    if method is None:
        raise LeapscopeError(f"explain: unknown method {name!r}; available: {', '.join(method_names())}")
    return method
