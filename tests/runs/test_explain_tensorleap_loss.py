"""Explaining a Tensorleap (code-loader) custom loss (trial A, items 3 and 7): a 3-class NCHW segmentation
integration with a real (small, seeded) torch model exported to ONNX, whose pixel cross-entropy ends with
``.astype(np.float32)`` as nearly every code-loader loss does. Gradient methods explain it (its integrated
gradients add up to the stored numpy loss values); a loss whose code cannot be differentiated is listed as
occlusion-only by the targets and fails with the operation, the line, and occlusion in the words of the
surface (API: method=occlusion, CLI: --method occlusion). The explain picture draws a probability channel on a
fixed 0..1 scale with a colour bar."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leapscope import api, runs
from leapscope.analysis.attribution import LossGradientError
from leapscope.cli import app
from leapscope.exceptions import LeapscopeError
from leapscope.runs.explain import draw_channel_map
from leapscope.store import Workspace

BINDER = """
from typing import List
import numpy as np
from sklearn.datasets import load_digits
from code_loader import leap_binder
from code_loader.contract.datasetclasses import PreprocessResponse
from code_loader.contract.enums import DataStateType, LeapDataType
from code_loader.contract.visualizer_classes import LeapImage, LeapImageMask
from code_loader.inner_leap_binder.leapbinder_decorators import (
    tensorleap_preprocess, tensorleap_input_encoder, tensorleap_gt_encoder, tensorleap_custom_visualizer,
    tensorleap_custom_loss)

X = (load_digits().images[:32] / 16.0).astype(np.float32)[:, None]      # (N, 1, 8, 8)
LABELS = ["background", "faint", "ink"]


@tensorleap_preprocess()
def preprocess() -> List[PreprocessResponse]:
    return [PreprocessResponse(length=20, data={"offset": 0}, state=DataStateType.training),
            PreprocessResponse(length=12, data={"offset": 20}, state=DataStateType.validation)]


@tensorleap_input_encoder("image", channel_dim=1)
def image(idx, preprocess) -> np.ndarray:
    return X[int(idx) + preprocess.data["offset"]]


@tensorleap_gt_encoder("classes")
def classes(idx, preprocess) -> np.ndarray:
    x = X[int(idx) + preprocess.data["offset"]][0]
    return np.eye(3, dtype=np.float32)[np.digitize(x, [0.25, 0.6])].transpose(2, 0, 1)   # (3, H, W) one-hot


@tensorleap_custom_visualizer("pred_mask", LeapDataType.ImageMask)
def pred_mask(image: np.ndarray, prediction: np.ndarray) -> LeapImageMask:
    return LeapImageMask(prediction[0].argmax(0).astype(np.uint8), image[0].transpose(1, 2, 0), LABELS)


@tensorleap_custom_loss("pixel_ce")
def pixel_ce(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    ce = -(gt * np.log(np.clip(prediction, 1e-7, 1.0))).sum(axis=1)
    return ce.mean(axis=(1, 2)).astype(np.float32)


@tensorleap_custom_loss("warped")
def warped(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    scaled = np.interp(prediction, [0.0, 1.0], [0.0, 2.0])
    return np.asarray((gt * scaled).sum(axis=(1, 2, 3)), dtype=np.float32)
"""

ENTRY = """
import os
import onnxruntime as ort
from code_loader.contract.datasetclasses import PredictionTypeHandler
from code_loader.inner_leap_binder.leapbinder_decorators import tensorleap_load_model, tensorleap_integration_test
from leap_binder import LABELS, preprocess, image, classes, pred_mask, pixel_ce, warped


@tensorleap_load_model([PredictionTypeHandler("seg", LABELS, channel_dim=1)])
def load_model():
    return ort.InferenceSession(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx"))


@tensorleap_integration_test()
def integration_test(idx, subset):
    x = image(idx, subset)
    gt = classes(idx, subset)
    seg = load_model().run(None, {"image": x})[0]
    pred_mask(x, seg)
    pixel_ce(gt, seg)
    warped(gt, seg)
"""

runner = CliRunner()


def _model(path: Path) -> None:
    import torch

    class Seg(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
            self.head = torch.nn.Conv2d(8, 3, 1)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.head(torch.relu(self.conv(image))), dim=1)

    torch.manual_seed(0)
    torch.onnx.export(
        Seg().eval(),
        (torch.zeros(1, 1, 8, 8),),
        str(path),
        input_names=["image"],
        output_names=["seg"],
        dynamic_axes={"image": {0: "b"}, "seg": {0: "b"}},
        dynamo=False,
    )


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("tl_seg")
    (folder / "leap.yaml").write_text("entryFile: leap_integration.py\ninclude:\n  - leap_binder.py\n")
    (folder / "leap_binder.py").write_text(textwrap.dedent(BINDER))
    (folder / "leap_integration.py").write_text(textwrap.dedent(ENTRY))
    _model(folder / "model.onnx")
    workspace = folder / "ws"
    run = api.evaluate(folder, workspace=workspace, workers=0)
    return workspace, run.id


@pytest.fixture(scope="module")
def ctx(seg_run: tuple[Path, str]) -> runs.RunContext:
    workspace, run_id = seg_run
    return runs.RunContext(Workspace(workspace).open_run(run_id))


def test_astype_loss_is_explained_by_gradients_and_adds_up_to_the_stored_numpy_loss(ctx: runs.RunContext) -> None:
    items = runs.explain_samples(
        ctx, [("validation", 3), ("validation", 4)], method="integrated_gradients", target="loss:pixel_ce", steps=64
    )
    samples = ctx.run.samples.to_pandas().set_index(["subset", "sample_id"])
    for item in items:
        assert item.description == "loss 'pixel_ce' against the ground truth"
        assert item.attribution.extra["loss_gradient"]
        stored = float(samples.loc[("validation", item.sample_id), "loss_pixel_ce"])  # numpy, at evaluate
        # completeness: the attributions add up to loss(x) - loss(black image)
        (baseline,) = ctx.model.predict([np.zeros((1, 1, 8, 8), np.float32)])
        _, gts = ctx.encode("validation", item.sample_id)
        gt = gts["classes"][None]
        at_baseline = float((-(gt * np.log(np.clip(baseline, 1e-7, 1.0))).sum(axis=1)).mean())
        assert item.attribution.values.sum() == pytest.approx(stored - at_baseline, rel=0.03, abs=1e-3)
        assert abs(float(item.attribution.completeness_error[0])) < 0.03


def test_targets_mark_a_loss_gradients_cannot_explain_as_occlusion_only(ctx: runs.RunContext) -> None:
    rows = {r["target"]: r for r in runs.explain_targets(ctx, "validation", 3) if r["kind"] == "loss"}
    assert set(rows) == {"loss:pixel_ce", "loss:warped"}  # two losses: no plain 'loss'
    assert "occlusion" not in rows["loss:pixel_ce"]["label"]
    warped = rows["loss:warped"]["label"]
    assert "occlusion only, method=occlusion" in warped and "np.interp" in warped and "--method" not in warped


def test_an_undifferentiable_loss_names_the_operation_and_offers_occlusion_in_each_surfaces_words(
    ctx: runs.RunContext, seg_run: tuple[Path, str]
) -> None:
    with pytest.raises(LossGradientError) as caught:
        runs.explain_samples(ctx, [("validation", 3)], method="saliency", target="loss:warped")
    text = str(caught.value)
    assert "np.interp failed on torch tensors" in text and "leap_binder.py" in text and "in warped" in text
    assert "method=occlusion" in text and "--method" not in text  # what the API answers
    (occ,) = runs.explain_samples(ctx, [("validation", 3)], method="occlusion", target="loss:warped", window=2)
    assert np.abs(occ.attribution.values).sum() > 0
    workspace, run_id = seg_run
    bad = runner.invoke(
        app, ["explain", run_id, "3", "--subset", "validation", "--target", "loss:warped", "-w", str(workspace)]
    )
    assert bad.exit_code != 0 and isinstance(bad.exception, LeapscopeError)
    assert "--method occlusion" in str(bad.exception) and "np.interp" in str(bad.exception)


def test_the_explained_channel_panel_has_a_fixed_probability_scale_and_a_colour_bar(
    ctx: runs.RunContext, tmp_path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    draw_channel_map(fig, ax, np.full((8, 8), 0.1) + np.eye(8) * 0.42, "prediction: ink")
    assert ax.images[0].get_clim() == (0.0, 1.0)  # a channel peaking at 0.52 is not drawn saturated
    assert len(fig.axes) == 2  # the colour bar
    assert "scale 0 to 1" in ax.get_title() and "0.1 to 0.52" in ax.get_title()
    fig, ax = plt.subplots()
    draw_channel_map(fig, ax, np.linspace(-3, 5, 64).reshape(8, 8), "prediction: logits")
    assert ax.images[0].get_clim() == (-3.0, 5.0) and "its own range" in ax.get_title()
    plt.close("all")
    (item,) = runs.explain_samples(ctx, [("validation", 3)], method="saliency", target="ink")
    path = runs.render_explanation_png(ctx, "validation", "3", item.attribution, item.x, tmp_path / "ink.png")
    assert path.stat().st_size > 0


def test_the_api_marks_the_loss_occlusion_only_and_answers_in_api_words(seg_run: tuple[Path, str]) -> None:
    from fastapi.testclient import TestClient

    from leapscope.server import create_app

    workspace, run_id = seg_run
    with TestClient(create_app(workspace, warm=False, serve_ui=False), base_url="http://127.0.0.1") as client:
        base = f"/api/v1/runs/{run_id}/samples/validation/3"
        targets = {t["target"]: t["label"] for t in client.get(f"{base}/targets").json()["data"]}
        assert "occlusion only" in targets["loss:warped"] and "occlusion" not in targets["loss:pixel_ce"]
        bad = client.get(f"{base}/explanation", params={"target": "loss:warped"})
        assert bad.status_code == 400
        detail = bad.json()["detail"]
        assert "np.interp" in detail and "method=occlusion" in detail and "--method" not in detail
        good = client.get(f"{base}/explanation", params={"target": "loss:pixel_ce", "method": "saliency"})
        assert good.status_code == 200 and good.headers["content-type"] == "image/png"
