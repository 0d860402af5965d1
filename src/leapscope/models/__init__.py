"""Open any supported model as one :class:`ModelWrapper`.

>>> from leapscope.models import open_model
>>> wrapper = open_model("examples/digits/model.onnx")      # doctest: +SKIP
>>> wrapper.predict([images])[0].shape                       # doctest: +SKIP
(N, 10)

Where each concept lives: :mod:`._base` (the ``ModelWrapper`` interface, tensor specs,
layouts, pooling), :mod:`._registry` (the backends and how a file or object finds one),
one module per backend (:mod:`._onnx` with :mod:`._onnx_torch` for its gradients,
:mod:`._keras`, :mod:`._torch`), each registering itself on import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leapscope.exceptions import ModelLoadError

# the backends register themselves on import
from leapscope.models import _keras, _onnx, _torch  # noqa: F401
from leapscope.models._base import LayerInfo, Layout, ModelWrapper, Pool, TensorSpec, infer_layout, pool_activation
from leapscope.models._registry import backend_for_object, backend_for_suffix, suffixes

__all__ = ["LayerInfo", "Layout", "ModelWrapper", "Pool", "TensorSpec", "infer_layout", "open_model", "pool_activation"]


def open_model(source: Any, *, layout: Layout | None = None, trust_code: bool = False) -> ModelWrapper:
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
            raise ModelLoadError(
                f"model file {path} does not exist; fix: check the path returned by @ls.load_model or --model"
            )
        backend = backend_for_suffix(path.suffix)
        if backend is None:
            raise ModelLoadError(
                f"unsupported model file {path.name!r}; supported: {', '.join(sorted(suffixes()))} "
                "(or return a torch.nn.Module / keras.Model / onnxruntime.InferenceSession object)"
            )
        return backend.open_path(path, layout, trust_code)
    backend = backend_for_object(source)
    if backend is None:
        raise ModelLoadError(
            f"cannot load a model from a {type(source).__name__}; return a path or a torch.nn.Module, keras.Model or "
            "onnxruntime.InferenceSession from @ls.load_model"
        )
    return backend.open_object(source, layout)
