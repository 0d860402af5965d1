"""The model backends: each backend module registers how it opens files and objects.

A :class:`Backend` names its file suffixes and a test for objects it wraps; :func:`open_model`
(``leapscope.models``) asks the registered backends in registration order; their ``accepts``
tests do not overlap (a Keras 3 model on the torch backend is also a ``torch.nn.Module``: the
torch backend leaves it to Keras). A new framework is one module that calls :func:`register_backend`
and is imported in ``leapscope/models/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapscope.models._base import Layout, ModelWrapper

__all__ = ["Backend", "backend_for_object", "backend_for_suffix", "backends", "register_backend", "suffixes"]


@dataclass(frozen=True)
class Backend:
    """How one framework's models are opened.

    Attributes
    ----------
    name : the framework (``ModelWrapper.framework``)
    suffixes : lower-case file suffixes it reads (``".onnx"``)
    open_path : ``(path, layout, trust_code) -> ModelWrapper``
    accepts : whether an in-memory object is one of this framework's models
    open_object : ``(object, layout) -> ModelWrapper``
    """

    name: str
    suffixes: tuple[str, ...]
    open_path: Callable[[Path, Layout | None, bool], ModelWrapper]
    accepts: Callable[[Any], bool]
    open_object: Callable[[Any, Layout | None], ModelWrapper]


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Add (or replace) a backend; returns it."""
    _BACKENDS[backend.name] = backend
    return backend


def backends() -> list[Backend]:
    """The registered backends, in registration order."""
    return list(_BACKENDS.values())


def suffixes() -> dict[str, str]:
    """Every readable file suffix and the backend that reads it."""
    return {suffix: b.name for b in _BACKENDS.values() for suffix in b.suffixes}


def backend_for_suffix(suffix: str) -> Backend | None:
    """The backend reading files ending in ``suffix`` (case-insensitive), if any."""
    return next((b for b in _BACKENDS.values() if suffix.lower() in b.suffixes), None)


def backend_for_object(obj: Any) -> Backend | None:
    """The first backend that accepts ``obj``, if any."""
    return next((b for b in _BACKENDS.values() if b.accepts(obj)), None)


def defined_in(obj: Any, package: str) -> bool:
    """Whether ``obj``'s class, or a base class, comes from ``package`` (``"torch"``, ``"keras"``)."""
    return type(obj).__module__.split(".")[0] == package or any(
        c.__module__.startswith(package) for c in type(obj).__mro__
    )
