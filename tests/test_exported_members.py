"""Pins the public surface: names users import must not disappear by accident."""

from __future__ import annotations

import subprocess
import sys

import leapscope as ls

SDK = {
    "Audio", "BoundingBox", "ConfusionMatrixElement", "DataState", "Graph", "HorizontalBar", "Image", "ImageMask",
    "ImageWithBoxes", "ImageWithHeatmap", "Integration", "Prediction", "Subset", "Text", "TextMask", "Video",
    "VisualizerType", "builtin_loss", "builtin_metric", "cache_dir", "gt_encoder", "input_encoder",
    "integration_test", "load_model", "loss", "metadata", "metric", "preprocess", "secret", "unlabeled_preprocess",
    "visualizer", "LeapscopeError", "check", "evaluate", "open_run",
}


def test_public_names():
    assert set(ls.__all__) >= SDK
    assert ls.__all__ == sorted(ls.__all__)
    for name in ls.__all__:
        if name not in ("evaluate", "open_run"):
            assert getattr(ls, name) is not None


def test_import_leapscope_stays_light():
    code = "import sys, leapscope; heavy = [m for m in ('torch', 'onnxruntime', 'keras', 'sklearn', 'pyarrow') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
