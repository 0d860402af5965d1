"""Numpy code on torch tensors, keeping the gradient: how a custom numpy loss is differentiated.

A loss written for numpy (every Tensorleap / code-loader loss is) receives :class:`NumpyTensor`
values: torch tensors whose numpy calls run as torch operations through ``torch._numpy``
(torch's own numpy-API implementation over tensors, the one ``torch.compile`` uses for numpy
code). What numpy code writes then keeps its meaning and its gradient:

- numpy functions and ufuncs (``np.sum(x, axis=1, keepdims=True)``, ``np.log``, ``np.clip``,
  ``np.where``, ``np.expand_dims``, ``np.maximum``, ``np.add.reduce``...), through
  ``__array_function__`` / ``__array_ufunc__``;
- the ndarray methods whose torch namesakes differ or are missing (``.astype(np.float32)``,
  ``.max(axis=1)``, ``.std()``, ``.transpose(0, 2, 3, 1)``, ``.squeeze(axis)``, ``.repeat``,
  ``.copy()``, ``.sum(dtype=...)``: :data:`NUMPY_METHODS`), and ``.size`` as a number;
- ``np.asarray`` / ``np.array`` / ``np.asanyarray`` / ``np.ascontiguousarray`` of a tensor (or of a
  list of them) with an optional dtype, while :func:`numpy_on_torch` is active (numpy has no
  protocol for these, so they are routed for the duration of the call; any other argument goes
  to numpy unchanged);
- arithmetic, comparisons, indexing and broadcasting, which torch tensors do as numpy does.

An operation that cannot run this way raises :class:`UnsupportedOperation`, which names it
(``np.NAME``, ``.NAME()``); :func:`failure_reason` turns any failure into words that name the
operation and the line of the user's code where it happened.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = [
    "NUMPY_METHODS",
    "UnsupportedOperation",
    "available",
    "failure_reason",
    "numpy_on_torch",
    "numpy_tensor",
    "plain",
]

#: ndarray methods that run with numpy's meaning (torch's namesake differs, e.g. ``max(axis=)`` returning
#: indices, ``std`` being unbiased, ``transpose`` swapping two axes, ``repeat`` tiling; or is missing)
NUMPY_METHODS: tuple[str, ...] = (
    "all",
    "any",
    "argmax",
    "argmin",
    "argsort",
    "astype",
    "clip",
    "copy",
    "cumprod",
    "cumsum",
    "diagonal",
    "dot",
    "flatten",
    "max",
    "mean",
    "min",
    "nonzero",
    "prod",
    "ravel",
    "repeat",
    "reshape",
    "round",
    "squeeze",
    "std",
    "sum",
    "swapaxes",
    "take",
    "transpose",
    "var",
)

#: numpy keyword names that torch._numpy spells differently, per function
_KEYWORDS = {"clip": {"a_min": "min", "a_max": "max"}, "reshape": {"shape": "newshape"}}

#: ``np.UFUNC.reduce`` / ``.accumulate`` as the torch._numpy function that does the same
_UFUNC_METHODS = {
    ("add", "reduce"): "sum",
    ("multiply", "reduce"): "prod",
    ("maximum", "reduce"): "max",
    ("minimum", "reduce"): "min",
    ("logical_and", "reduce"): "all",
    ("logical_or", "reduce"): "any",
    ("add", "accumulate"): "cumsum",
    ("multiply", "accumulate"): "cumprod",
}

#: the array constructors routed while :func:`numpy_on_torch` is active, and whether each copies
_CONSTRUCTORS = {"asarray": False, "asanyarray": False, "ascontiguousarray": False, "array": True}

#: reductions whose numpy dispatch looks at their first argument only, so a python list of tensors
#: (``np.mean([iou_a, iou_b], axis=0)``) is stacked into one first while :func:`numpy_on_torch` is active
_LIST_REDUCTIONS = ("mean", "sum", "prod", "max", "min", "amax", "amin", "std", "var", "average", "median")


class UnsupportedOperation(Exception):
    """A numpy operation that cannot run on torch tensors; ``operation`` names it (``np.where``, ``.tolist()``)."""

    def __init__(self, operation: str, why: str):
        super().__init__(f"{operation}: {why}")
        self.operation = operation
        self.why = why


def available() -> bool:
    """Whether this torch has ``torch._numpy`` (2.1 and newer)."""
    return _tnp() is not None


def _tnp() -> Any:
    try:
        import torch._numpy as tnp
    except ImportError:  # an older / stripped torch: plain tensors only
        return None
    return tnp


def _dtype(value: Any) -> Any:
    """A numpy dtype / scalar type / python type as the name torch._numpy takes; anything else as it is."""
    if isinstance(value, np.dtype) or (isinstance(value, type) and (issubclass(value, np.generic) or value in _PY)):
        return np.dtype(value).name
    if isinstance(value, str):
        try:
            return np.dtype(value).name
        except TypeError:
            return value
    return value


_PY = (float, int, bool, complex)


def plain(value: Any) -> Any:
    """``value`` with every :class:`NumpyTensor` (also inside tuples / lists) as a plain torch tensor."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.as_subclass(torch.Tensor)
    if isinstance(value, tuple | list):
        return type(value)(plain(v) for v in value)
    return value


def _argument(value: Any) -> Any:
    """A call argument as torch._numpy takes it: plain tensors and dtype names."""
    if isinstance(value, tuple | list):
        return type(value)(_argument(v) for v in value)
    return _dtype(plain(value))


def _wrap(value: Any) -> Any:
    """A torch._numpy result (array, tuple of arrays, tensor) as :class:`NumpyTensor` values."""
    import torch

    tnp = _tnp()
    if isinstance(value, tnp.ndarray):
        return value.tensor.as_subclass(_class())
    if isinstance(value, torch.Tensor):
        return value.as_subclass(_class())
    if isinstance(value, tuple | list):
        return type(value)(_wrap(v) for v in value)
    return value


def _run(operation: str, fn: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return _wrap(fn(*_argument(tuple(args)), **{k: _argument(v) for k, v in kwargs.items()}))
    except UnsupportedOperation:
        raise
    except Exception as exc:  # torch._numpy's own errors (NotImplementedError, TypeError...), named
        raise UnsupportedOperation(operation, f"{type(exc).__name__}: {str(exc)[:160]}") from exc


def _function(name: str, args: Any, kwargs: dict[str, Any], label: str | None = None) -> Any:
    """numpy function ``name`` run by torch._numpy."""
    operation = label or f"np.{name}"
    fn = getattr(_tnp(), name, None) or _EXTRA_FUNCTIONS.get(name)
    if fn is None or not callable(fn):
        raise UnsupportedOperation(operation, "torch's numpy layer (torch._numpy) has no such function")
    renames = _KEYWORDS.get(name, {})
    return _run(operation, fn, args, {renames.get(k, k): v for k, v in kwargs.items()})


def _nan_reduction(name: str) -> Callable[..., Any]:
    """numpy's ``nanmean`` / ``nansum`` (torch._numpy has neither) as torch's namesake."""

    def reduce(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        import torch

        tensor = torch.as_tensor(a)
        if dtype is not None:
            tensor = tensor.to(getattr(torch, np.dtype(dtype).name))
        function = getattr(torch, name)
        return function(tensor) if axis is None else function(tensor, dim=axis, keepdim=keepdims)

    return reduce


#: numpy functions torch._numpy lacks that torch has (same meaning)
_EXTRA_FUNCTIONS: dict[str, Callable[..., Any]] = {name: _nan_reduction(name) for name in ("nanmean", "nansum")}


def _method(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        array = _tnp().ndarray(plain(self))
        return _run(f".{name}()", getattr(array, name), args, kwargs)

    method.__name__ = name
    return method


class _Size(int):
    """``x.size``: numpy's element count (an int), still callable as torch's ``x.size()`` / ``x.size(dim)``."""

    tensor: Any

    def __new__(cls, tensor: Any) -> _Size:
        size = super().__new__(cls, tensor.numel())
        size.tensor = tensor
        return size

    def __call__(self, dim: int | None = None) -> Any:
        import torch

        return torch.Tensor.size(self.tensor) if dim is None else torch.Tensor.size(self.tensor, dim)


_CLASS: list[type] = []


def _class() -> type:
    """:class:`NumpyTensor`, made once (it subclasses ``torch.Tensor``, imported lazily)."""
    if _CLASS:
        return _CLASS[0]
    import torch

    def array_function(self: Any, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return _function(func.__name__, args, kwargs)

    def array_ufunc(self: Any, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__":
            return _function(ufunc.__name__, inputs, kwargs)
        name = _UFUNC_METHODS.get((ufunc.__name__, method))
        if name is None:
            raise UnsupportedOperation(f"np.{ufunc.__name__}.{method}", "this ufunc method has no torch version")
        return _function(name, inputs, kwargs, label=f"np.{ufunc.__name__}.{method}")

    def size(self: Any) -> _Size:
        return _Size(self)

    namespace: dict[str, Any] = {
        "__doc__": "A torch tensor that numpy code can use as an ndarray (see the module docstring).",
        "__array_function__": array_function,
        "__array_ufunc__": array_ufunc,
        "size": property(size),
        **{name: _method(name) for name in NUMPY_METHODS},
    }
    cls = type("NumpyTensor", (torch.Tensor,), namespace)
    _CLASS.append(cls)
    return cls


def numpy_tensor(value: Any) -> Any:
    """A torch tensor as a :class:`NumpyTensor`."""
    return value.as_subclass(_class())


def _has_tensor(value: Any) -> bool:
    """Whether ``value`` is (or a list holds) a :class:`NumpyTensor`, in a thread running :func:`numpy_on_torch`:
    only those calls are routed; any other (another thread's, a plain tensor) goes to numpy as it always does."""
    if threading.get_ident() not in _THREADS:
        return False
    return _holds(value)


def _holds(value: Any) -> bool:
    if isinstance(value, _class()):
        return True
    return isinstance(value, tuple | list) and any(_holds(v) for v in value)


def _as_tensor(value: Any) -> Any:
    """A tensor, or a (nested) list of tensors and numbers, as one plain tensor (lists stacked, types promoted)."""
    import torch

    if isinstance(value, torch.Tensor):
        return plain(value)
    if isinstance(value, tuple | list) and _has_tensor(value):
        parts = [_as_tensor(v) for v in value]
        dtype = parts[0].dtype
        for p in parts[1:]:
            dtype = torch.promote_types(dtype, p.dtype)
        return torch.stack([p.to(dtype) for p in parts])
    return torch.as_tensor(np.asarray(value))


def _constructor(name: str, original: Callable[..., Any], copies: bool) -> Callable[..., Any]:
    def construct(a: Any, *args: Any, **kwargs: Any) -> Any:
        if not _has_tensor(a):
            return original(a, *args, **kwargs)
        dtype = kwargs.get("dtype", args[0] if args else None)
        tensor = _as_tensor(a)
        if copies and kwargs.get("copy", True) is not False:
            tensor = tensor.clone()
        result = numpy_tensor(tensor)
        return result.astype(dtype) if dtype is not None else result

    construct.__name__ = name
    construct.__doc__ = original.__doc__
    construct.__wrapped__ = original  # type: ignore[attr-defined]
    return construct


def _reduction(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def reduce(a: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(a, tuple | list) and _has_tensor(a):
            a = numpy_tensor(_as_tensor(a))
        return original(a, *args, **kwargs)

    reduce.__name__ = name
    reduce.__doc__ = original.__doc__
    reduce.__wrapped__ = original  # type: ignore[attr-defined]
    return reduce


def _routed() -> dict[str, Callable[..., Any]]:
    """The numpy functions :func:`numpy_on_torch` replaces, by name, made from numpy's own."""
    routed = {name: _constructor(name, getattr(np, name), copies) for name, copies in _CONSTRUCTORS.items()}
    routed.update({name: _reduction(name, getattr(np, name)) for name in _LIST_REDUCTIONS if hasattr(np, name)})
    return routed


_LOCK = threading.Lock()
_ACTIVE = [0]
_SAVED: dict[str, Any] = {}
#: the threads inside :func:`numpy_on_torch`, with their depth
_THREADS: dict[int, int] = {}


@contextlib.contextmanager
def numpy_on_torch() -> Iterator[None]:
    """While active, ``np.asarray`` / ``np.array`` / ``np.asanyarray`` / ``np.ascontiguousarray`` of a tensor give a
    :class:`NumpyTensor` (a cast with ``dtype=``) instead of failing on a tensor that requires grad, and
    ``np.mean`` / ``np.sum``... (:data:`_LIST_REDUCTIONS`) of a python list of tensors stack it first. Any other
    argument goes to numpy's own function, so other code running meanwhile sees no difference. Re-entrant."""
    with _LOCK:
        if _ACTIVE[0] == 0:
            for name, function in _routed().items():
                _SAVED[name] = getattr(np, name)
                setattr(np, name, function)
        _ACTIVE[0] += 1
        me = threading.get_ident()
        _THREADS[me] = _THREADS.get(me, 0) + 1
    try:
        yield
    finally:
        with _LOCK:
            _THREADS[me] -= 1
            if not _THREADS[me]:
                del _THREADS[me]
            _ACTIVE[0] -= 1
            if _ACTIVE[0] == 0:
                for name, original in _SAVED.items():
                    setattr(np, name, original)
                _SAVED.clear()


def _library_roots() -> tuple[str, ...]:
    """Folders whose frames are never 'the user's line': numpy, torch, code-loader, leapscope."""
    import torch

    import leapscope

    roots = [os.path.dirname(np.__file__), os.path.dirname(torch.__file__), os.path.dirname(leapscope.__file__)]
    try:
        import code_loader

        roots.append(os.path.dirname(code_loader.__file__))
    except ImportError:  # no Tensorleap integration on this machine
        pass
    return tuple(os.path.join(r, "") for r in roots)


def _user_line(exc: BaseException) -> str | None:
    """``file:line (`source`)`` of the innermost frame of ``exc`` in the user's own code, if any."""
    roots = _library_roots()
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(roots) or frame.filename.startswith("<"):
            continue
        found = frame
    if found is None:
        return None
    source = (found.line or linecache.getline(found.filename, found.lineno or 0)).strip()
    where = f"{os.path.basename(found.filename)}:{found.lineno}, in {found.name}"
    return f"{where} (`{source[:100]}`)" if source else where


def _operation(exc: BaseException) -> str:
    """The failed operation of ``exc``, in words."""
    if isinstance(exc, UnsupportedOperation):
        return f"{exc.operation} failed on torch tensors ({exc.why})"
    text = str(exc)
    if isinstance(exc, AttributeError) and "NumpyTensor" in text:
        name = text.rsplit("attribute", 1)[-1].strip(" '\"")
        return f".{name} is a numpy array attribute with no torch version"
    if "numpy()" in text and "requires grad" in text:
        return (
            "a step turns the prediction into a plain numpy array, which drops its gradient (float(), .item(), "
            ".tolist(), a python list of arrays passed to np.mean/np.sum (stack it first: np.stack), or a library "
            "outside numpy such as scipy)"
        )
    return f"{type(exc).__name__}: {text[:160]}"


def failure_reason(exc: BaseException) -> str:
    """Why calling a numpy loss on tensors failed: the operation, and where in the user's code."""
    where = _user_line(exc)
    return _operation(exc) + (f" at {where}" if where else "")
