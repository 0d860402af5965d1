from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import leapscope as ls
from leapscope.analysis import attribution
from leapscope.analysis.attribution import Attribution, AttributionMethod, ExplainRequest, explain
from leapscope.analysis.attribution import base as attribution_base
from leapscope.exceptions import LeapscopeError, ModelError
from leapscope.models import open_model
from tests.conftest import DIGITS


def test_batch_equals_per_sample(images, onnx_model):
    for method in ("saliency", "integrated_gradients", "gradcam", "occlusion", "input_x_gradient"):
        batch = explain(onnx_model, images[:5], method=method)
        single = np.concatenate([explain(onnx_model, images[i : i + 1], method=method).values for i in range(5)])
        np.testing.assert_allclose(batch.values, single, rtol=1e-4, atol=1e-5, err_msg=method)


def test_targets_by_label_and_errors(images, onnx_model):
    by_label = explain(onnx_model, images[:2], method="saliency", target="7", labels=[str(i) for i in range(10)])
    assert by_label.target == [7, 7]
    with pytest.raises(LeapscopeError, match="not a label"):
        explain(onnx_model, images[:2], method="saliency", target="seven", labels=[str(i) for i in range(10)])
    with pytest.raises(LeapscopeError, match="unknown method"):
        explain(onnx_model, images[:2], method="lime")


def test_methods_come_from_the_registry(images, onnx_model, monkeypatch):
    assert attribution.METHODS == (
        "saliency",
        "input_x_gradient",
        "integrated_gradients",
        "smoothgrad",
        "gradcam",
        "layercam",
        "occlusion",
    )
    gradient_methods = set(attribution.GRADIENT_METHODS)
    assert gradient_methods == set(attribution.METHODS) - {"occlusion"}
    monkeypatch.setattr(attribution_base, "_REGISTRY", dict(attribution_base._REGISTRY))

    @attribution.register
    class Constant(AttributionMethod):
        """Every feature gets its own input value (a plain, checkable method)."""

        name = "constant"
        needs_gradients = False

        def attribute(self, request: ExplainRequest) -> Attribution:
            """See :meth:`AttributionMethod.attribute`."""
            return Attribution(
                request.x.astype(np.float32), self.name, request.targets, channel_axis=request.channel_axis
            )

    result = explain(onnx_model, images[:2], method="constant", target=3)
    np.testing.assert_array_equal(result.values, images[:2])
    assert result.target == [3, 3] and "constant" in attribution_base.method_names()


def test_gradient_method_on_undifferentiable_model_says_use_occlusion(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    max_out = onnx.numpy_helper.from_array(np.array([3], dtype=np.int64), "max_out")
    graph = helper.make_graph(
        [
            helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out"], ["sel"]),
            helper.make_node("Cast", ["sel"], ["y"], to=1),
        ],
        "g",
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 3, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [max_out],
    )
    path = tmp_path / "nms.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    with pytest.raises(ModelError, match="use method='occlusion'"):
        explain(
            open_model(path),
            [np.zeros((1, 3, 4), np.float32), np.zeros((1, 1, 3), np.float32)],
            method="saliency",
            target=0,
        )


@pytest.mark.slow
def test_explain_cli_writes_a_png(tmp_path):
    run = ls.evaluate(DIGITS, workspace=tmp_path, max_samples=20, workers=0, explain="gradcam")
    heat = np.load(run.dir / "explanations" / "gradcam.npy")
    val = run.to_pandas().subset == "validation"
    assert (
        heat.shape == (60, 8, 8) and np.isfinite(heat[val.to_numpy()]).all() and np.isnan(heat[~val.to_numpy()]).all()
    )
    out = tmp_path / "x.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "leapscope",
            "explain",
            run.id,
            "0",
            "--subset",
            "training",
            "-w",
            str(tmp_path),
            "--method",
            "gradcam",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_run_context_explains_the_integrations_loss(digits_workspace):
    from leapscope.runs import RunContext
    from leapscope.store import Workspace

    ctx = RunContext(Workspace(digits_workspace[0]).open_run(digits_workspace[1]))
    result, x = ctx.explain("test", "1500", method="integrated_gradients", target="loss")
    assert result.extra["loss"] == "cross_entropy" and x.shape == (8, 8, 1)
    assert float(result.completeness_error[0]) < 0.05
