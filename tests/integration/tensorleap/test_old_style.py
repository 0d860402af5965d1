"""The older style: leap_binder.set_* at import time, wiring in leap_mapping.yaml, model given with --model."""

from __future__ import annotations

import json

from leapscope import api
from leapscope.integration import load


def test_mapping_yaml_gives_the_wiring(old_style):
    integration = load(old_style).integration
    assert set(integration.visualizers) == {"image_vis", "bars_prediction", "bars_gt"}
    assert set(integration.metrics) == {"accuracy", "ConfusionMatrixClassification"}
    assert set(integration.losses) == {"CategoricalCrossentropy"}
    subsets = {s.name: len(s) for s in integration.preprocess()}
    assert subsets == {"training": 50, "validation": 25}


def test_check_without_a_model_says_to_pass_one(old_style):
    report = api.check(old_style, samples=1)
    assert not report.valid
    assert "--model" in json.dumps(report.part("model").to_dict())


def test_check_and_evaluate_with_model(old_style, digits_onnx, tmp_path):
    report = api.check(old_style, samples=2, model=digits_onnx)
    assert report.valid, report.to_dict()
    edges = {(e.kind, e.target, e.argument, e.source) for e in report.wiring}
    assert ("visualizer", "bars_gt", "data", "gt:classes") in edges
    assert ("visualizer", "bars_prediction", "data", "prediction:classes") in edges
    run = api.evaluate(old_style, model=digits_onnx, workspace=tmp_path / "ws", workers=2)
    table = run.samples.to_pandas()
    assert len(table) == 75 and table["error"].isna().all()
    assert {"metric_accuracy", "loss_CategoricalCrossentropy", "digit"} <= set(table.columns)
