"""leapscope: debug, validate and explain trained deep-learning models, locally.

``import leapscope as ls`` gives the integration SDK (decorators, ``Subset``, visual
types); it imports numpy only. The heavier Python API (``check``, ``evaluate``,
``open_run``, ``analyze``) is imported on first use.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# Keras runs on torch in leapscope's process, also when TensorFlow is installed (leapscope[tensorflow]):
# whatever imports keras first (tf.keras, an integration) must find the backend already chosen.
os.environ.setdefault("KERAS_BACKEND", "torch")
# umap imports its TensorFlow-based ParametricUMAP (and so TensorFlow and Keras) when TensorFlow is
# installed; leapscope never uses it, so that import fails fast instead of costing seconds per process.
sys.modules.setdefault("umap.parametric_umap", None)  # type: ignore[arg-type]

from leapscope.exceptions import LeapscopeError as LeapscopeError  # noqa: E402
from leapscope.sdk import *  # noqa: F403, E402
from leapscope.sdk import __all__ as _sdk_all  # noqa: E402


def _version() -> str:
    """The installed distribution's version: pyproject.toml's ``version`` is the one source."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leapscope")
    except PackageNotFoundError:  # a source tree on sys.path without `pip install -e .`
        return "0.0.0+unknown"


__version__ = _version()

_API = {name: "leapscope.api" for name in ("analyze", "check", "evaluate", "launch", "load_integration", "open_run")}

#: the public names: the SDK, the error base class and the Python API (``__version__`` is there too)
__all__ = sorted([*_sdk_all, "LeapscopeError", *_API])


def __getattr__(name: str) -> Any:
    # The API pulls in onnxruntime/torch; keep `import leapscope` as light as the SDK.
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'leapscope' has no attribute {name!r}{_did_you_mean(name)}")


def _did_you_mean(name: str) -> str:
    """``"; did you mean ls.metric?"`` for a typo of a public name (difflib), ``""`` when none is close."""
    if name.startswith("__"):  # probes such as __wrapped__ or __path__: no suggestion
        return ""
    import difflib

    close = difflib.get_close_matches(name, __all__, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(f'ls.{match}' for match in close)}?" if close else ""
