"""The onnxscript-optimized graph of a model onnx2torch cannot convert as is is cached on disk by the model's
sha256, so the next process skips the optimizer (~20 s for PP-OCRv4's detector)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from leapscope.models._onnx_torch import OPTIMIZED_CACHE, _convert, _optimized_path, _store_optimized


def _model(nodes, initializers=()):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _castlike_plus() -> onnx.ModelProto:
    """y = x + 1.5 through CastLike, which onnx2torch has no converter for (the optimizer folds it away)."""
    c = onnx.numpy_helper.from_array(np.array([1.5], dtype=np.float64), "c")
    return _model([helper.make_node("CastLike", ["c", "x"], ["cf"]), helper.make_node("Add", ["x", "cf"], ["y"])], [c])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAPSCOPE_CACHE_DIR", str(tmp_path))
    return tmp_path / OPTIMIZED_CACHE


def test_optimized_graph_is_cached_and_reused(cache):
    proto = _castlike_plus()
    x = torch.ones(2, 3)
    np.testing.assert_allclose(_convert(proto)(x).numpy(), 2.5)  # converted through the optimizer
    path = _optimized_path(proto)
    assert path is not None and path.parent == cache and path.is_file()
    assert path.stem == __import__("hashlib").sha256(proto.SerializeToString()).hexdigest()
    # the next conversion reads the cached graph: a different graph stored there is what comes back
    _store_optimized(path, _model([helper.make_node("Mul", ["x", "x"], ["y"])]))
    np.testing.assert_allclose(_convert(proto)(torch.full((2, 3), 3.0)).numpy(), 9.0)


def test_unreadable_cache_entry_is_a_miss(cache):
    proto = _castlike_plus()
    path = _optimized_path(proto)
    assert path is not None
    path.write_bytes(b"not an onnx file")
    np.testing.assert_allclose(_convert(proto)(torch.zeros(2, 3)).numpy(), 1.5)
    assert onnx.load(str(path)).graph.node[0].op_type != "CastLike"  # rewritten with the optimized graph
