"""Load any supported model into one :class:`ModelWrapper`.

>>> from leapscope.models import load
>>> wrapper = load("examples/digits/model.onnx")            # doctest: +SKIP
>>> wrapper.predict([images])[0].shape                       # doctest: +SKIP
(N, 10)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leapscope.exceptions import ModelLoadError
from leapscope.models._base import LayerInfo, Layout, ModelWrapper, Pool, TensorSpec, infer_layout, pool_activation

__all__ = ["LayerInfo", "Layout", "ModelWrapper", "Pool", "TensorSpec", "infer_layout", "load", "pool_activation"]

SUFFIXES = {".onnx": "onnx", ".h5": "keras", ".hdf5": "keras", ".keras": "keras", ".pt": "torch", ".pth": "torch", ".pt2": "torch"}


def load(source: Any, *, layout: Layout | None = None, trust_code: bool = False) -> ModelWrapper:
    """Wrap a model file or object.

    Parameters
    ----------
    source : path or object
        ``.onnx``; ``.h5``/``.keras`` (Keras 3 or tf.keras 2); ``.pt``/``.pth``
        (TorchScript) or ``.pt2`` (``torch.export``); or a ``torch.nn.Module``,
        ``keras.Model``, ``onnxruntime.InferenceSession`` or a ``ModelWrapper``.
    layout : {"NCHW", "NHWC"}, optional
        Channel layout of 4-D inputs; inferred from the shapes (and logged) if not given.
    trust_code : bool, default False
        Allow Keras files with ``Lambda`` layers (their code runs on load).

    Raises
    ------
    ModelLoadError
        Missing file, unsupported suffix or object, unreadable model.
    """
    if isinstance(source, ModelWrapper):
        return source
    if isinstance(source, str | Path):
        path = Path(source).expanduser()
        if not path.exists():
            raise ModelLoadError(f"model file {path} does not exist; fix: check the path returned by @ls.load_model or --model")
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise ModelLoadError(
                f"unsupported model file {path.name!r}; supported: {', '.join(sorted(SUFFIXES))} "
                "(or return a torch.nn.Module / keras.Model / onnxruntime.InferenceSession object)"
            )
        if kind == "onnx":
            from leapscope.models._onnx import OnnxModel

            return OnnxModel(path, layout=layout)
        if kind == "keras":
            from leapscope.models._keras import KerasModel

            return KerasModel(path, layout=layout, trust_code=trust_code)
        from leapscope.models._torch import TorchModel, load_torch_file

        return TorchModel(load_torch_file(path), layout=layout)
    module = type(source).__module__.split(".")[0]
    if module == "onnxruntime":
        from leapscope.models._onnx import OnnxModel

        return OnnxModel(source, layout=layout)
    if module == "keras" or _is_keras(source):
        from leapscope.models._keras import KerasModel

        return KerasModel(source, layout=layout)
    if module == "torch" or _is_torch(source):
        from leapscope.models._torch import TorchModel

        return TorchModel(source, layout=layout)
    raise ModelLoadError(
        f"cannot load a model from a {type(source).__name__}; return a path or a torch.nn.Module, keras.Model or "
        "onnxruntime.InferenceSession from @ls.load_model"
    )


def _is_keras(obj: Any) -> bool:
    return any(c.__module__.startswith("keras") for c in type(obj).__mro__)


def _is_torch(obj: Any) -> bool:
    return any(c.__module__.startswith("torch") for c in type(obj).__mro__)
