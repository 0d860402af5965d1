"""Helpers that look through code-loader's wrappers: the user's function, labels, names, signatures, and
the conversion of metadata and metric values to leapscope's types.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np

from leapscope.sdk._builtins import ConfusionMatrixElement
from leapscope.sdk._decorators import Decorated

_CODE_LOADER_DIR: str | None = None


def _user_function(function: Any) -> Any:
    """The user's own function behind code-loader's wrappers (``__wrapped__`` or a closure cell)."""
    global _CODE_LOADER_DIR
    if _CODE_LOADER_DIR is None:
        import code_loader

        _CODE_LOADER_DIR = str(Path(code_loader.__file__).parent)
    for _ in range(8):
        code = getattr(function, "__code__", None)
        wrapped = getattr(function, "__wrapped__", None)
        if code is None and wrapped is not None:  # functools.lru_cache around code-loader's inner function
            function = wrapped
            continue
        if code is None or not code.co_filename.startswith(_CODE_LOADER_DIR):
            return function
        if wrapped is not None:
            function = wrapped
            continue
        cells = {n: c.cell_contents for n, c in zip(code.co_freevars, function.__closure__ or (), strict=False)}
        names = ("user_function", "encoder_function", "load_model_func", "function", "inner", "_cached_inner")
        nxt = next((cells[n] for n in names if callable(cells.get(n))), None)
        if nxt is None:
            return function
        function = nxt
    return function


def _from_code_loader(function: Any) -> bool:
    """Registered by a current ``@tensorleap_*`` decorator or one of code-loader's defaults."""
    _user_function(function)  # sets _CODE_LOADER_DIR
    code = getattr(function, "__code__", None)
    return bool(code and _CODE_LOADER_DIR and code.co_filename.startswith(_CODE_LOADER_DIR))


def _label(decorator: str, handler_name: str | None, function: Any) -> str:
    user = _user_function(function)
    named = f"('{handler_name}')" if handler_name else "()"
    return f"{getattr(user, '__name__', handler_name)} [@{decorator}{named}]"


def _locate(decorated: Decorated, function: Any, label: str) -> Decorated:
    user = _user_function(function)
    code = getattr(user, "__code__", None)
    decorated.__name__ = label
    if code is not None:
        decorated.filename, decorated.lineno = code.co_filename, code.co_firstlineno
    return decorated


_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def _name(name: str) -> str:
    clean = _NAME.sub("_", str(name)).strip("_")
    return clean or "unnamed"


def _signature(names: list[str]) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature(
        [inspect.Parameter(n if n.isidentifier() else f"arg_{i}", kind) for i, n in enumerate(names)]
    )


def _spr_arg(function: Any) -> str | None:
    from code_loader.utils import sample_preprocess_response_arg_name

    try:
        return sample_preprocess_response_arg_name(function)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - a function code-loader cannot inspect takes no such argument
        return None


SAMPLE_KEY = "tl_sample"

_DTYPES = {
    "tensor(float)": "float32",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "float32": "float32",
    "int64": "int64",
    "int32": "int32",
}


def _as_type(value: Any, dtype: str | None) -> Any:
    """A metadata value as its declared DatasetMetadataType; absent values (None, NaN, inf) stay None."""
    from code_loader.utils import is_absent_metadata_value

    if dtype is None:
        return value
    if is_absent_metadata_value(value):
        return None
    try:
        return {"int": int, "float": float, "str": str, "bool": bool}[dtype](value)
    except (TypeError, ValueError):
        return None  # code-loader stores it as missing too


class _Directions(dict):  # type: ignore[type-arg]
    """Per-key metric directions; keys code-loader was not told about default to 'lower' as there."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, "lower")


def _direction(value: Any) -> Any:
    if isinstance(value, dict):
        return _Directions({str(k): _direction(v) for k, v in value.items()})
    return "higher" if getattr(value, "value", value) == "Upward" else "lower"


def _metric_value(value: Any) -> Any:
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [
            [
                ConfusionMatrixElement(
                    str(e.label),
                    str(getattr(e.expected_outcome, "value", e.expected_outcome)) == "Positive",
                    float(e.predicted_probability),
                )
                for e in row
            ]
            for row in value
        ]
    if isinstance(value, list | tuple):
        return np.asarray([np.nan if v is None else float(v) for v in value], dtype=np.float32)
    arr = np.asarray(value)
    return arr.reshape(1) if arr.ndim == 0 else arr


def _metric_result(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _metric_value(v) for k, v in value.items()}
    return _metric_value(value)
