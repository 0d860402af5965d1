"""The one interface every model is used through: :class:`ModelWrapper`.

Notation: B batch size; an input or output "spec" gives the shape of one batch
with ``None`` for dynamic axes. Arrays cross this interface as numpy arrays;
torch appears only in :meth:`ModelWrapper.torch_module` (the differentiable view).
"""

from __future__ import annotations

import abc
import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from leapscope.exceptions import ModelError, ModelInputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "UPSAMPLING_TYPES",
    "LayerInfo",
    "Layout",
    "ModelWrapper",
    "Pool",
    "TensorSpec",
    "deepest_spatial_layer",
    "infer_layout",
    "pool_activation",
]

logger = logging.getLogger("leapscope.models")

Layout = Literal["NCHW", "NHWC"]
Pool = Literal["mean", "max"] | None


@dataclass(frozen=True)
class TensorSpec:
    """Name, batched shape (``None`` = dynamic), dtype and channel layout of a model input or output."""

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str | None = "float32"
    layout: Layout | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape) if self.shape is not None else None,
            "dtype": self.dtype,
            "layout": self.layout,
        }


@dataclass(frozen=True)
class LayerInfo:
    """One layer (or graph node) in execution order; ``output_shape`` is batched, ``None`` if unknown."""

    name: str
    type: str
    output_shape: tuple[int | None, ...] | None = None
    #: a constant or shape computation (ONNX ``Constant``, ``Shape`` and nodes fed only by those); not a feature layer
    hidden: bool = False

    @property
    def is_spatial(self) -> bool:
        """Whether the output is a batched 4-D feature map (usable by Grad-CAM / LayerCAM)."""
        return self.output_shape is not None and len(self.output_shape) == 4

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "spatial": self.is_spatial,
            "hidden": self.hidden,
        }


def infer_layout(
    shape: Sequence[int | None] | None, declared: Layout | None = None, *, what: str = ""
) -> Layout | None:
    """Channel layout of a batched 4-D image shape.

    ``declared`` wins. Otherwise a shape whose axis 1 is 1 or 3 and last axis is
    not is NCHW, the reverse NHWC; anything else is ``None``. The inference is
    logged with its reason so it is never silent.
    """
    if declared is not None:
        if declared not in ("NCHW", "NHWC"):
            raise ModelError(f"layout {declared!r} for {what or 'the model'} must be 'NCHW' or 'NHWC'")
        return declared
    if shape is None or len(shape) != 4:
        return None
    c_first, c_last = shape[1] in (1, 3, 4), shape[3] in (1, 3, 4)
    if c_first and not c_last:
        logger.info("%s: layout NCHW inferred from shape %s (axis 1 holds %s channels)", what, shape, shape[1])
        return "NCHW"
    if c_last and not c_first:
        logger.info("%s: layout NHWC inferred from shape %s (last axis holds %s channels)", what, shape, shape[3])
        return "NHWC"
    return None


def pool_activation(value: np.ndarray, pool: Pool, layout: Layout | None) -> np.ndarray:
    """Pool a batched activation over its spatial/sequence axes to shape (B, C).

    4-D values pool over H, W of ``layout`` (NCHW when ``None``); 3-D values over
    axis 1 (B, T, D sequences); 2-D values are returned as they are; ``pool=None``
    flattens to (B, -1) instead.
    """
    value = np.asarray(value)
    if pool is None or value.ndim <= 2:
        return value.reshape(len(value), -1)
    reduce = np.mean if pool == "mean" else np.max
    axes: tuple[int, ...]
    if value.ndim == 4:
        axes = (1, 2) if layout == "NHWC" else (2, 3)
    elif value.ndim == 3:
        axes = (1,)
    else:
        axes = tuple(range(2, value.ndim))
    return np.asarray(reduce(value, axis=axes), dtype=np.float32)


class ModelWrapper(abc.ABC):
    """One API over ONNX, Keras and PyTorch models.

    Attributes
    ----------
    inputs, outputs : list of TensorSpec
    framework : str
        ``"onnx"``, ``"keras"`` or ``"torch"``.
    differentiable : bool
        Whether :meth:`torch_module` gives gradients; ``differentiable_reason``
        says why not.
    """

    framework: ClassVar[str]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    #: channel layout of the model's internal 4-D activations
    internal_layout: Layout = "NCHW"

    # --- what a backend implements ----------------------------------------------
    @abc.abstractmethod
    def _predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]: ...

    @abc.abstractmethod
    def _forward_with(
        self, inputs: list[np.ndarray], layers: list[str]
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """Outputs and the raw activations of ``layers`` from ONE forward pass."""

    @abc.abstractmethod
    def layers(self) -> list[LayerInfo]:
        """Every layer in execution order."""

    def layer_info(self, include_hidden: bool = False) -> list[LayerInfo]:
        """The layers as :meth:`layers` lists them, without the hidden ones (constants and
        shape computations, see :attr:`LayerInfo.hidden`) unless ``include_hidden``.

        Every name is canonical: :meth:`activations`, ``--latent`` and Grad-CAM's ``layer`` accept it."""
        return [layer for layer in self.layers() if include_hidden or not layer.hidden]

    def canonical_layer(self, name: str) -> str:
        """The canonical spelling of a layer name (ONNX: the onnx2torch module name maps to the
        ONNX node name); a name that is already canonical, or unknown, is returned unchanged."""
        return name

    def default_latent_or_none(self) -> str | None:
        """:meth:`default_latent_layer`, or ``None`` when the model has none."""
        try:
            return self.default_latent_layer()
        except ModelError:
            return None

    @abc.abstractmethod
    def default_latent_layer(self) -> str:
        """The layer whose output feeds the last dense/linear/Gemm/MatMul layer."""

    @abc.abstractmethod
    def torch_module(self) -> torch.nn.Module:
        """A differentiable ``torch.nn.Module`` whose forward matches :meth:`predict`.

        Its forward takes one tensor per input (in input order) and returns a tensor,
        or a tuple for several outputs. Raises :class:`ModelError` when
        ``differentiable`` is False.
        """

    def activation_and_output(self, x: torch.Tensor, layer: str, output: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """One differentiable forward pass of a single-input batch ``x``: the activation of
        ``layer`` (in :attr:`internal_layout`) and output number ``output``, both in the graph.

        The default hooks the layer in :meth:`torch_module` (``layer`` is a ``named_modules()``
        name; a leading ``/`` of an ONNX node name is dropped); a backend whose layers are not
        torch modules overrides it.

        Raises
        ------
        ModelError
            ``layer`` is not a module of the differentiable view (the message lists some).
        """
        module = self.torch_module()
        modules = dict(module.named_modules())
        # onnx2torch names a node's module after the node name with '.' -> '/' and no leading '/'
        name = next((n for n in (layer, layer.lstrip("/"), layer.replace(".", "/").lstrip("/")) if n in modules), layer)
        if name not in modules:
            raise ModelError(
                f"explain: layer '{layer}' not found in the differentiable view; layers: {', '.join(list(modules)[1:15])}"
            )
        captured: dict[str, Any] = {}
        handle = modules[name].register_forward_hook(
            lambda m, a, out: captured.__setitem__("act", out[0] if isinstance(out, tuple) else out)
        )
        try:
            out = module(x)
        finally:
            handle.remove()
        return captured["act"], (out if _is_tensor(out) else out[output])

    # --- shared behaviour ---------------------------------------------------------
    @property
    def differentiable(self) -> bool:
        """Whether :meth:`torch_module` gives gradients."""
        return True

    @property
    def differentiable_reason(self) -> str | None:
        """Why the model is not differentiable (``None`` when it is)."""
        return None

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the model requires, if its batch axis is a fixed int > 1."""
        sizes = {s.shape[0] for s in self.inputs if s.shape and isinstance(s.shape[0], int) and s.shape[0] > 1}
        return sizes.pop() if len(sizes) == 1 else None

    def check_inputs(self, inputs: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Validate a list of batched inputs against :attr:`inputs`.

        Raises
        ------
        ModelInputError
            Wrong number of inputs, wrong dtype, wrong rank or a wrong fixed axis;
            the message names the input and both shapes.
        """
        items = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        if len(items) != len(self.inputs):
            raise ModelInputError(
                f"the {self.framework} model takes {len(self.inputs)} input(s) "
                f"({', '.join(s.name for s in self.inputs)}) but got {len(items)}; fix: pass one batched array per "
                "input, in that order"
            )
        out = []
        for spec, arr in zip(self.inputs, items, strict=True):
            arr = np.asarray(arr)
            if spec.dtype and arr.dtype != np.dtype(spec.dtype):
                if arr.dtype.kind == spec_kind(spec.dtype) and arr.dtype.kind in "fi":
                    raise ModelInputError(
                        f"input '{spec.name}': dtype {arr.dtype}, the model expects {spec.dtype} (shape {spec.shape}); "
                        f"fix: return {spec.dtype} from the input encoder (value.astype(np.{spec.dtype}))"
                    )
                raise ModelInputError(
                    f"input '{spec.name}': dtype {arr.dtype}, the model expects {spec.dtype}; fix: convert with "
                    f"astype(np.{spec.dtype}) in the input encoder"
                )
            if spec.shape is not None and (
                arr.ndim != len(spec.shape)
                or any(
                    d is not None and i > 0 and d != a
                    for i, (d, a) in enumerate(zip(spec.shape, arr.shape, strict=False))
                )
            ):
                raise ModelInputError(
                    f"input '{spec.name}': got shape {arr.shape}, the model expects {_fmt_shape(spec.shape)} "
                    "(first axis = batch); fix: make the input encoder return one sample of shape "
                    f"{_fmt_shape(spec.shape[1:], batched=False)}"
                )
            out.append(np.ascontiguousarray(arr))
        return out

    def _chunks(self, inputs: list[np.ndarray], batch_size: int | None) -> list[tuple[list[np.ndarray], int]]:
        n = len(inputs[0])
        fixed = self.fixed_batch
        size = fixed or batch_size or n
        chunks = []
        for start in range(0, n, size):
            part = [a[start : start + size] for a in inputs]
            real = len(part[0])
            if fixed and real < fixed:  # pad the last chunk of a fixed-batch model, cut it after
                part = [np.concatenate([a, np.repeat(a[-1:], fixed - real, axis=0)]) for a in part]
            chunks.append((part, real))
        return chunks

    def predict(self, inputs: Sequence[np.ndarray] | np.ndarray, batch_size: int | None = None) -> list[np.ndarray]:
        """Forward a batch; returns one array per output.

        Parameters
        ----------
        inputs : list of ndarray, one per model input, each (B, ...)
        batch_size : int, optional
            Split into chunks of at most this many samples (fixed-batch models
            always run at their batch size, padding the last chunk).
        """
        arrays = self.check_inputs(inputs)
        if batch_size is None and self.fixed_batch is None:
            return self._predict(arrays)
        parts = [[o[:real] for o in self._predict(chunk)] for chunk, real in self._chunks(arrays, batch_size)]
        return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]

    def activations(
        self, inputs: Sequence[np.ndarray] | np.ndarray, layers: Sequence[str], pool: Pool = None
    ) -> dict[str, np.ndarray]:
        """Activations of ``layers`` for a batch, from ONE forward pass.

        With ``pool`` ("mean"/"max") spatial and sequence axes are pooled to (B, C)
        (see :func:`pool_activation`); without, the raw batched activation.

        Raises
        ------
        ModelError
            Unknown layer name (the message lists close matches).
        """
        names = self.resolve_layers(layers)
        arrays = self.check_inputs(inputs)
        _, acts = self._forward_with(arrays, names)
        if pool is None:
            return acts
        return {k: pool_activation(v, pool, self.internal_layout) for k, v in acts.items()}

    def predict_with_latent(
        self, inputs: Sequence[np.ndarray] | np.ndarray, latent_layers: Sequence[str] | None = None, pool: Pool = "mean"
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """Predictions and pooled latent vectors (B, D) float32 from one forward pass.

        ``latent_layers`` defaults to ``[default_latent_layer()]``. This is the
        evaluate hot path.
        """
        names = self.resolve_layers(latent_layers or [self.default_latent_layer()])
        arrays = self.check_inputs(inputs)
        outputs, acts = self._forward_with(arrays, names)
        return outputs, {
            k: pool_activation(v, pool, self.internal_layout).astype(np.float32, copy=False) for k, v in acts.items()
        }

    def resolve_layers(self, layers: Sequence[str]) -> list[str]:
        """Check layer names; raises :class:`ModelError` listing close matches for an unknown one."""
        known_set = {layer.name for layer in self.layers()}
        known = [layer.name for layer in self.layer_info()]  # suggestions: no constants / shape ops
        for name in layers:
            if name not in known_set and not self._accepts_layer(name):
                close = difflib.get_close_matches(name, known, n=5, cutoff=0.4)
                hint = (
                    f"close matches: {', '.join(close)}"
                    if close
                    else f"layers: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}"
                )
                raise ModelError(
                    f"unknown layer '{name}' in the {self.framework} model; {hint}; fix: pick a name from "
                    "`leapscope layers MODEL` (or `leapscope.models.open_model(...).layer_info()`)"
                )
        return list(layers)

    def _accepts_layer(self, name: str) -> bool:
        return False

    def signature(self) -> dict[str, Any]:
        """Inputs, outputs and framework as a JSON-ready dict (stored in run manifests).

        It leaves out ``differentiable``, which for ONNX costs a conversion."""
        return {
            "framework": self.framework,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
        }

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}{_fmt_shape(s.shape)}" for s in self.inputs)
        outs = ", ".join(f"{s.name}{_fmt_shape(s.shape)}" for s in self.outputs)
        return f"<{type(self).__name__} {ins} -> {outs}>"


#: layer / op types that grow a feature map: an encoder-decoder's bottleneck is the last map before the first
UPSAMPLING_TYPES = frozenset(
    {
        "Resize",
        "Upsample",
        "ConvTranspose",
        "DepthToSpace",
        "UpSampling2D",
        "Conv2DTranspose",
        "Resizing",
        "ConvTranspose1d",
        "ConvTranspose2d",
        "ConvTranspose3d",
        "UpsamplingNearest2d",
        "UpsamplingBilinear2d",
        "PixelShuffle",
    }
)


def deepest_spatial_layer(layers: Sequence[LayerInfo], layout: Layout | None = "NCHW") -> str | None:
    """The encoder's bottleneck of a conv-only or encoder-decoder model: among the non-hidden 4-D feature
    maps before the first upsampling layer (:data:`UPSAMPLING_TYPES`; all of them when there is none), the
    one with the smallest known spatial area, the latest on a tie (dynamic H, W count as infinite); maps of
    one channel, and 1x1 maps (squeeze-excitation gates), only when there is no other.
    ``None`` when there is no 4-D layer."""
    candidates: list[tuple[int, LayerInfo]] = []
    for index, layer in enumerate(layers):
        if layer.type in UPSAMPLING_TYPES:
            break
        if not layer.hidden and layer.is_spatial:
            candidates.append((index, layer))
    channel = 3 if layout == "NHWC" else 1
    # a one-channel map (a dense model's output head) carries no features when wider maps exist
    wide = [item for item in candidates if (item[1].output_shape or (None,) * 4)[channel] != 1]
    candidates = wide or candidates
    if not candidates:
        return None

    def area(layer: LayerInfo) -> float:
        shape = layer.output_shape or (None,) * 4
        h, w = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
        return float(h * w) if h and w else float("inf")

    # 1x1 maps inside a backbone are squeeze-excitation gates and their squeeze convs (channel weights, not
    # features: PP-OCRv4's detector has dozens); the mean-pooled deepest larger map is what a global pool
    # would give, so 1x1 maps count only when there is nothing larger
    larger = [item for item in candidates if area(item[1]) > 1]
    candidates = larger or candidates

    return min(candidates, key=lambda item: (area(item[1]), -item[0]))[1].name


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def spec_kind(dtype: str | None) -> str:
    return np.dtype(dtype).kind


def _fmt_shape(shape: Sequence[int | None] | None, batched: bool = True) -> str:
    if shape is None:
        return "(?)"
    dims = ["B" if batched and i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(shape)]
    return "(" + ", ".join(dims) + (",)" if len(dims) == 1 else ")")
