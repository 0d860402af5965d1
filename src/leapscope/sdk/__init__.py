"""What integration authors import (as ``import leapscope as ls``). Depends on numpy only.

``__all__`` is the public SDK: the decorators, ``Subset``/``DataState``/``Prediction``,
the visual result types, the built-in metric and loss factories, ``cache_dir`` and
``secret``. The classes behind the decorators (``Metric``, ``Loss``, ...), ``Kind`` and
the built-in loss registry live in the private submodules, for leapscope's own layers.
"""

from leapscope.sdk._builtins import ConfusionMatrixElement, builtin_loss, builtin_metric
from leapscope.sdk._decorators import (
    Integration,
    Prediction,
    gt_encoder,
    input_encoder,
    integration_test,
    latent_space,
    load_model,
    loss,
    metadata,
    metric,
    preprocess,
    unlabeled_preprocess,
    visualizer,
)
from leapscope.sdk._runtime import cache_dir, secret
from leapscope.sdk._subset import DataState, Subset
from leapscope.sdk._visuals import (
    Audio,
    BoundingBox,
    Graph,
    HorizontalBar,
    Image,
    ImageMask,
    ImageWithBoxes,
    ImageWithHeatmap,
    Text,
    TextMask,
    Video,
    VisualizerType,
)

__all__ = [
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
]
