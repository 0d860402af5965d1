"""A current (decorator-style) Tensorleap integration with an ONNX session runs unmodified."""

from __future__ import annotations

import numpy as np

from leapscope import api
from leapscope.integration import load


def test_loads_the_registry_and_the_wiring_from_code_loader(decorator_onnx):
    loaded = load(decorator_onnx)
    integration = loaded.integration
    assert set(integration.input_encoders) == {"image", "stats", "tl_sample"}
    assert set(integration.gt_encoders) == {"classes"}
    assert set(integration.metadata) == {"info", "distance_from_mean"}
    assert set(integration.visualizers) == {"image", "probabilities", "caption"}
    assert set(integration.metrics) == {"scores", "confusion"}
    assert set(integration.losses) == {"ce"}
    assert integration.metrics["scores"].direction_of("accuracy") == "higher"
    assert [p.name for p in integration.predictions] == ["classes"]
    assert integration.predictions[0].labels == [str(i) for i in range(10)]
    subsets = {s.name: s for s in integration.preprocess()}
    assert {k: len(v) for k, v in subsets.items()} == {"training": 60, "validation": 30, "test": 30}
    assert subsets["training"].sample_ids[:2] == [0, 1] and subsets["validation"].sample_ids[0] == "60"
    assert len(integration.unlabeled_preprocess()) == 20


def test_check_passes(decorator_onnx):
    report = api.check(decorator_onnx, samples=2)
    assert report.valid, report.to_dict()
    edges = {(e.kind, e.target, e.argument, e.source) for e in report.wiring}
    assert ("model", "model", "image", "input:image") in edges
    assert ("model", "model", "stats", "input:stats") in edges
    assert ("loss", "ce", "prediction", "prediction:classes") in edges
    assert ("metric", "scores", "gt", "gt:classes") in edges
    assert ("visualizer", "image", "data", "input:image") in edges


def test_evaluate_stores_every_sample(decorator_onnx, tmp_path):
    run = api.evaluate(
        decorator_onnx, workspace=tmp_path / "ws", workers=0
    )  # inline; test_isolation_and_visuals uses workers
    table = run.samples.to_pandas()
    assert len(table) == 140
    assert table["error"].isna().all(), table["error"].dropna().head()
    for column in (
        "metric_scores_accuracy",
        "metric_scores_confidence",
        "loss_ce",
        "info_digit",
        "info_parity",
        "distance_from_mean",
    ):
        assert column in table.columns
    labeled = table[table["subset"] != "unlabeled"]
    assert np.isfinite(labeled["loss_ce"]).all()
    assert labeled["metric_scores_accuracy"].mean() > 0.5
