"""Visual result types returned by visualizers.

A visualizer always receives ONE sample (no batch axis) and returns one of these.
Each type validates its arrays on construction, so a wrong shape is reported where
the visualizer built it, not later in the web app.

Notation: H, W image height and width in pixels; C channels (1 or 3); T tokens,
time steps or frames; K classes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from leapscope.exceptions import ValidationError

__all__ = [
    "Audio",
    "BoundingBox",
    "Graph",
    "HorizontalBar",
    "Image",
    "ImageMask",
    "ImageWithBoxes",
    "ImageWithHeatmap",
    "MASK_PALETTE",
    "Text",
    "TextMask",
    "Video",
    "Visual",
    "VisualizerType",
    "image_to_uint8",
]


class VisualizerType(enum.StrEnum):
    """The kind of visual a visualizer returns; each maps to one result class."""

    IMAGE = "image"
    TEXT = "text"
    GRAPH = "graph"
    HORIZONTAL_BAR = "horizontal_bar"
    IMAGE_MASK = "image_mask"
    TEXT_MASK = "text_mask"
    IMAGE_WITH_BOXES = "image_with_boxes"
    IMAGE_WITH_HEATMAP = "image_with_heatmap"
    AUDIO = "audio"
    VIDEO = "video"

    @property
    def result_class(self) -> type[Visual]:
        """The visual class a visualizer of this type must return."""
        return _RESULT_CLASS[self]


def _fail(cls: str, argument: str, problem: str, expected: str, actual: str, fix: str) -> ValidationError:
    return ValidationError(problem, function=cls, argument=argument, expected=expected, actual=actual, fix=fix)


def _array(cls: str, argument: str, value: Any, ndim: tuple[int, ...], fix: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim not in ndim:
        raise _fail(
            cls,
            argument,
            "wrong number of dimensions",
            " or ".join(f"{n}-D" for n in ndim),
            f"shape {arr.shape}",
            fix,
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise _fail(cls, argument, "not numeric", "a numeric array", f"dtype {arr.dtype}", fix)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise _fail(cls, argument, "contains NaN or inf", "finite values", "NaN/inf present", fix)
    return arr


def _image_array(cls: str, argument: str, value: Any) -> np.ndarray:
    arr = _array(cls, argument, value, (2, 3), "return one image of shape (H, W, C) with C in {1, 3}, no batch axis")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[-1] not in (1, 3, 4):
        raise _fail(
            cls,
            argument,
            "the last axis is not a channel axis",
            "(H, W, 1), (H, W, 3) or (H, W, 4)",
            f"shape {arr.shape}",
            "move channels last, e.g. np.transpose(img, (1, 2, 0)) for a (C, H, W) image",
        )
    return arr


def image_to_uint8(data: np.ndarray, scale: Literal["auto", "unit", "byte"] = "auto") -> np.ndarray:
    """Convert an image array to ``uint8`` in [0, 255] for display.

    Parameters
    ----------
    data : ndarray of shape (H, W, C)
        ``uint8`` is returned unchanged. Floats are in [0, 1] (``scale="unit"``) or
        [0, 255] (``scale="byte"``); with ``"auto"`` a float image whose maximum is
        at most 1.0 is read as [0, 1], otherwise as [0, 255]. Values outside the
        range are clipped.
    scale : {"auto", "unit", "byte"}

    Returns
    -------
    ndarray of shape (H, W, C), dtype uint8
    """
    if data.dtype == np.uint8:
        return data
    arr = data.astype(np.float32)
    if scale == "unit" or (scale == "auto" and float(arr.max(initial=0.0)) <= 1.0):
        arr = arr * 255.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


class Visual:
    """Base class of visual results."""

    type: ClassVar[VisualizerType]


@dataclass
class Image(Visual):
    """An image.

    Parameters
    ----------
    data : ndarray of shape (H, W, C) or (H, W), C in {1, 3, 4}
        ``uint8`` in [0, 255], or float in [0, 1] or [0, 255] (see ``scale``).
    scale : {"auto", "unit", "byte"}, default "auto"
        How float values are read; ``auto``: maximum <= 1.0 means [0, 1].
    """

    type: ClassVar[VisualizerType] = VisualizerType.IMAGE
    data: np.ndarray
    scale: Literal["auto", "unit", "byte"] = "auto"

    def __post_init__(self) -> None:
        self.data = _image_array("Image", "data", self.data)
        if self.scale not in ("auto", "unit", "byte"):
            raise _fail(
                "Image", "scale", "unknown scale", "'auto', 'unit' or 'byte'", repr(self.scale), "pass one of them"
            )

    def to_uint8(self) -> np.ndarray:
        """The image as ``uint8`` (H, W, C) for display."""
        return image_to_uint8(self.data, self.scale)


def _tokens(cls: str, tokens: Any) -> list[str]:
    if isinstance(tokens, str) or not all(isinstance(t, str) for t in tokens):
        raise _fail(
            cls,
            "tokens",
            "tokens must be a list of str",
            "list[str]",
            type(tokens).__name__,
            "split the text, e.g. text.split()",
        )
    return list(tokens)


@dataclass
class Text(Visual):
    """Tokens of a text, optionally with one heatmap value per token.

    Parameters
    ----------
    tokens : list of str, length T
    heatmap : ndarray of shape (T,), float, optional
        Token importance (any real scale; the UI normalises it).
    """

    type: ClassVar[VisualizerType] = VisualizerType.TEXT
    tokens: list[str]
    heatmap: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.tokens = _tokens("Text", self.tokens)
        if self.heatmap is not None:
            self.heatmap = _array("Text", "heatmap", self.heatmap, (1,), "one value per token").astype(np.float32)
            if len(self.heatmap) != len(self.tokens):
                raise _fail(
                    "Text",
                    "heatmap",
                    "one value per token",
                    f"shape ({len(self.tokens)},)",
                    f"shape {self.heatmap.shape}",
                    "give exactly one heatmap value per token",
                )


@dataclass
class Graph(Visual):
    """A line graph: one or several series over T steps.

    Parameters
    ----------
    data : ndarray of shape (T,) or (T, S)
        S series of T values each.
    x_label, y_label : str
    """

    type: ClassVar[VisualizerType] = VisualizerType.GRAPH
    data: np.ndarray
    x_label: str = ""
    y_label: str = ""

    def __post_init__(self) -> None:
        self.data = _array("Graph", "data", self.data, (1, 2), "return (T,) or (T, S) values").astype(np.float32)


@dataclass
class HorizontalBar(Visual):
    """One bar per label, e.g. class probabilities, with optional ground truth.

    Parameters
    ----------
    body : ndarray of shape (K,)
    labels : list of str, length K
    gt : ndarray of shape (K,), optional
        Ground-truth values drawn beside the bars.
    """

    type: ClassVar[VisualizerType] = VisualizerType.HORIZONTAL_BAR
    body: np.ndarray
    labels: list[str]
    gt: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.body = _array("HorizontalBar", "body", self.body, (1,), "return one value per label, shape (K,)").astype(
            np.float32
        )
        self.labels = [str(label) for label in self.labels]
        if len(self.labels) != len(self.body):
            raise _fail(
                "HorizontalBar",
                "labels",
                "one label per bar",
                f"{len(self.body)} labels",
                f"{len(self.labels)} labels",
                "pass as many labels as values in body",
            )
        if self.gt is not None:
            self.gt = _array("HorizontalBar", "gt", self.gt, (1,), "shape (K,) like body").astype(np.float32)
            if self.gt.shape != self.body.shape:
                raise _fail(
                    "HorizontalBar",
                    "gt",
                    "gt and body differ in shape",
                    f"shape {self.body.shape}",
                    f"shape {self.gt.shape}",
                    "give gt the same shape as body",
                )


# Okabe-Ito colour-blind safe palette followed by matplotlib's tab10 (both public, fixed RGB values);
# class k gets PALETTE[k % len(PALETTE)] unless the visualizer passes its own colours.
MASK_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _rgb(cls: str, value: Any) -> tuple[int, int, int]:
    if isinstance(value, str):
        text = value.lstrip("#")
        if len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text):
            return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    else:
        try:
            parts = [int(c) for c in value]
        except (TypeError, ValueError):
            parts = []
        if len(parts) == 3 and all(0 <= c <= 255 for c in parts):
            return (parts[0], parts[1], parts[2])
    raise _fail(
        cls,
        "colors",
        "not a colour",
        "'#rrggbb' or an (r, g, b) tuple of ints in [0, 255]",
        repr(value),
        "give one colour per label, e.g. colors=['#000000', '#ff0000']",
    )


@dataclass
class ImageMask(Visual):
    """An image with a segmentation mask of class indices, drawn with a class legend.

    Parameters
    ----------
    image : ndarray of shape (H, W, C), C in {1, 3, 4}
        ``uint8``, or float in [0, 1] / [0, 255] (read as by :class:`Image`, ``scale="auto"``).
    mask : ndarray of shape (H, W), integer
        Class index per pixel, each in ``[0, len(labels))``.
    labels : list of str, length K
        Name of each class index; shown in the legend.
    background : int, str or None, default 0
        The class drawn *untinted* (the image shows through) and marked as background in
        the legend: a class index, a label name, or ``None`` to tint every class.
    colors : list of '#rrggbb' or (r, g, b), length K, optional
        One colour per class; default: the Okabe-Ito colour-blind-safe palette, then
        matplotlib's tab10 (:data:`MASK_PALETTE`), class ``k`` taking entry ``k``.
    alpha : float in (0, 1], default 0.5
        Opacity of the class colours over the image.

    Raises
    ------
    ValidationError
        Wrong shapes, a non-integer mask, mask values outside ``[0, K)``, an unknown
        ``background`` label or index, a wrong number of colours, or ``alpha`` outside (0, 1].

    Examples
    --------
    >>> img = np.zeros((4, 4, 3), np.float32)
    >>> prob = np.array([[0.9, 0.1, 0.1, 0.1]] * 4, np.float32)
    >>> m = ImageMask(img, (prob > 0.3).astype(np.int32), ["background", "text"])
    >>> [(entry["label"], entry["color"] is None) for entry in m.legend()]
    [('background', True), ('text', False)]
    >>> overlay = m.overlay()  # text pixels tinted, background untouched
    >>> overlay.shape, overlay.dtype, bool((overlay[:, 1:] == 0).all())
    ((4, 4, 3), dtype('uint8'), True)
    """

    type: ClassVar[VisualizerType] = VisualizerType.IMAGE_MASK
    image: np.ndarray
    mask: np.ndarray
    labels: list[str]
    background: int | str | None = 0
    colors: list[Any] | None = None
    alpha: float = 0.5

    def __post_init__(self) -> None:
        self.image = _image_array("ImageMask", "image", self.image)
        self.mask = _array("ImageMask", "mask", self.mask, (2,), "return an (H, W) array of class indices")
        if self.mask.shape != self.image.shape[:2]:
            raise _fail(
                "ImageMask",
                "mask",
                "mask and image differ in size",
                f"shape {self.image.shape[:2]}",
                f"shape {self.mask.shape}",
                "resize the mask to the image",
            )
        if not np.issubdtype(self.mask.dtype, np.integer):
            raise _fail(
                "ImageMask",
                "mask",
                "mask must hold integer class indices",
                "integer dtype",
                f"dtype {self.mask.dtype}",
                "e.g. mask.argmax(-1).astype(np.int32)",
            )
        self.labels = [str(label) for label in self.labels]
        k = len(self.labels)
        if k == 0:
            raise _fail("ImageMask", "labels", "no class names", "at least one label", "[]", "name every class index")
        if self.mask.size and (int(self.mask.min()) < 0 or int(self.mask.max()) >= k):
            raise _fail(
                "ImageMask",
                "mask",
                "class index without a label",
                f"indices in [0, {k}) for labels {self.labels}",
                f"indices in [{int(self.mask.min())}, {int(self.mask.max())}]",
                "add a label for every class index (or clip the mask)",
            )
        self.background = self._background_index(self.background)
        if self.colors is None:
            self.colors = [MASK_PALETTE[i % len(MASK_PALETTE)] for i in range(k)]
        else:
            if isinstance(self.colors, str) or len(self.colors) != k:
                raise _fail(
                    "ImageMask",
                    "colors",
                    "one colour per label",
                    f"{k} colours",
                    repr(self.colors),
                    "give exactly one colour per label",
                )
            self.colors = [_rgb("ImageMask", c) for c in self.colors]
        if not (0.0 < float(self.alpha) <= 1.0):
            raise _fail("ImageMask", "alpha", "outside (0, 1]", "an opacity in (0, 1]", repr(self.alpha), "e.g. 0.5")

    def _background_index(self, value: int | str | None) -> int | None:
        if value is None:
            return None
        if isinstance(value, str):
            if value not in self.labels:
                raise _fail(
                    "ImageMask",
                    "background",
                    "unknown background label",
                    f"one of {self.labels} or None",
                    repr(value),
                    "name the background class as it appears in labels, or pass its index",
                )
            return self.labels.index(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or not 0 <= int(value) < len(self.labels)
        ):
            raise _fail(
                "ImageMask",
                "background",
                "not a class index",
                f"an index in [0, {len(self.labels)}), a label or None",
                repr(value),
                "pass background=None to tint every class",
            )
        return int(value)

    def legend(self) -> list[dict[str, Any]]:
        """One entry per class: ``{"index", "label", "color", "background", "pixels"}``.

        ``color`` is ``"#rrggbb"``, or ``None`` for the background class (drawn untinted);
        ``pixels`` counts the mask pixels of that class.
        """
        counts = np.bincount(self.mask.ravel().astype(np.int64), minlength=len(self.labels))
        colors = self.colors or []
        return [
            {
                "index": i,
                "label": label,
                "color": None if i == self.background else _hex(colors[i]),
                "background": i == self.background,
                "pixels": int(counts[i]),
            }
            for i, label in enumerate(self.labels)
        ]

    def overlay(self) -> np.ndarray:
        """The image with each non-background class blended in its colour.

        Returns
        -------
        ndarray of shape (H, W, 3), dtype uint8
            ``(1 - alpha) * image + alpha * color`` on pixels of tinted classes; background
            pixels keep the image's own values (gray images are repeated to RGB).
        """
        base = image_to_uint8(self.image)
        rgb = base[..., :3] if base.shape[-1] >= 3 else np.repeat(base[..., :1], 3, axis=-1)
        palette = np.asarray(self.colors, dtype=np.float32)  # (K, 3)
        tint = palette[self.mask]  # (H, W, 3)
        blended = rgb.astype(np.float32) * (1.0 - float(self.alpha)) + tint * float(self.alpha)
        out: np.ndarray = np.rint(blended).clip(0, 255).astype(np.uint8)
        if self.background is not None:
            keep = self.mask == self.background
            out[keep] = rgb[keep]
        return out


@dataclass
class TextMask(Visual):
    """Tokens with one class index each (e.g. named entities)."""

    type: ClassVar[VisualizerType] = VisualizerType.TEXT_MASK
    tokens: list[str]
    mask: np.ndarray
    labels: list[str]

    def __post_init__(self) -> None:
        self.tokens = _tokens("TextMask", self.tokens)
        self.mask = _array("TextMask", "mask", self.mask, (1,), "one class index per token")
        if len(self.mask) != len(self.tokens):
            raise _fail(
                "TextMask",
                "mask",
                "one class index per token",
                f"shape ({len(self.tokens)},)",
                f"shape {self.mask.shape}",
                "give exactly one index per token",
            )


@dataclass
class BoundingBox:
    """A box in normalised image coordinates.

    ``x``, ``y`` are the box centre and ``width``, ``height`` its size, all as a
    fraction of the image size in [0, 1]; ``confidence`` in [0, 1].
    """

    x: float
    y: float
    width: float
    height: float
    confidence: float = 1.0
    label: str = ""
    rotation: float = 0.0

    def __post_init__(self) -> None:
        for name in ("x", "y", "width", "height", "confidence"):
            value = float(getattr(self, name))
            if not (0.0 <= value <= 1.0):
                raise _fail(
                    "BoundingBox",
                    name,
                    "outside [0, 1]",
                    "a fraction of the image size in [0, 1]",
                    repr(value),
                    "divide pixel coordinates by the image width/height",
                )


@dataclass
class ImageWithBoxes(Visual):
    """An image with bounding boxes."""

    type: ClassVar[VisualizerType] = VisualizerType.IMAGE_WITH_BOXES
    image: np.ndarray
    boxes: list[BoundingBox] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.image = _image_array("ImageWithBoxes", "image", self.image)
        for box in self.boxes:
            if not isinstance(box, BoundingBox):
                raise _fail(
                    "ImageWithBoxes",
                    "boxes",
                    "not a BoundingBox",
                    "list[ls.BoundingBox]",
                    type(box).__name__,
                    "wrap each box in ls.BoundingBox(...)",
                )


def heatmap_limits(heat: np.ndarray, outlier_percent: float = 2.0) -> tuple[float, float]:
    """Colour limits ``(low, high)`` of a heatmap that ignore its most extreme ``outlier_percent`` of values.

    Attribution maps often hold a few extreme pixels (Integrated Gradients on a saturated output) that
    would wash out everything else; clipping them is what Captum's ``visualize_image_attr`` does
    (``outlier_perc=2``). Non-finite values are ignored; a constant map gives ``(v, v + 1)``.
    """
    values = np.asarray(heat, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    half = outlier_percent / 2
    low, high = (float(v) for v in np.percentile(values, [half, 100 - half]))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    return (low, high) if high > low else (low, low + 1.0)


@dataclass
class ImageWithHeatmap(Visual):
    """An image with a heatmap drawn over it.

    Parameters
    ----------
    image : ndarray of shape (H, W, C)
    heatmap : ndarray of shape (H, W) or (H, W, K)
        One map, or K maps (one per label).
    labels : list of str, length K, optional
    """

    type: ClassVar[VisualizerType] = VisualizerType.IMAGE_WITH_HEATMAP
    image: np.ndarray
    heatmap: np.ndarray
    labels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.image = _image_array("ImageWithHeatmap", "image", self.image)
        self.heatmap = _array("ImageWithHeatmap", "heatmap", self.heatmap, (2, 3), "return (H, W) or (H, W, K)").astype(
            np.float32
        )
        if self.heatmap.shape[:2] != self.image.shape[:2]:
            raise _fail(
                "ImageWithHeatmap",
                "heatmap",
                "heatmap and image differ in size",
                f"shape {self.image.shape[:2]}",
                f"shape {self.heatmap.shape[:2]}",
                "upsample the heatmap to the image size",
            )


@dataclass
class Audio(Visual):
    """A waveform.

    Parameters
    ----------
    data : ndarray of shape (T,) or (T, channels), float in [-1, 1]
    sample_rate : int, Hz
    """

    type: ClassVar[VisualizerType] = VisualizerType.AUDIO
    data: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        self.data = _array("Audio", "data", self.data, (1, 2), "return (T,) or (T, channels) samples").astype(
            np.float32
        )
        if int(self.sample_rate) <= 0:
            raise _fail(
                "Audio",
                "sample_rate",
                "not positive",
                "a rate in Hz > 0",
                repr(self.sample_rate),
                "pass the sampling rate, e.g. 16000",
            )


@dataclass
class Video(Visual):
    """Frames of a video.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
    fps : float, frames per second
    """

    type: ClassVar[VisualizerType] = VisualizerType.VIDEO
    frames: np.ndarray
    fps: float = 25.0

    def __post_init__(self) -> None:
        self.frames = _array("Video", "frames", self.frames, (4,), "return (T, H, W, C) frames")
        if self.frames.shape[-1] not in (1, 3):
            raise _fail(
                "Video",
                "frames",
                "the last axis is not a channel axis",
                "(T, H, W, 1|3)",
                f"shape {self.frames.shape}",
                "move channels last",
            )


_RESULT_CLASS: dict[VisualizerType, type[Visual]] = {
    VisualizerType.IMAGE: Image,
    VisualizerType.TEXT: Text,
    VisualizerType.GRAPH: Graph,
    VisualizerType.HORIZONTAL_BAR: HorizontalBar,
    VisualizerType.IMAGE_MASK: ImageMask,
    VisualizerType.TEXT_MASK: TextMask,
    VisualizerType.IMAGE_WITH_BOXES: ImageWithBoxes,
    VisualizerType.IMAGE_WITH_HEATMAP: ImageWithHeatmap,
    VisualizerType.AUDIO: Audio,
    VisualizerType.VIDEO: Video,
}
