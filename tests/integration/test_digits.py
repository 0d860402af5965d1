"""The integration test on the bundled digits example (real data, real ONNX model)."""

from __future__ import annotations

from leapscope import api


def test_digits_example_is_valid(digits_loaded):
    report = api.check(digits_loaded, samples=2)
    assert report.valid, report.to_dict()
    assert report.subsets == {"training": 1078, "validation": 359, "test": 360}
    edges = {(e.kind, e.target, e.argument, e.source) for e in report.wiring}
    assert ("model", "model", "image", "input:image") in edges
    assert ("loss", "cross_entropy", "prediction", "prediction:classes") in edges
    assert ("visualizer", "image", "image", "input:image") in edges


def test_digits_with_the_keras_model(digits_loaded):
    report = api.check(digits_loaded, samples=1, model=digits_loaded.root / "model.h5")
    assert report.valid, report.to_dict()
