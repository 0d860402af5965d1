"""Two Tensorleap integrations in one process keep their own handlers; visuals and analysis work on a run."""

from __future__ import annotations

import numpy as np
import pytest

from leapscope import api
from leapscope.integration import load
from leapscope.integration.tensorleap import import_code_loader
from leapscope.runs import RunContext
from leapscope.sdk._visuals import HorizontalBar, Image, Text


def test_second_load_does_not_see_the_first_ones_handlers(decorator_onnx, old_style):
    _, _, leap_binder = import_code_loader()
    before = leap_binder.__dict__
    first = load(decorator_onnx).integration
    second = load(old_style).integration
    assert leap_binder.__dict__ is before  # the process-wide binder is left as it was
    assert set(second.visualizers) == {"image_vis", "bars_prediction", "bars_gt"}
    assert "scores" not in second.metrics and "accuracy" not in first.metrics
    # the first one's functions still read their own leap_binder.cache_container
    train = next(s for s in first.preprocess() if s.name == "training")
    assert first.metadata["distance_from_mean"].function(0, train) > 0


def test_analyze_and_visuals_of_a_run(decorator_onnx, tmp_path):
    workspace = tmp_path / "ws"
    run = api.evaluate(decorator_onnx, workspace=workspace, workers=2)
    insights = api.analyze(workspace, run.id)
    assert isinstance(insights, list)
    visuals = RunContext(api.open_run(workspace, run.id)).visuals("validation", "61")
    assert isinstance(visuals["image"], Image) and visuals["image"].data.shape == (8, 8, 1)
    assert isinstance(visuals["probabilities"], HorizontalBar) and len(visuals["probabilities"].labels) == 10
    assert isinstance(visuals["caption"], Text) and visuals["caption"].tokens[0] == "sample 61"
    assert np.isclose(visuals["probabilities"].body.sum(), 1.0, atol=1e-3)


@pytest.mark.slow
def test_visuals_and_explanation_through_the_api(decorator_onnx, tmp_path):
    from fastapi.testclient import TestClient

    from leapscope.server import create_app

    workspace = tmp_path / "ws"
    run = api.evaluate(decorator_onnx, workspace=workspace, workers=0, subsets=["validation"])
    with TestClient(create_app(workspace, warm=False), base_url="http://127.0.0.1") as client:
        sample = client.get(f"/api/v1/runs/{run.id}/samples/validation/61")
        assert sample.status_code == 200, sample.text
        png = client.get(f"/api/v1/runs/{run.id}/samples/validation/61/visuals/image")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        bars = client.get(f"/api/v1/runs/{run.id}/samples/validation/61/visuals/probabilities")
        assert bars.status_code == 200 and len(bars.json()["data"]["labels"]) == 10
        # gradient methods take single-input models; this one has two inputs (leapscope answers 400 for them)
        heat = client.get(
            f"/api/v1/runs/{run.id}/samples/validation/61/explanation", params={"method": "occlusion", "target": "3"}
        )
        assert heat.status_code == 200 and heat.headers["content-type"] == "image/png", heat.text
