"""Keras models (Keras 3 on the torch backend; no TensorFlow).

Reads Keras 3 ``.keras`` and ``.h5`` files and legacy tf.keras 2 ``.h5`` files.
Keras must run on the torch backend: ``KERAS_BACKEND=torch`` is set before keras is
first imported.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from leapscope.exceptions import ModelError, ModelLoadError
from leapscope.models._base import LayerInfo, Layout, ModelWrapper, TensorSpec, deepest_spatial_layer, infer_layout
from leapscope.models._registry import Backend, defined_in, register_backend

__all__ = ["KerasModel", "import_keras"]

logger = logging.getLogger("leapscope.models")


def import_keras() -> Any:
    """Import keras on the torch backend.

    Raises
    ------
    ModelLoadError
        keras was already imported with another backend in this process.
    """
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    backend = keras.backend.backend()
    if backend != "torch":
        raise ModelLoadError(
            f"keras runs on the '{backend}' backend in this process; leapscope needs 'torch'. Fix: set "
            "KERAS_BACKEND=torch before anything imports keras"
        )
    return keras


def _legacy_objects(keras: Any) -> dict[str, Any]:
    """Layers that accept arguments tf.keras 2 wrote but Keras 3 dropped (RNN ``time_major``)."""

    def compat(base: type) -> type:
        class Compat(base):  # type: ignore[misc]
            def __init__(self, *args: Any, time_major: bool = False, **kwargs: Any):
                if time_major:
                    raise ModelLoadError(f"{base.__name__} with time_major=True is not supported by Keras 3")
                super().__init__(*args, **kwargs)

        Compat.__name__ = base.__name__
        return Compat

    return {name: compat(getattr(keras.layers, name)) for name in ("LSTM", "GRU", "SimpleRNN")}


def _model_config(path: Path) -> Any:
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("config.json"))
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        return None
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _has_lambda(config: Any) -> bool:
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            return True
        return any(_has_lambda(v) for v in config.values())
    if isinstance(config, list):
        return any(_has_lambda(v) for v in config)
    return False


class KerasModel(ModelWrapper):
    """A Keras 3 model run on the torch backend. Activations are NHWC (channels last)."""

    framework = "keras"
    internal_layout = "NHWC"

    def __init__(self, source: str | Path | Any, *, layout: Layout | None = None, trust_code: bool = False):
        keras = import_keras()
        if isinstance(source, str | Path):
            path = Path(source)
            try:
                config = _model_config(path)
            except Exception as exc:
                raise ModelLoadError(f"cannot read Keras model {path}: {type(exc).__name__}: {exc}") from exc
            if _has_lambda(config) and not trust_code:
                raise ModelLoadError(
                    f"{path} contains a Lambda layer, whose Python code would run when the file is loaded; "
                    "leapscope refuses it by default. Fix: if you trust the file, load it with "
                    "leapscope.models.open_model(path, trust_code=True)"
                )
            try:
                model = keras.saving.load_model(
                    str(path), compile=False, safe_mode=not trust_code, custom_objects=_legacy_objects(keras)
                )
            except Exception as exc:
                raise ModelLoadError(f"cannot load Keras model {path}: {type(exc).__name__}: {exc}") from exc
        else:
            model = source
        self.model = model
        self.inputs = [
            TensorSpec(
                _tensor_name(t, f"input_{i}"),
                tuple(t.shape),
                str(t.dtype),
                infer_layout(tuple(t.shape), layout, what=f"keras input '{_tensor_name(t, i)}'")
                or ("NHWC" if len(t.shape) == 4 else None),
            )
            for i, t in enumerate(model.inputs)
        ]
        self.outputs = [
            TensorSpec(_tensor_name(t, f"output_{i}"), tuple(t.shape), str(t.dtype))
            for i, t in enumerate(model.outputs)
        ]
        self._submodels: dict[tuple[str, ...], Any] = {}

    def _call(self, model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            out = model(_structured(model, inputs), training=False)
        outs = out if isinstance(out, list | tuple) else [out]
        return [np.asarray(o.detach().cpu().numpy() if hasattr(o, "detach") else o) for o in outs]

    def _predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self._call(self.model, inputs)

    def _forward_with(
        self, inputs: list[np.ndarray], layers: list[str]
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        key = tuple(dict.fromkeys(layers))
        sub = self._submodels.get(key)
        if sub is None:
            keras = import_keras()
            sub = keras.Model(self.model.inputs, [*self.model.outputs, *(self.model.get_layer(n).output for n in key)])
            self._submodels[key] = sub
        results = self._call(sub, inputs)
        n = len(self.outputs)
        acts = dict(zip(key, results[n:], strict=True))
        return results[:n], {layer: acts[layer] for layer in layers}

    def layers(self) -> list[LayerInfo]:
        out = []
        for layer in self.model.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            try:
                shape = tuple(layer.output.shape)
            except (AttributeError, ValueError):
                shape = None
            out.append(LayerInfo(layer.name, type(layer).__name__, shape))
        return out

    def default_latent_layer(self) -> str:
        """The input of the last Dense layer; without one, the deepest 4-D feature map (pooled) before the
        first upsampling layer (:func:`~leapscope.models._base.deepest_spatial_layer`)."""
        keras = import_keras()
        dense = [layer for layer in self.model.layers if isinstance(layer, keras.layers.Dense)]
        if not dense:
            spatial = deepest_spatial_layer(self.layers(), "NHWC")
            if spatial is not None:
                logger.info("no Dense layer: the default latent space is the deepest feature map %s (pooled)", spatial)
                return spatial
            raise ModelError(
                "the Keras model has no Dense layer and no 4-D feature map, so no default latent layer; fix: name "
                "one with --latent LAYER (`leapscope layers MODEL` lists them)"
            )
        last = dense[-1]
        try:
            parent = last._inbound_nodes[0].input_tensors[0]._keras_history.operation
            if type(parent).__name__ != "InputLayer":
                return str(parent.name)
        except (AttributeError, IndexError):
            pass
        names = [layer.name for layer in self.layers()]
        position = names.index(last.name)
        if position == 0:
            raise ModelError(
                f"the last Dense layer '{last.name}' is the first layer; fix: name a latent layer with --latent"
            )
        return names[position - 1]

    def activation_and_output(self, x: Any, layer: str, output: int = 0) -> tuple[Any, Any]:
        """The layer's NHWC activation and the output from one differentiable call of a Keras
        sub-model (Keras layers are addressed by name, not as torch modules)."""
        keras = import_keras()
        sub = keras.Model(self.model.inputs, [self.model.get_layer(layer).output, self.model.outputs[output]])
        act, out = sub(x, training=False)
        return act, out

    def torch_module(self) -> Any:
        import torch

        model = self.model

        class KerasTorchView(torch.nn.Module):
            """Calls the Keras model (a torch module on this backend) with training=False."""

            def __init__(self) -> None:
                super().__init__()
                self.keras_model = model

            def forward(self, *inputs: torch.Tensor) -> Any:
                out = self.keras_model(_structured(self.keras_model, list(inputs)), training=False)
                return tuple(out) if isinstance(out, list | tuple) else out

        return KerasTorchView().eval()


def _structured(model: Any, inputs: list[Any]) -> Any:
    # a functional model warns (and may mis-route) unless inputs match the structure it was built with
    if len(inputs) == 1 and not isinstance(getattr(model, "_inputs_struct", None), list | tuple):
        return inputs[0]
    return list(inputs)


def _tensor_name(tensor: Any, default: Any) -> str:
    # an output tensor is best named by the layer that produced it ("classes", not "keras_tensor_11")
    history = getattr(tensor, "_keras_history", None)
    name = getattr(getattr(history, "operation", None), "name", None) or getattr(tensor, "name", None)
    return str(name) if name else str(default)


register_backend(
    Backend(
        "keras",
        (".h5", ".hdf5", ".keras"),
        open_path=lambda path, layout, trust_code: KerasModel(path, layout=layout, trust_code=trust_code),
        accepts=lambda obj: defined_in(obj, "keras"),
        open_object=lambda obj, layout: KerasModel(obj, layout=layout),
    )
)
