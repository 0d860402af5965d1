"""Turn code-loader's ``LeapData`` visuals into leapscope's visual types.

=====================  ==============================  ==========================================
code-loader            leapscope                       conversion
=====================  ==============================  ==========================================
LeapImage              Image                           (H, W, C) uint8, or float read as [0, 1] or
                                                       [0, 255] by its maximum
LeapImageWithBBox      ImageWithBoxes                  boxes keep centre/size/confidence/label,
                                                       clipped to [0, 1]
LeapImageMask          ImageMask                       mask of class indices, labels
LeapTextMask           TextMask                        tokens + one class index per token
LeapText               Text                            tokens (+ per-token heatmap)
LeapGraph              Graph                           (T,) or (T, S) series, axis labels
LeapHorizontalBar      HorizontalBar                   body, labels, gt
LeapImageWithHeatmap   ImageWithHeatmap                heatmaps (N, H, W) -> (H, W, N)
LeapVideo              Video                           (T, H, W, C) frames
LeapAudio              Audio                           mono/multi-channel samples, sample rate
LeapPointCloud         Text ("not supported yet")      a card saying so, never an error
=====================  ==============================  ==========================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError, ValidationError
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
    Visual,
    VisualizerType,
)

__all__ = ["UNSUPPORTED", "convert_visual", "not_supported", "visualizer_type"]

#: LeapDataType values leapscope cannot draw yet; their visualizers return a Text card saying so.
UNSUPPORTED = {"PointCloud"}

_TYPES = {
    "Image": VisualizerType.IMAGE,
    "Text": VisualizerType.TEXT,
    "Graph": VisualizerType.GRAPH,
    "HorizontalBar": VisualizerType.HORIZONTAL_BAR,
    "ImageMask": VisualizerType.IMAGE_MASK,
    "TextMask": VisualizerType.TEXT_MASK,
    "ImageWithBBox": VisualizerType.IMAGE_WITH_BOXES,
    "ImageWithHeatmap": VisualizerType.IMAGE_WITH_HEATMAP,
    "Video": VisualizerType.VIDEO,
    "Audio": VisualizerType.AUDIO,
}


def visualizer_type(leap_type: Any) -> VisualizerType:
    """leapscope's visualizer type for a ``LeapDataType`` (or its name); unknown types -> TEXT (a card)."""
    name = getattr(leap_type, "value", leap_type)
    return _TYPES.get(str(name), VisualizerType.TEXT)


def not_supported(kind: str) -> Text:
    """The card shown instead of a visual type leapscope cannot draw yet."""
    return Text([f"{kind}", "visuals", "are", "not", "supported", "by", "leapscope", "yet"])


def _image(data: Any) -> np.ndarray:
    return np.asarray(data)


def _clip(value: Any) -> float:
    return float(min(max(float(value), 0.0), 1.0))


def convert_visual(value: Any, *, function: str) -> Visual:
    """Convert one ``LeapData`` object to a leapscope :class:`Visual`.

    Parameters
    ----------
    value : LeapImage | LeapText | ... (any ``code_loader.contract.visualizer_classes`` type)
    function : str
        How messages name the visualizer (its Tensorleap decorator and function).

    Raises
    ------
    ValidationError
        ``value`` is not a LeapData object, or its arrays do not make a valid visual (the message
        keeps leapscope's reason: expected vs actual shape, dtype or range).
    """
    kind = type(value).__name__
    if isinstance(value, Visual):
        return value
    try:
        return _convert(value, kind)
    except LeapscopeError as exc:
        raise ValidationError(
            f"the {kind} it returned cannot be shown",
            function=function,
            expected=f"a valid {kind}",
            actual=str(exc).splitlines()[0],
            fix="fix the arrays the visualizer puts into the " + kind,
        ) from exc


def _convert(value: Any, kind: str) -> Visual:
    leap_type = str(getattr(getattr(value, "type", None), "value", ""))
    if leap_type in UNSUPPORTED or kind == "LeapPointCloud":
        return not_supported(kind)
    if kind == "LeapImage":
        return Image(_image(value.data))
    if kind == "LeapImageWithBBox":
        boxes = [
            BoundingBox(
                x=_clip(b.x),
                y=_clip(b.y),
                width=_clip(b.width),
                height=_clip(b.height),
                confidence=_clip(b.confidence if b.confidence is not None else 1.0),
                label=str(b.label),
                rotation=float(getattr(b, "rotation", 0.0) or 0.0),
            )
            for b in value.bounding_boxes
        ]
        return ImageWithBoxes(_image(value.data), boxes)
    if kind == "LeapImageMask":
        mask = np.asarray(value.mask)
        if not np.issubdtype(mask.dtype, np.integer):
            mask = mask.astype(np.int32)
        return ImageMask(_image(value.image), mask, [str(label) for label in value.labels])
    if kind == "LeapTextMask":
        mask = np.asarray(value.mask)
        if not np.issubdtype(mask.dtype, np.integer):
            mask = mask.astype(np.int32)
        return TextMask([str(t) for t in value.text], mask, [str(label) for label in value.labels])
    if kind == "LeapText":
        heat = getattr(value, "heatmap", None)
        return Text([str(t) for t in value.data], heatmap=None if heat is None else np.asarray(heat, np.float32))
    if kind == "LeapGraph":
        return Graph(np.asarray(value.data), x_label=value.x_label or "", y_label=value.y_label or "")
    if kind == "LeapHorizontalBar":
        gt = getattr(value, "gt", None)
        return HorizontalBar(
            np.asarray(value.body).reshape(-1),
            [str(label) for label in value.labels],
            gt=None if gt is None else np.asarray(gt).reshape(-1),
        )
    if kind == "LeapImageWithHeatmap":
        heat = np.asarray(value.heatmaps, np.float32)
        heat = np.moveaxis(heat, 0, -1) if heat.ndim == 3 else heat
        if heat.ndim == 3 and heat.shape[-1] == 1:
            heat = heat[..., 0]
        return ImageWithHeatmap(_image(value.image), heat, [str(label) for label in value.labels])
    if kind == "LeapVideo":
        return Video(np.asarray(value.data))
    if kind == "LeapAudio":
        return Audio(np.asarray(value.audio), int(value.sample_rate))
    raise ValidationError(
        "a Tensorleap visualizer must return a LeapData object",
        function="visualizer",
        expected="LeapImage, LeapText, LeapGraph, LeapHorizontalBar, LeapImageMask, LeapTextMask, "
        "LeapImageWithBBox, LeapImageWithHeatmap, LeapVideo or LeapAudio",
        actual=kind,
        fix="return one of code_loader.contract.visualizer_classes",
    )
