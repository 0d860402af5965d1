"""The two non-classification examples end to end: check, evaluate, analyze, explain (default arguments), report.

examples/text-detection-rapidocr: PP-OCRv4's DB text detector (a real third-party ONNX model whose
output is a (B, 1, H, W) probability map) on drawn text tiles with exact masks. examples/regression-diabetes:
an MLP regressor on scikit-learn's diabetes data. Each test runs in-process (one model load per stage).
"""

from __future__ import annotations

import numpy as np
import pytest

from leapscope import api, runs
from leapscope.report import render_report, visual_to_payload
from leapscope.store import Workspace
from tests.conftest import REPO

EXAMPLES = REPO / "examples"


def _complete(tmp_path, name):
    loaded = api.load_integration(EXAMPLES / name)
    report = api.check(loaded, samples=2)
    assert report.valid, report
    evaluated = api.evaluate(loaded, workspace=tmp_path, workers=1)
    run = Workspace(tmp_path).open_run(evaluated.id)
    assert run.row.status == "complete" and run.row.counts["failed"] == 0
    return report, run


@pytest.mark.slow
def test_text_detection_dense_model_end_to_end(tmp_path):
    report, run = _complete(tmp_path, "text-detection-rapidocr")
    assert report.kinds == {"text_probability": "dense"}
    assert run.latent_spaces, "a conv-only model still gets a default latent space"

    df = run.samples.to_pandas()
    by_source = df.groupby("tile_source")["metric_dice"].mean()
    # the detector finds 12-24 px printed text and the lines of scikit-image's photographed page,
    # misses 7-8 px text, most text over photos and nearly all of scikit-image's handwriting, and predicts
    # nothing on blank photo crops (dice 1 for an empty mask and an empty prediction)
    assert by_source["printed"] > 0.6 and by_source["inverted"] > 0.6 and by_source["page"] > 0.6
    assert by_source["tiny"] < 0.3 and by_source["photo"] < 0.5 and by_source["handwritten"] < 0.1
    assert by_source["blank"] > 0.95
    assert np.corrcoef(df["loss_dice"], df["metric_dice"])[0, 1] < -0.9  # soft-dice loss vs hard dice metric

    found = api.analyze(tmp_path, run.id)  # default arguments: held-out subsets pooled, groups of >= 10
    statuses = {s.type: s for s in runs.load_statuses(run) or []}
    assert statuses["low_performance"].status == "ran"
    assert statuses["mislabeled"].status == "skipped"
    filters = [(i.suggested_test or {}).get("filter", "") for i in found if i.type == "low_performance"]
    # 7 + 7 held-out handwritten tiles: found only because the held-out subsets are pooled
    assert any("tile_source == 'handwritten'" in f for f in filters), filters

    ctx = runs.RunContext(run)
    (default,) = runs.explain_samples(ctx, [("validation", "printed-00")])
    heat = default.attribution.heatmap()
    assert heat.shape == (1, 128, 128) and np.isfinite(heat).all() and np.abs(heat).sum() > 0
    assert "text" in default.description
    (by_loss,) = runs.explain_samples(ctx, [("validation", "printed-00")], method="gradcam", target="loss:dice")
    assert by_loss.attribution.heatmap().shape == (1, 128, 128)

    visuals = ctx.visuals("validation", "printed-00")  # what the sample page shows
    predicted, truth = visuals["prediction"], visuals["ground_truth"]
    assert predicted.background == 0 and [e["label"] for e in predicted.legend()] == ["background", "text"]
    assert truth.legend()[1]["pixels"] == round(
        df.query("subset == 'validation' and sample_id == 'printed-00'")["tile_text_fraction"].iloc[0] * 128 * 128
    )
    kind, png = visual_to_payload(predicted)
    assert kind == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"

    html = render_report(run)
    assert html.count("data:image/png") >= 4


@pytest.mark.slow
def test_regression_diabetes_end_to_end(tmp_path):
    report, run = _complete(tmp_path, "regression-diabetes")
    assert report.kinds == {"progression": "regression"}
    summary = run.row.summary
    # the committed 10-16-1 MLP: MAE about 40 (progression units) on validation and test
    assert 30 < summary["validation"]["metric_mean_absolute_error"] < 50
    assert summary["training"]["loss_mean_squared_error"] < summary["test"]["loss_mean_squared_error"]

    api.analyze(tmp_path, run.id)
    statuses = {s.type: s for s in runs.load_statuses(run) or []}
    assert statuses["low_performance"].status == "ran"
    assert statuses["mislabeled"].status == "skipped"  # no class labels in a regression run

    ctx = runs.RunContext(run)
    (default,) = runs.explain_samples(ctx, [("training", 5)])
    values = default.attribution.values
    assert values.shape == (1, 10) and np.isfinite(values).all()
    assert float(default.attribution.completeness_error[0]) < 0.1  # integrated gradients sum to f(x) - f(0)
    html = render_report(run)
    assert "regression-diabetes" in html
