"""PyTorch models: ``nn.Module``, TorchScript files and ``torch.export`` programs."""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from leapscope.exceptions import ModelError, ModelInputError, ModelLoadError
from leapscope.models._base import UPSAMPLING_TYPES, LayerInfo, Layout, ModelWrapper, TensorSpec, deepest_spatial_layer
from leapscope.models._registry import Backend, defined_in, register_backend

__all__ = ["TorchModel", "load_torch_file"]

logger = logging.getLogger("leapscope.models")

INPUT_SUFFIX = ":input"


def load_torch_file(path: Path) -> Any:
    """Load a TorchScript (``.pt``/``.pth``) or ``torch.export`` (``.pt2``) file.

    Raises
    ------
    ModelLoadError
        The file holds a state dict or a pickled module (which needs its class):
        the message says to load the module in Python and pass the object.
    """
    import torch

    if path.suffix == ".pt2":
        try:
            return torch.export.load(str(path)).module()
        except Exception as exc:
            raise ModelLoadError(f"cannot load torch.export program {path}: {type(exc).__name__}: {exc}") from exc
    try:
        return torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    except Exception as exc:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001
            obj = None
        if isinstance(obj, dict):
            raise ModelLoadError(
                f"{path} holds a state dict (weights only), not a model; fix: build your nn.Module, call "
                "module.load_state_dict(torch.load(path)), and return the module from @ls.load_model"
            ) from exc
        raise ModelLoadError(
            f"{path} is not a TorchScript file ({type(exc).__name__}: {exc}); fix: save with "
            "torch.jit.save(torch.jit.script(model), path), export with torch.export, or return the nn.Module "
            "object from @ls.load_model"
        ) from exc


def _to_list(out: Any) -> tuple[list[Any], list[str] | None]:
    import torch

    if isinstance(out, torch.Tensor):
        return [out], None
    if isinstance(out, dict):
        return list(out.values()), [str(k) for k in out]
    if isinstance(out, list | tuple):
        return list(out), None
    raise ModelError(
        f"the torch model returned {type(out).__name__}; expected a tensor, or a tuple/list/dict of tensors"
    )


class TorchModel(ModelWrapper):
    """A ``torch.nn.Module`` (put in eval mode), run under ``torch.inference_mode``.

    Input shapes are unknown until the first call; ``layout`` declares the channel
    layout of 4-D inputs (``"NCHW"`` unless said otherwise, as torch convolutions
    expect). Layer names are ``named_modules()`` leaves; ``"<layer>:input"`` names
    the input of a layer (used for the default latent: the input of the last
    ``nn.Linear``).
    """

    framework = "torch"

    def __init__(self, module: Any, *, layout: Layout | None = None):
        import torch

        if not isinstance(module, torch.nn.Module):
            raise ModelLoadError(f"expected a torch.nn.Module, got {type(module).__name__}")
        with contextlib.suppress(NotImplementedError):  # torch.export programs are always in inference mode
            module.eval()
        self.module = module
        self.scripted = isinstance(module, torch.jit.ScriptModule)
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        params = [p.name for p in _params(module) if p.kind in positional] or ["input"]
        self.inputs = [TensorSpec(name, None, None, layout) for name in params]
        self.outputs = [TensorSpec("output", None)]
        self._outputs_known = False
        self._shapes: dict[str, tuple[int | None, ...]] = {}
        self._leaf_shapes_known = False

    def _leaves(self) -> list[tuple[str, Any]]:
        return [(name, m) for name, m in self.module.named_modules() if name and not any(True for _ in m.children())]

    def _tensors(self, inputs: list[np.ndarray]) -> list[Any]:
        import torch

        return [torch.from_numpy(a) for a in inputs]

    def _record_outputs(self, outs: list[Any], names: list[str] | None) -> None:
        if not self._outputs_known:
            self.outputs = [
                TensorSpec(
                    names[i] if names else ("output" if len(outs) == 1 else f"output_{i}"),
                    (None, *o.shape[1:]),
                    str(o.dtype).replace("torch.", ""),
                )
                for i, o in enumerate(outs)
            ]
            self._outputs_known = True

    def _predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outputs, _ = self._forward_with(inputs, [])
        return outputs

    def _forward_with(
        self, inputs: list[np.ndarray], layers: list[str]
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        import torch

        if layers and self.scripted:
            raise ModelError(
                "TorchScript modules do not support hooks, so their activations cannot be read; fix: pass the "
                "nn.Module object from @ls.load_model"
            )
        captured: dict[str, Any] = {}
        handles = []
        modules = dict(self.module.named_modules())
        if not self._leaf_shapes_known and not self.scripted:
            # once, on the first forward: every leaf's output shape, for layers() / `leapscope layers`
            self._leaf_shapes_known = True
            for leaf_name, leaf in self._leaves():
                handles.append(
                    leaf.register_forward_hook(
                        lambda m, args, out, key=leaf_name: (
                            self._shapes.__setitem__(key, (None, *out.shape[1:])) if hasattr(out, "shape") else None
                        )
                    )
                )
        for layer in layers:
            name, is_input = (layer[: -len(INPUT_SUFFIX)], True) if layer.endswith(INPUT_SUFFIX) else (layer, False)
            if is_input:
                handles.append(
                    modules[name].register_forward_pre_hook(
                        lambda m, args, key=layer: captured.__setitem__(key, args[0])
                    )
                )
            else:
                handles.append(
                    modules[name].register_forward_hook(
                        lambda m, args, out, key=layer: captured.__setitem__(
                            key, out[0] if isinstance(out, tuple | list) else out
                        )
                    )
                )
        try:
            with torch.inference_mode():
                raw = self.module(*self._tensors(inputs))
        except Exception as exc:
            shapes = ", ".join(f"{s.name}{tuple(a.shape)} {a.dtype}" for s, a in zip(self.inputs, inputs, strict=True))
            if _SHAPE_ERROR.search(str(exc)):
                raise ModelInputError(self._shape_message(exc, inputs, shapes)) from exc
            raise ModelError(f"the torch model failed on inputs {shapes}: {type(exc).__name__}: {exc}") from exc
        finally:
            for h in handles:
                h.remove()
        outs, names = _to_list(raw)
        self._record_outputs(outs, names)
        acts = {k: v.detach().cpu().numpy() for k, v in captured.items()}
        for k, v in acts.items():
            self._shapes[k] = (None, *v.shape[1:])
        return [o.detach().cpu().numpy() for o in outs], acts

    def _shape_message(self, exc: Exception, inputs: list[np.ndarray], shapes: str) -> str:
        """Why the inputs do not fit (from torch's message) and how to fix the input encoder."""
        first = next((f"{name} = {m}" for name, m in self._leaves()), None)
        where = f" (its first layer: {first})" if first else ""
        one = ", ".join(f"'{s.name}' {tuple(a.shape[1:])}" for s, a in zip(self.inputs, inputs, strict=True))
        text = str(exc).splitlines()[0]
        if match := _MATMUL.search(text):
            got, want = match.group(2), match.group(3)
            detail = f"a linear layer expects {want} features on the last axis, the input has {got}"
            fix = f"make the input encoder return samples whose last axis has {want} values (or change the layer's in_features)"
        elif match := _CHANNELS.search(text):
            want, got = match.group(1), match.group(2)
            detail = (
                f"a convolution expects {want} channels on axis 1 (torch is channels first, NCHW), the input has {got}"
            )
            fix = (
                "make the input encoder return (C, H, W) samples, e.g. np.transpose(x, (2, 0, 1)) for an (H, W, C) "
                "image, with the channel count the model was trained on"
            )
        else:
            detail = text
            fix = "make the input encoder return one sample of the shape the model was trained on (without the batch axis)"
        return (
            f"the torch model cannot take inputs {shapes}{where}: {detail} (torch: {type(exc).__name__}: {text}); "
            f"one sample of each input has shape {one}; fix: {fix}"
        )

    def layers(self) -> list[LayerInfo]:
        """The ``named_modules()`` leaves; output shapes are known once the model has run a batch."""
        return [LayerInfo(name, type(m).__name__, self._shapes.get(name)) for name, m in self._leaves()]

    def _accepts_layer(self, name: str) -> bool:
        modules = dict(self.module.named_modules())
        base = name[: -len(INPUT_SUFFIX)] if name.endswith(INPUT_SUFFIX) else name
        return bool(base) and base in modules

    def default_latent_layer(self) -> str:
        import torch

        linears = [name for name, m in self._leaves() if isinstance(m, torch.nn.Linear)]
        if linears:
            return linears[-1] + INPUT_SUFFIX
        layer = self._deepest_feature_module()
        if layer is not None:
            logger.info("no nn.Linear layer: the default latent space is the deepest feature map %s (pooled)", layer)
            return layer
        raise ModelError(
            "the torch model has no nn.Linear layer and no convolution, so no default latent layer; fix: name one "
            "with --latent LAYER (`leapscope layers MODEL` lists them)"
        )

    def _deepest_feature_module(self) -> str | None:
        """Without a Linear layer: once a forward pass has shown the shapes, the deepest 4-D map before the first
        upsampling module (:func:`~leapscope.models._base.deepest_spatial_layer`); before that, by module order,
        the last convolution / pooling / normalization / activation leaf before the first upsampling module
        (the same layer for an encoder written in execution order)."""
        import torch

        known = self.layers()
        if any(layer.output_shape is not None for layer in known):
            return deepest_spatial_layer(known, "NCHW")
        feature = (
            torch.nn.modules.conv._ConvNd,
            torch.nn.modules.pooling._MaxPoolNd,
            torch.nn.modules.pooling._AvgPoolNd,
            torch.nn.modules.batchnorm._BatchNorm,
            torch.nn.ReLU,
            torch.nn.LeakyReLU,
            torch.nn.SiLU,
            torch.nn.GELU,
            torch.nn.Hardswish,
            torch.nn.Sigmoid,
            torch.nn.Tanh,
        )
        last = None
        for name, module in self._leaves():
            if type(module).__name__ in UPSAMPLING_TYPES:
                break
            # a one-channel conv is an output head, not a feature map
            one_channel = getattr(module, "out_channels", getattr(module, "num_features", None)) == 1
            transposed = isinstance(module, torch.nn.modules.conv._ConvTransposeNd)
            if isinstance(module, feature) and not transposed and not one_channel:
                last = name
        return last

    def torch_module(self) -> Any:
        return self.module


#: torch errors that mean "the input has the wrong shape for this model"
_SHAPE_ERROR = re.compile(
    r"mat1 and mat2 shapes cannot be multiplied|to have \d+ channels, but got|Expected \d+D .*input|"
    r"shape '\[[^\]]*\]' is invalid for input of size|size mismatch|must match the size of tensor|"
    r"input\.size\(-1\) must be equal to input_size|normalized_shape"
)
_MATMUL = re.compile(r"\((\d+)x(\d+) and (\d+)x(\d+)\)")
_CHANNELS = re.compile(r"to have (\d+) channels, but got (\d+) channels")


def _params(module: Any) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return []


register_backend(
    Backend(
        "torch",
        (".pt", ".pth", ".pt2"),
        open_path=lambda path, layout, trust_code: TorchModel(load_torch_file(path), layout=layout),
        # a Keras 3 model on the torch backend is a torch.nn.Module too: the Keras backend wraps it
        accepts=lambda obj: defined_in(obj, "torch") and not defined_in(obj, "keras"),
        open_object=lambda obj, layout: TorchModel(obj, layout=layout),
    )
)
