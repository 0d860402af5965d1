"""ONNX models: onnxruntime for inference and activations, onnx2torch for gradients."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.exceptions import ModelError, ModelLoadError
from leapscope.models._base import LayerInfo, Layout, ModelWrapper, TensorSpec, deepest_spatial_layer, infer_layout
from leapscope.models._registry import Backend, register_backend

if TYPE_CHECKING:
    import onnxruntime as ort
    import torch

__all__ = ["OnnxModel"]

logger = logging.getLogger("leapscope.models")

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}
_DENSE_OPS = ("Gemm", "MatMul")
#: ops whose output is a shape or size, never features
_SHAPE_OPS = frozenset({"Shape", "Size"})


def torch_module_names(nodes: Any) -> list[str]:
    """The onnx2torch module name of each ONNX node, in graph order: the node's domain and name
    (op type when unnamed) with '.' -> '/', no leading '/', and ``_1``, ``_2`` ... on repeats
    (``onnx2torch.onnx_graph.OnnxGraph.generate_node_name`` and its de-duplication)."""
    counts: dict[str, int] = {}
    names = []
    for node in nodes:
        base = (f"{node.domain}/" + (node.name.replace(".", "/") or node.op_type)).lstrip("/")
        seen = counts.get(base, 0)
        counts[base] = seen + 1
        names.append(base + (f"_{seen}" if seen else ""))
    return names


def _session_options() -> ort.SessionOptions:
    """onnxruntime's defaults (one intra-op thread per core, spinning on): measured
    fastest here for small and large models alike (benchmarks/models.py). Set
    ``LEAPSCOPE_ORT_THREADS`` to cap the threads when other work shares the cores."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # threads spin inside a run only: between runs (evaluate encodes, scores, writes) they would burn the cores
    # the encoding threads and processes need (issue 15: ~25% of evaluate's CPU on 2 cores)
    opts.add_session_config_entry("session.force_spinning_stop", "1")
    threads = os.environ.get("LEAPSCOPE_ORT_THREADS")
    if threads:
        opts.intra_op_num_threads = int(threads)
    return opts


def _dims(shape: Any) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


class OnnxModel(ModelWrapper):
    """An ONNX model run by onnxruntime.

    Activations of any graph value come from the same session graph with that value
    added as an extra output (no conversion needed). Gradients come from an
    onnx2torch conversion checked against onnxruntime on a probe batch at first use.
    """

    framework = "onnx"

    def __init__(self, source: str | Path | ort.InferenceSession, *, layout: Layout | None = None):
        import onnx
        import onnxruntime as ort

        if isinstance(source, ort.InferenceSession):
            self.path = None
            model_bytes = source._model_bytes if hasattr(source, "_model_bytes") else None
            self.session = source
            path = getattr(source, "_model_path", None)
            if model_bytes is None and path:
                self.path = Path(path)
                self.proto = onnx.load(str(path), load_external_data=False)
            elif model_bytes is not None:
                self.proto = onnx.load_from_string(model_bytes)
            else:
                raise ModelLoadError("cannot read the graph of this InferenceSession; fix: pass the .onnx path instead")
        else:
            self.path = Path(source)
            try:
                self.proto = onnx.load(str(self.path))
                self.session = ort.InferenceSession(
                    str(self.path), _session_options(), providers=["CPUExecutionProvider"]
                )
            except Exception as exc:
                raise ModelLoadError(f"cannot load ONNX model {self.path}: {type(exc).__name__}: {exc}") from exc
        self.inputs = [
            TensorSpec(
                i.name,
                _dims(i.shape),
                _ORT_TYPES.get(i.type, i.type),
                infer_layout(_dims(i.shape), layout, what=f"input '{i.name}'"),
            )
            for i in self.session.get_inputs()
        ]
        self.outputs = [
            TensorSpec(o.name, _dims(o.shape), _ORT_TYPES.get(o.type, o.type)) for o in self.session.get_outputs()
        ]
        self._output_names = [o.name for o in self.outputs]
        self._layers: list[LayerInfo] | None = None
        self._value_of_layer: dict[str, str] = {}
        self._layer_of_torch: dict[str, str] = {}
        self._torch_of_layer: dict[str, str] = {}
        self._latent_sessions: dict[tuple[str, ...], ort.InferenceSession] = {}
        self._torch: torch.nn.Module | None = None
        self._torch_reason: str | None = None
        self._torch_checked = False

    def _feed(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {spec.name: arr for spec, arr in zip(self.inputs, inputs, strict=True)}

    def _predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return list(self.session.run(self._output_names, self._feed(inputs)))

    # --- layers --------------------------------------------------------------
    def layers(self) -> list[LayerInfo]:
        if self._layers is None:
            import onnx

            try:
                inferred = onnx.shape_inference.infer_shapes(self.proto)
            except Exception:  # noqa: BLE001 - shape inference is best effort; layers still list without shapes
                inferred = self.proto
            shapes = {}
            for vi in [*inferred.graph.value_info, *inferred.graph.output]:
                dims = vi.type.tensor_type.shape.dim
                shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
            # data values: graph inputs and what is computed from them, except through Shape/Size
            data = {i.name for i in self.proto.graph.input} - {init.name for init in self.proto.graph.initializer}
            layers = []
            torch_names = torch_module_names(self.proto.graph.node)
            for i, node in enumerate(self.proto.graph.node):
                carries_data = node.op_type not in _SHAPE_OPS and any(value in data for value in node.input)
                if carries_data:
                    data.update(o for o in node.output if o)
                if not node.output or not node.output[0]:
                    continue
                name = node.name or node.output[0] or f"{node.op_type}_{i}"
                self._value_of_layer[name] = node.output[0]
                self._layer_of_torch.setdefault(torch_names[i], name)
                self._torch_of_layer[name] = torch_names[i]
                layers.append(LayerInfo(name, node.op_type, shapes.get(node.output[0]), hidden=not carries_data))
            self._layers = layers
        return self._layers

    def canonical_layer(self, name: str) -> str:
        """The ONNX node name for ``name`` given as a node name, an onnx2torch module name
        (``p2o/Concat/0`` for node ``p2o.Concat.0``) or with/without the leading ``/``."""
        self.layers()
        if name in self._value_of_layer:
            return name
        for candidate in (name, name.lstrip("/"), name.replace(".", "/").lstrip("/")):
            if candidate in self._layer_of_torch:
                return self._layer_of_torch[candidate]
        if "/" + name in self._value_of_layer:
            return "/" + name
        return name

    def _accepts_layer(self, name: str) -> bool:
        # any graph value name (a node output) is also a valid "layer", and so is an onnx2torch module name
        self.layers()
        return (
            self.canonical_layer(name) in self._value_of_layer
            or name in set(self._value_of_layer.values())
            or any(name == i.name for i in self.inputs)
        )

    def _value(self, layer: str) -> str:
        self.layers()
        return self._value_of_layer.get(self.canonical_layer(layer), layer)

    def activation_and_output(self, x: torch.Tensor, layer: str, output: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`ModelWrapper.activation_and_output`; ``layer`` may be the ONNX node name (as
        :meth:`layers` lists it) or the onnx2torch module name."""
        self.layers()
        canonical = self.canonical_layer(layer)
        module_name = self._torch_of_layer.get(canonical, layer)
        if module_name not in dict(self.torch_module().named_modules()):
            module_name = layer
        return super().activation_and_output(x, module_name, output)

    def default_latent_layer(self) -> str:
        layers = self.layers()
        producer = {self._value_of_layer[layer.name]: layer.name for layer in layers}
        for node in reversed(self.proto.graph.node):
            if node.op_type in _DENSE_OPS and node.input and node.input[0] in producer:
                return producer[node.input[0]]
        spatial = self._deepest_spatial_layer(layers)
        if spatial is not None:
            logger.info("no dense layer: the default latent space is the deepest feature map %s (pooled)", spatial)
            return spatial
        raise ModelError(
            "the ONNX model has no Gemm/MatMul layer fed by another layer and no 4-D feature map, so there is no "
            "default latent layer; fix: name one with --latent LAYER (`leapscope layers MODEL` lists them)"
        )

    def _deepest_spatial_layer(self, layers: list[LayerInfo]) -> str | None:
        """See :func:`~leapscope.models._base.deepest_spatial_layer` (ONNX maps are NCHW)."""
        return deepest_spatial_layer(layers, "NCHW")

    def _session_with(self, values: tuple[str, ...]) -> ort.InferenceSession:
        session = self._latent_sessions.get(values)
        if session is None:
            import onnx
            import onnxruntime as ort

            proto = onnx.ModelProto()
            proto.CopyFrom(self.proto)
            present = {o.name for o in proto.graph.output}
            for value in values:
                if value not in present:
                    proto.graph.output.append(onnx.ValueInfoProto(name=value))
            session = ort.InferenceSession(
                proto.SerializeToString(), _session_options(), providers=["CPUExecutionProvider"]
            )
            self._latent_sessions[values] = session
        return session

    def _forward_with(
        self, inputs: list[np.ndarray], layers: list[str]
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        values = tuple(dict.fromkeys(self._value(layer) for layer in layers))
        session = self._session_with(values)
        results = session.run([*self._output_names, *values], self._feed(inputs))
        n = len(self._output_names)
        by_value = dict(zip(values, results[n:], strict=True))
        return list(results[:n]), {layer: by_value[self._value(layer)] for layer in layers}

    # --- differentiable view ---------------------------------------------------
    def _ensure_torch(self) -> None:
        # converting takes ~0.1-2 s, so it happens on first use, not at load
        if not self._torch_checked:
            self._torch_checked = True
            from leapscope.models._onnx_torch import convert_checked

            self._torch, self._torch_reason = convert_checked(self.proto, self.predict, self.inputs, self.outputs)

    @property
    def differentiable(self) -> bool:
        """Whether onnx2torch converted the graph and it matches onnxruntime (checked on first access)."""
        self._ensure_torch()
        return self._torch is not None

    @property
    def differentiable_reason(self) -> str | None:
        self._ensure_torch()
        return self._torch_reason

    def torch_module(self) -> torch.nn.Module:
        self._ensure_torch()
        if self._torch is None:
            raise ModelError(
                f"this ONNX model has no differentiable view: {self.differentiable_reason}; gradient-based "
                "attributions are unavailable, use a black-box method (occlusion)"
            )
        return self._torch


register_backend(
    Backend(
        "onnx",
        (".onnx",),
        open_path=lambda path, layout, trust_code: OnnxModel(path, layout=layout),
        accepts=lambda obj: type(obj).__module__.split(".")[0] == "onnxruntime",
        open_object=lambda obj, layout: OnnxModel(obj, layout=layout),
    )
)
