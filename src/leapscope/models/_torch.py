"""PyTorch models: ``nn.Module``, TorchScript files and ``torch.export`` programs."""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from collections.abc import Sequence
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

    TorchScript modules (``torch.jit.script`` / ``torch.jit.trace``, saved with
    ``torch.jit.save``) take no forward hooks. Their layer types come from the
    ``original_name`` TorchScript keeps on every submodule. A scripted ``nn.Sequential``
    (nested ``nn.Sequential`` s included) gives activations without hooks: its modules
    are run one after the other, which is what ``nn.Sequential.forward`` does, and
    the first such pass is checked against the scripted forward. Any other scripted
    module gives no activations: :meth:`resolve_layers` refuses its layers with the fix.
    """

    framework = "torch"

    def __init__(self, module: Any, *, layout: Layout | None = None, source: Path | str | None = None):
        import torch

        if not isinstance(module, torch.nn.Module):
            raise ModelLoadError(f"expected a torch.nn.Module, got {type(module).__name__}")
        with contextlib.suppress(NotImplementedError):  # torch.export programs are always in inference mode
            module.eval()
        self.module = module
        #: the file the model was read from (named in error messages), if any
        self.source = None if source is None else str(source)
        self.scripted = isinstance(module, torch.jit.ScriptModule)
        #: a scripted nn.Sequential: its modules in call order (nested Sequentials expanded), else None
        self._chain: list[tuple[str, Any]] | None = _chain_units(module) if self.scripted else None
        #: layer name -> (first, last) chain index of a module or nested Sequential the chain can read
        self._spans: dict[str, tuple[int, int]] = _chain_spans(module) if self._chain is not None else {}
        self._chain_checked = False
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

        if self.scripted:
            for layer in layers:
                if not self._readable(layer):
                    raise ModelError(self._unreadable_message(layer))
            if self._chain is not None and (layers or not self._leaf_shapes_known):
                return self._forward_chain(self._chain, inputs, layers)
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

    def _forward_chain(
        self, chain: list[tuple[str, Any]], inputs: list[np.ndarray], layers: list[str]
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """A scripted nn.Sequential without hooks: its modules run one after the other, as
        ``nn.Sequential.forward`` runs them, recording every module's output shape and the
        activations of ``layers``. The first pass is checked against the scripted forward."""
        import torch

        starts: dict[int, list[str]] = {}
        ends: dict[int, list[str]] = {}
        for layer in layers:
            is_input = layer.endswith(INPUT_SUFFIX)
            first, last = self._spans[layer[: -len(INPUT_SUFFIX)] if is_input else layer]
            (starts.setdefault(first, []) if is_input else ends.setdefault(last, [])).append(layer)
        captured: dict[str, Any] = {}
        names = {index: name for index, (name, _) in enumerate(chain)}
        tensors = self._tensors(inputs)
        try:
            with torch.inference_mode():
                value: Any = tensors[0]
                for index, (_, unit) in enumerate(chain):
                    for key in starts.get(index, []):
                        captured[key] = value
                    value = unit(value)
                    first = value[0] if isinstance(value, tuple | list) else value
                    if hasattr(first, "shape"):
                        self._shapes[names[index]] = (None, *first.shape[1:])
                    for key in ends.get(index, []):
                        captured[key] = first
                reference = None if self._chain_checked else self.module(*tensors)
        except Exception as exc:
            shapes = ", ".join(f"{s.name}{tuple(a.shape)} {a.dtype}" for s, a in zip(self.inputs, inputs, strict=True))
            if _SHAPE_ERROR.search(str(exc)):
                raise ModelInputError(self._shape_message(exc, inputs, shapes)) from exc
            raise ModelError(f"the torch model failed on inputs {shapes}: {type(exc).__name__}: {exc}") from exc
        self._leaf_shapes_known = True
        if reference is not None:
            ran, _ = _to_list(value)
            expected, _ = _to_list(reference)
            if len(ran) != len(expected) or not all(
                a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6)
                for a, b in zip(ran, expected, strict=False)
            ):
                self._chain, self._spans = None, {}
                raise ModelError(
                    f"{self._what()}: running its modules one after the other does not give the output of its "
                    "forward, so its activations cannot be read without hooks (which TorchScript does not support); "
                    f"fix: {_UNREADABLE_FIX}"
                )
            self._chain_checked = True
        outs, out_names = _to_list(value)
        self._record_outputs(outs, out_names)
        acts = {k: v.detach().cpu().numpy() for k, v in captured.items()}
        for k, v in acts.items():
            self._shapes.setdefault(k, (None, *v.shape[1:]))
        return [o.detach().cpu().numpy() for o in outs], acts

    def _what(self) -> str:
        where = f" {self.source}" if self.source else ""
        return f"the TorchScript model{where} ({_type_name(self.module)})"

    def _readable(self, layer: str) -> bool:
        """Whether :meth:`activations` can give ``layer`` (always, except for most TorchScript modules)."""
        if not self.scripted:
            return True
        base = layer[: -len(INPUT_SUFFIX)] if layer.endswith(INPUT_SUFFIX) else layer
        return base in self._spans

    def _unreadable_message(self, layer: str) -> str:
        base = layer[: -len(INPUT_SUFFIX)] if layer.endswith(INPUT_SUFFIX) else layer
        if self._chain is None:
            why = (
                "its forward is not an nn.Sequential, which leapscope could run module by module instead"
                if _type_name(self.module) != "Sequential"
                else "running its modules one after the other did not give the output of its forward"
            )
        else:
            unit = next((name for name, _ in self._chain if base.startswith(name + ".")), None)
            why = (
                f"'{base}' lies inside '{unit}', a {_type_name(dict(self._chain)[unit])} module that runs as one step"
                if unit is not None
                else f"'{base}' is not one of the modules its nn.Sequential runs"
            )
        return (
            f"{self._what()} cannot give the activations of layer '{layer}': TorchScript modules take no forward "
            f"hooks, and {why}; fix: {_UNREADABLE_FIX}"
        )

    def resolve_layers(self, layers: Sequence[str]) -> list[str]:
        """Check layer names (:meth:`ModelWrapper.resolve_layers`); also refuses, with the fix, a layer of a
        TorchScript module whose activations cannot be read without hooks."""
        names = super().resolve_layers(layers)
        for name in names:
            if not self._readable(name):
                raise ModelError(self._unreadable_message(name))
        return names

    def default_latent_or_none(self) -> str | None:
        """The default latent layer, or ``None`` when there is none or the model cannot give it."""
        layer = super().default_latent_or_none()
        return layer if layer is not None and self._readable(layer) else None

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
        """The ``named_modules()`` leaves, with their class names (a TorchScript submodule's ``original_name``).

        Output shapes are the ones seen on the last forward pass; before any, an nn.Sequential that starts
        with an nn.Linear gets the shapes its weights give for (B, in_features) inputs, up to the first module
        whose output shape they do not fix."""
        static = _static_shapes(self.module) if not self._shapes else {}
        return [LayerInfo(name, _type_name(m), self._shapes.get(name, static.get(name))) for name, m in self._leaves()]

    def _accepts_layer(self, name: str) -> bool:
        modules = dict(self.module.named_modules())
        base = name[: -len(INPUT_SUFFIX)] if name.endswith(INPUT_SUFFIX) else name
        return bool(base) and base in modules

    def default_latent_layer(self) -> str:
        import torch

        linears = [name for name, m in self._leaves() if _is_a(m, torch.nn.Linear)]
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
            if _type_name(module) in UPSAMPLING_TYPES:
                break
            # a one-channel conv is an output head, not a feature map
            one_channel = getattr(module, "out_channels", getattr(module, "num_features", None)) == 1
            transposed = _is_a(module, torch.nn.modules.conv._ConvTransposeNd)
            if _is_a(module, feature) and not transposed and not one_channel:
                last = name
        return last

    def torch_module(self) -> Any:
        return self.module

    def activation_and_output(self, x: Any, layer: str, output: int = 0) -> tuple[Any, Any]:
        """As :meth:`ModelWrapper.activation_and_output`; a scripted nn.Sequential runs its modules one after
        the other (no hooks), any other TorchScript module is refused (:meth:`resolve_layers`)."""
        if not self.scripted:
            return super().activation_and_output(x, layer, output)
        self.resolve_layers([layer])
        if self._chain is not None and not self._chain_checked:
            self._forward_chain(self._chain, [x.detach().cpu().numpy()], [])  # checks the chain once
        if self._chain is None:  # the check found that running the modules in turn is not the forward
            raise ModelError(self._unreadable_message(layer))
        if layer not in self._spans:
            raise ModelError(f"explain: '{layer}' is the input of a layer; name a layer (`leapscope layers MODEL`)")
        last = self._spans[layer][1]
        value, act = x, None
        for index, (_, unit) in enumerate(self._chain):
            value = unit(value)
            if index == last:
                act = value[0] if isinstance(value, tuple | list) else value
        outs, _ = _to_list(value)
        return act, outs[output]


#: torch errors that mean "the input has the wrong shape for this model"
_SHAPE_ERROR = re.compile(
    r"mat1 and mat2 shapes cannot be multiplied|to have \d+ channels, but got|Expected \d+D .*input|"
    r"shape '\[[^\]]*\]' is invalid for input of size|size mismatch|must match the size of tensor|"
    r"input\.size\(-1\) must be equal to input_size|normalized_shape"
)
_MATMUL = re.compile(r"\((\d+)x(\d+) and (\d+)x(\d+)\)")
_CHANNELS = re.compile(r"to have (\d+) channels, but got (\d+) channels")


_UNREADABLE_FIX = (
    "return the nn.Module object from @ls.load_model (build the model in Python and load its weights with "
    "module.load_state_dict(torch.load('weights.pt')), saved with torch.save(model.state_dict(), 'weights.pt')), "
    "or export it to ONNX with torch.onnx.export (leapscope reads every ONNX layer), or store no latent "
    "space with --latent none"
)

#: modules whose output has the shape of their input (for the shapes of an nn.Sequential before a forward pass)
_SHAPE_PRESERVING = frozenset(
    {
        "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
        "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign", "Tanhshrink", "Softmax", "LogSoftmax",
        "Dropout", "AlphaDropout", "Identity", "BatchNorm1d", "LayerNorm",
    }
)  # fmt: skip


def _type_name(module: Any) -> str:
    """The class name of a module; a TorchScript module keeps its Python class's name in ``original_name``."""
    import torch

    if isinstance(module, torch.jit.ScriptModule):
        return str(getattr(module, "original_name", "") or type(module).__name__)
    return type(module).__name__


def _is_a(module: Any, classes: type | tuple[type, ...]) -> bool:
    """``isinstance``, and for a TorchScript module whether its ``original_name`` is a ``torch.nn`` class of
    ``classes``."""
    import torch

    if not isinstance(module, torch.jit.ScriptModule):
        return isinstance(module, classes)
    cls = getattr(torch.nn, _type_name(module), None)
    return isinstance(cls, type) and issubclass(cls, classes)


def _chain_units(module: Any) -> list[tuple[str, Any]] | None:
    """For an nn.Sequential (scripted or not): the modules it runs, in order, as ``(named_modules name,
    module)`` with nested nn.Sequentials expanded; ``None`` for any other module."""
    if _type_name(module) != "Sequential":
        return None

    def expand(prefix: str, container: Any) -> list[tuple[str, Any]]:
        units: list[tuple[str, Any]] = []
        for name, child in container.named_children():
            full = f"{prefix}{name}"
            units += expand(full + ".", child) if _type_name(child) == "Sequential" else [(full, child)]
        return units

    return expand("", module)


def _chain_spans(module: Any) -> dict[str, tuple[int, int]]:
    """Every module of an nn.Sequential chain (:func:`_chain_units`) and every non-empty nested nn.Sequential:
    name -> (index of its first unit, index of its last unit)."""
    units = _chain_units(module) or []
    spans = {name: (i, i) for i, (name, _) in enumerate(units)}
    for name, child in module.named_modules():
        if name and name not in spans and _type_name(child) == "Sequential":
            inside = [i for i, (unit, _) in enumerate(units) if unit.startswith(name + ".")]
            if inside:
                spans[name] = (inside[0], inside[-1])
    return spans


def _static_shapes(module: Any) -> dict[str, tuple[int | None, ...]]:
    """Output shapes of the first modules of an nn.Sequential that starts with an nn.Linear, from the weights,
    for (B, in_features) inputs; ``{}`` for any other module."""
    import torch

    units = _chain_units(module) or []
    if not units or not _is_a(units[0][1], torch.nn.Linear):
        return {}
    shapes: dict[str, tuple[int | None, ...]] = {}
    for name, unit in units:
        weight = getattr(unit, "weight", None)
        if _is_a(unit, torch.nn.Linear) and isinstance(weight, torch.Tensor) and weight.ndim == 2:
            shapes[name] = (None, int(weight.shape[0]))
        elif _type_name(unit) in _SHAPE_PRESERVING and shapes:
            shapes[name] = shapes[list(shapes)[-1]]
        else:
            break
    return shapes


def _params(module: Any) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return []


register_backend(
    Backend(
        "torch",
        (".pt", ".pth", ".pt2"),
        open_path=lambda path, layout, trust_code: TorchModel(load_torch_file(path), layout=layout, source=path),
        # a Keras 3 model on the torch backend is a torch.nn.Module too: the Keras backend wraps it
        accepts=lambda obj: defined_in(obj, "torch") and not defined_in(obj, "keras"),
        open_object=lambda obj, layout: TorchModel(obj, layout=layout),
    )
)
