"""Pins the public surface: exactly these names, so none disappears and no internal leaks in by accident."""

from __future__ import annotations

import subprocess
import sys

import leapscope as ls
import leapscope.sdk

SDK = {
    "Audio",
    "BoundingBox",
    "ConfusionMatrixElement",
    "DataState",
    "Graph",
    "HorizontalBar",
    "Image",
    "ImageMask",
    "ImageWithBoxes",
    "ImageWithHeatmap",
    "Integration",
    "Prediction",
    "Subset",
    "Text",
    "TextMask",
    "Video",
    "VisualizerType",
    "builtin_loss",
    "builtin_metric",
    "cache_dir",
    "gt_encoder",
    "input_encoder",
    "integration_test",
    "latent_space",
    "load_model",
    "loss",
    "metadata",
    "metric",
    "preprocess",
    "secret",
    "unlabeled_preprocess",
    "visualizer",
}
API = {"analyze", "check", "evaluate", "launch", "load_integration", "open_run"}


def test_public_names():
    assert set(ls.__all__) == SDK | API | {"LeapscopeError"}
    assert set(leapscope.sdk.__all__) == SDK
    assert ls.__all__ == sorted(ls.__all__)
    for name in ls.__all__:
        if name not in API:
            assert getattr(ls, name) is not None
    assert isinstance(ls.__version__, str)


def test_internals_are_not_exported():
    # the classes behind the decorators and the raw built-in functions stay in leapscope.sdk's submodules;
    # ls.confusion_matrix (a metric function) would clash with the dashboards' confusion matrix
    for name in ("Kind", "Decorated", "Metric", "Loss", "Visual", "image_to_uint8", "confusion_matrix", "accuracy"):
        assert not hasattr(ls, name), name


def test_import_leapscope_stays_light():
    code = "import sys, leapscope; heavy = [m for m in ('torch', 'onnxruntime', 'keras', 'sklearn', 'pyarrow') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
