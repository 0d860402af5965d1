"""ONNX -> torch conversion (onnx2torch) for gradients, checked against onnxruntime.

onnx2torch imports torchvision at import time for its NMS/RoiAlign converters;
torchvision does not import here, so a stand-in module is put in place for the
duration of that import: converting a graph that uses those ops then fails with a
clear message, and every other graph converts normally.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from leapscope.exceptions import ModelError
from leapscope.models._base import TensorSpec

if TYPE_CHECKING:
    import onnx
    import torch

#: a model's inference: one batched array per input in, one per output out
Predict = Callable[[list[np.ndarray]], list[np.ndarray]]

__all__ = ["convert_checked", "import_onnx2torch"]

logger = logging.getLogger("leapscope.models")

PROBE_SEED = 0
#: max |torch - onnxruntime| allowed, relative to the output's scale
PARITY_RTOL = 1e-3


def _unavailable(name: str) -> Any:
    def fn(*args: Any, **kwargs: Any) -> Any:
        raise ModelError(
            f"torchvision.ops.{name} is not available (torchvision is not installed), so this ONNX graph cannot be "
            "converted to torch; inference and activations still run in onnxruntime"
        )

    return fn


@contextlib.contextmanager
def _torchvision_standin() -> Iterator[None]:
    try:
        importlib.import_module("torchvision")
        usable = True
    except Exception:  # noqa: BLE001 - a broken torchvision raises anything; both mean "use the stand-in"
        usable = False
    if usable:  # yield outside the try: an error raised in the body must not fall into the except above
        yield
        return
    saved = {k: sys.modules[k] for k in list(sys.modules) if k == "torchvision" or k.startswith("torchvision.")}
    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    for name in ("nms", "roi_align", "box_convert", "batched_nms"):
        setattr(ops, name, _unavailable(name))
    tv.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = tv, ops
    try:
        yield
    finally:
        # keep the stand-in out of sys.modules so other libraries see torchvision as absent
        for key in ("torchvision", "torchvision.ops"):
            sys.modules.pop(key, None)
        sys.modules.update(saved)


_REGISTERED = False


def import_onnx2torch() -> Any:
    """Import onnx2torch (with the torchvision stand-in) and add our converters once."""
    global _REGISTERED
    with _torchvision_standin():
        try:
            import onnx2torch
        except ImportError as exc:
            raise ModelError(
                "import_onnx2torch: onnx2torch (converts the ONNX model to torch for gradient attribution) "
                "is not installed; fix: pip install --no-deps onnx2torch==1.5.15 (--no-deps: its torchvision "
                "requirement would pull a CUDA build of torch)"
            ) from exc
    if not _REGISTERED:
        _register_converters()
        _REGISTERED = True
    return onnx2torch


def _register_converters() -> None:
    import torch
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription, add_converter
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    class GlobalMaxPool(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.amax(x, dim=tuple(range(2, x.dim())), keepdim=True)

    if OperationDescription("", "GlobalMaxPool", 1) not in _CONVERTER_REGISTRY:

        @add_converter(operation_type="GlobalMaxPool", version=1)  # type: ignore[untyped-decorator]
        def _global_max_pool(node: Any, graph: Any) -> Any:
            return OperationConverterResult(torch_module=GlobalMaxPool(), onnx_mapping=onnx_mapping_from_node(node))

    _alias_newer_opset_versions(_CONVERTER_REGISTRY, OperationDescription)


def _alias_newer_opset_versions(registry: dict[Any, Any], description: Any) -> None:
    """Let the newest converter of an op also serve the op's later opset versions.

    onnx2torch 1.5 stops at opset ~17, while torch's exporters write opset 18-20,
    where most ops changed only by accepting more tensor types (Shape-19,
    Reshape-19, ...). Reusing the newest converter is safe because every
    conversion is compared with onnxruntime on a probe batch before it is used.
    """
    from onnx import defs

    newest: dict[tuple[str, str], int] = {}
    for desc in registry:
        key = (desc.domain, desc.operation_type)
        newest[key] = max(newest.get(key, 0), desc.version)
    for schema in defs.get_all_schemas_with_history():
        key = (schema.domain, schema.name)
        if key in newest and schema.since_version > newest[key]:
            alias = description(schema.domain, schema.name, schema.since_version)
            registry.setdefault(alias, registry[description(key[0], key[1], newest[key])])


def _fix_reshape_allowzero(proto: onnx.ModelProto) -> int:
    """Set Reshape ``allowzero`` 1 -> 0 where the target shape is a constant without zeros.

    The dynamo exporter writes ``allowzero=1``, which onnx2torch refuses; the
    attribute only changes the meaning of a 0 in the shape, so with no 0 it is
    safe to drop. Returns how many nodes were changed.
    """
    from onnx import numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].HasField("t"):
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    changed = 0
    for node in proto.graph.node:
        if node.op_type != "Reshape":
            continue
        for attr in node.attribute:
            if attr.name == "allowzero" and attr.i == 1:
                shape = constants.get(node.input[1])
                if shape is not None and not np.any(shape == 0):
                    attr.i = 0
                    changed += 1
    return changed


def _probe(inputs: Sequence[TensorSpec]) -> list[np.ndarray]:
    """A seeded random batch for ``inputs`` (dynamic axes: batch 2, others 1)."""
    rng = np.random.default_rng(PROBE_SEED)
    arrays = []
    for spec in inputs:
        shape = [d if d is not None else (2 if i == 0 else 1) for i, d in enumerate(spec.shape or (2,))]
        if np.dtype(spec.dtype).kind in "iu":
            arrays.append(rng.integers(0, 256, size=shape).astype(spec.dtype))
        else:
            arrays.append(rng.random(size=shape, dtype=np.float32).astype(spec.dtype))
    return arrays


#: sub-folder of the leapscope cache (``$LEAPSCOPE_CACHE_DIR`` or ``~/.cache/leapscope``) holding
#: onnxscript-optimized graphs, one ``<sha256 of the model>.onnx`` each
OPTIMIZED_CACHE = "onnx2torch-optimized"


def _optimized_path(proto: onnx.ModelProto) -> Path | None:
    """Where the optimized graph of ``proto`` is cached (``None`` when no cache folder can be made)."""
    from leapscope.sdk._runtime import cache_dir

    try:
        folder = cache_dir(OPTIMIZED_CACHE)
    except OSError:
        return None
    return folder / f"{hashlib.sha256(proto.SerializeToString()).hexdigest()}.onnx"


def _load_optimized(path: Path | None) -> onnx.ModelProto | None:
    """The cached optimized graph (a plain ONNX protobuf: data, never code), or ``None``."""
    import onnx

    if path is None or not path.is_file():
        return None
    try:
        return onnx.load(str(path))
    except Exception:  # noqa: BLE001 - a truncated or foreign file is just a cache miss
        return None


def _store_optimized(path: Path | None, optimized: onnx.ModelProto) -> None:
    """Write the optimized graph atomically (a failure to cache is not an error)."""
    if path is None:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(optimized.SerializeToString())
        os.replace(tmp, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _convert(proto: onnx.ModelProto) -> torch.nn.Module:
    """onnx2torch's module of ``proto``; when the graph does not convert as is, of its onnxscript-optimized
    form (optimizing a big graph such as PP-OCRv4's takes ~20 s, so that form is cached on disk by the
    model's sha256 and the next process converts it directly)."""
    onnx2torch = import_onnx2torch()
    import onnx

    work = onnx.ModelProto()
    work.CopyFrom(proto)
    _fix_reshape_allowzero(work)
    cached_path = _optimized_path(proto)
    cached = _load_optimized(cached_path)
    if cached is not None:
        try:
            return cast("torch.nn.Module", onnx2torch.convert(cached).eval())
        except Exception:  # noqa: BLE001 - a stale cache entry: convert from scratch below
            cached = None
    try:
        return cast("torch.nn.Module", onnx2torch.convert(work).eval())
    except Exception as first:  # noqa: BLE001 - onnx2torch raises NotImplementedError, KeyError, ...
        try:
            import onnxscript.optimizer

            optimized = onnxscript.optimizer.optimize(work)
            _fix_reshape_allowzero(optimized)
            module = cast("torch.nn.Module", onnx2torch.convert(optimized).eval())
        except Exception:  # noqa: BLE001
            raise first from None
        _store_optimized(cached_path, optimized)
        return module


def convert_checked(
    proto: onnx.ModelProto, predict: Predict, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]
) -> tuple[torch.nn.Module | None, str | None]:
    """Convert with onnx2torch and compare with ``predict`` (onnxruntime) on a probe batch.

    ``inputs`` / ``outputs`` are the model's tensor specs (the probe batch follows ``inputs``).
    Returns ``(module, None)`` when the outputs agree within ``PARITY_RTOL`` of the
    output scale, otherwise ``(None, reason)``.
    """
    import torch

    try:
        module = _convert(proto)
    except Exception as exc:  # noqa: BLE001 - any conversion failure makes the model non-differentiable
        reason = f"onnx2torch could not convert the graph ({type(exc).__name__}: {str(exc)[:300]})"
        logger.warning("%s", reason)
        return None, reason
    probe = _probe(inputs)
    expected = predict(probe)
    try:
        with torch.no_grad():
            got = module(*[torch.from_numpy(a) for a in probe])
    except Exception as exc:  # noqa: BLE001
        return None, f"the converted torch module fails on a probe batch ({type(exc).__name__}: {str(exc)[:300]})"
    got_list = [got] if isinstance(got, torch.Tensor) else list(got)
    for spec, exp, out in zip(outputs, expected, got_list, strict=False):
        out_np = out.detach().numpy()
        if out_np.shape != exp.shape:
            return None, f"output '{spec.name}' has shape {out_np.shape} in torch but {exp.shape} in onnxruntime"
        scale = max(1.0, float(np.abs(exp).max(initial=0.0)))
        err = float(np.abs(out_np.astype(np.float64) - exp).max(initial=0.0))
        if err > PARITY_RTOL * scale:
            return None, f"output '{spec.name}' differs from onnxruntime by {err:.3g} on a probe batch"
    return module, None
