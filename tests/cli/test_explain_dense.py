"""Explain on a dense-output (segmentation) run (issue 14, item 2): targets in words, regions, named losses,
several samples in one call. The model (tests/cli/dense_integration) has a known answer: output pixel (y, x)
depends on input pixel (y, x) only (1x1 convolutions), and only in the left half of the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import leapscope as ls
from leapscope import runs
from leapscope.cli import app
from leapscope.exceptions import LeapscopeError
from leapscope.store import Workspace

DENSE = Path(__file__).parent / "dense_integration"
HALF = 8
runner = CliRunner()


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workspace = tmp_path_factory.mktemp("dense-ws")
    run = ls.evaluate(DENSE, workspace=workspace, workers=1)
    return workspace, run.id


@pytest.fixture(scope="module")
def ctx(dense_run: tuple[Path, str]) -> runs.RunContext:
    workspace, run_id = dense_run
    return runs.RunContext(Workspace(workspace).open_run(run_id))


def _heat(item: runs.ExplainedSample) -> np.ndarray:
    return np.abs(item.attribution.heatmap()[0])


def test_default_target_is_the_predicted_positive_mass_in_words(ctx: runs.RunContext) -> None:
    items = runs.explain_samples(ctx, [("validation", 8), ("validation", 9)], method="saliency")
    assert [i.sample_id for i in items] == ["8", "9"]
    for item in items:
        heat = _heat(item)
        assert heat.shape == (16, 16)
        assert heat[:, :HALF].sum() > 0 and heat[:, HALF:].sum() == 0  # the right half cannot change the output
        assert item.description == "sum of channel 0 (text) over predicted-positive pixels (128 of 256)"
        summary = item.to_dict()["prediction"]
        assert summary["kind"] == "dense" and len(summary["channels"]) == 1
        assert summary["channels"][0]["positive_pixels"] == 128


def test_box_and_gt_regions_keep_the_heat_inside(ctx: runs.RunContext) -> None:
    (box,) = runs.explain_samples(ctx, [("validation", 8)], method="saliency", region="box:1,2,5,6")
    heat = _heat(box)
    inside = np.zeros((16, 16), bool)
    inside[2:6, 1:5] = True
    assert heat[inside].sum() > 0 and heat[~inside].sum() == 0
    assert "inside box x 1..4, y 2..5 (16 of 256 pixels)" in box.description
    (gt,) = runs.explain_samples(ctx, [("validation", 8)], method="integrated_gradients", region="gt", steps=8)
    mask = np.zeros((16, 16), bool)
    mask[2:8, 1:6] = True  # the ground-truth box of every sample
    assert _heat(gt)[~mask].sum() == 0 and _heat(gt)[mask].sum() > 0
    assert "ground-truth mask 'mask'" in gt.description


def test_named_custom_loss_gets_the_real_shape_for_gradients_and_occlusion(ctx: runs.RunContext) -> None:
    (grad,) = runs.explain_samples(ctx, [("validation", 8)], method="saliency", target="loss:dice")
    assert grad.description == "loss 'dice' against the ground truth"
    assert grad.attribution.extra["loss_gradient"]  # the user's numpy-style dice, differentiated on tensors
    assert _heat(grad)[:, HALF:].sum() == 0 and _heat(grad)[:, :HALF].sum() > 0
    (occ,) = runs.explain_samples(ctx, [("validation", 8)], method="occlusion", target="loss:dice", window=1)
    assert occ.attribution.method == "occlusion"  # asked for, not a fallback; 1-pixel windows: no straddling
    assert _heat(occ)[:, HALF:].sum() == 0 and _heat(occ)[:, :HALF].sum() > 0
    (builtin,) = runs.explain_samples(ctx, [("validation", 8)], method="saliency", target="loss:binary_cross_entropy")
    assert _heat(builtin)[:, HALF:].sum() == 0


def test_plain_loss_with_two_losses_is_an_error_listing_them(ctx: runs.RunContext) -> None:
    with pytest.raises(LeapscopeError, match=r"ambiguous.*2 losses \(dice, binary_cross_entropy\).*loss:dice"):
        ctx.explain("validation", 8, method="saliency", target="loss")
    with pytest.raises(LeapscopeError, match="no loss 'focal'; losses: dice, binary_cross_entropy"):
        ctx.explain("validation", 8, method="saliency", target="loss:focal")


def test_element_target_and_gradcam_default_layer(ctx: runs.RunContext) -> None:
    (one,) = runs.explain_samples(ctx, [("validation", 8)], method="saliency", target="element:0,2,3")
    heat = _heat(one)
    assert heat[2, 3] > 0 and np.count_nonzero(heat) == 1  # 1x1 convolutions: only the same pixel matters
    with pytest.raises(LeapscopeError, match=r"per-sample output shape \(1, 16, 16\)"):
        runs.explain_samples(ctx, [("validation", 8)], method="saliency", target="element:3,2")
    (cam,) = runs.explain_samples(ctx, [("validation", 8)], method="layercam")
    assert cam.attribution.layer == "conv"  # the deepest feature layer; the 1-channel head is the output map
    assert cam.attribution.heatmap().shape == (1, 16, 16)


def test_service_lists_for_the_server(ctx: runs.RunContext) -> None:
    targets = runs.explain_targets(ctx, "validation", 8)
    assert targets[0]["default"] and "predicted-positive pixels (128 of 256)" in targets[0]["label"]
    offered = {(t["target"], t["region"]) for t in targets}
    assert {("loss:dice", None), ("loss:binary_cross_entropy", None), (None, "gt:mask")} <= offered
    assert ("loss", None) not in offered  # ambiguous with two losses
    layers = runs.model_layers(ctx)
    assert layers["default_cam_layer"] == "conv" and layers["default_latent"] == "conv"
    assert {row["name"]: row["spatial"] for row in layers["layers"]} == {"conv": True, "head": True}
    methods = {m["method"]: m["applies"] for m in runs.explain_methods(ctx)}
    assert all(methods.values())


def test_cli_several_samples_in_one_call(dense_run: tuple[Path, str], tmp_path: Path) -> None:
    workspace, run_id = dense_run
    out = tmp_path / "heat.png"
    result = runner.invoke(
        app,
        [
            "explain",
            run_id,
            "8",
            "--samples",
            "9,10",
            "--method",
            "saliency",
            "-o",
            str(out),
            "--workspace",
            str(workspace),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "loaded the model in" in result.output
    assert result.output.count("sum of channel 0 (text) over predicted-positive pixels") == 3
    assert "target 1" not in result.output
    for sample in ("8", "9", "10"):
        assert (tmp_path / f"heat_validation_{sample}.png").stat().st_size > 0
    bad = runner.invoke(
        app, ["explain", run_id, "8", "--target", "loss", "--workspace", str(workspace)], env={"COLUMNS": "200"}
    )
    assert bad.exit_code != 0 and "ambiguous" in str(bad.exception) and "loss:dice" in str(bad.exception)
    assert "loaded the model in" not in bad.output  # checked before the (slow) model load
    for option, value, words in (("--region", "box:5,5", "four integers"), ("--method", "gradcm", "unknown method")):
        typo = runner.invoke(
            app, ["explain", run_id, "8", option, value, "--workspace", str(workspace)], env={"COLUMNS": "200"}
        )
        assert typo.exit_code != 0 and words in str(typo.exception), typo.output
        assert "loaded the model in" not in typo.output
