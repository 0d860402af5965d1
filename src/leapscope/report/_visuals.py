"""Visual results as display payloads: PNG bytes for pictures, JSON-ready dicts for charts.

Used by the report (inline images) and by the server's visuals worker.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = ["MIN_SIDE", "visual_to_payload"]

MIN_SIDE = 160  # small images (8x8 digits) are upscaled with nearest-neighbour for display


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    img = PILImage.fromarray(rgb if rgb.shape[-1] != 1 else rgb[..., 0])
    scale = max(1, MIN_SIDE // max(1, min(img.size)))
    if scale > 1:
        img = img.resize((img.size[0] * scale, img.size[1] * scale), PILImage.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    from matplotlib import colormaps

    rgb = image[..., :3] if image.shape[-1] >= 3 else np.repeat(image[..., :1], 3, axis=-1)
    from leapscope.sdk._visuals import heatmap_limits

    h = heat.astype(np.float32)
    if h.ndim == 3:
        h = h.max(axis=-1)
    low, high = heatmap_limits(h)  # a few extreme pixels must not wash out the rest
    colored = (colormaps["jet"](np.clip((h - low) / (high - low), 0, 1))[..., :3] * 255).astype(np.float32)
    return np.asarray(rgb.astype(np.float32) * (1 - alpha) + colored * alpha, dtype=np.float32).astype(np.uint8)


def _mask_png(visual: Any) -> bytes:
    """An ImageMask's overlay (background untinted) with a legend strip below: one swatch + label per class."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    img = PILImage.open(io.BytesIO(_png(visual.overlay()))).convert("RGB")
    legend = visual.legend()
    row = 14
    canvas = PILImage.new("RGB", (img.width, img.height + row * len(legend) + 4), (255, 255, 255))
    canvas.paste(img, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, entry in enumerate(legend):
        y = img.height + 2 + i * row
        if entry["color"] is None:  # background: an empty swatch, the image shows through
            draw.rectangle([4, y + 1, 14, y + 11], outline=(120, 120, 120))
        else:
            draw.rectangle([4, y + 1, 14, y + 11], fill=entry["color"], outline=(60, 60, 60))
        draw.text((20, y), entry["label"], fill=(20, 20, 20))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def visual_to_payload(visual: Any) -> tuple[str, Any]:
    """("image/png", bytes) for pictures, ("application/json", dict) for charts and text."""
    from leapscope.sdk import _visuals as v

    if isinstance(visual, v.Image):
        return "image/png", _png(visual.to_uint8())
    if isinstance(visual, v.ImageWithHeatmap):
        return "image/png", _png(_overlay(v.image_to_uint8(visual.image), visual.heatmap))
    if isinstance(visual, v.ImageMask):
        return "image/png", _mask_png(visual)
    if isinstance(visual, v.ImageWithBoxes):
        from PIL import Image as PILImage
        from PIL import ImageDraw

        base = v.image_to_uint8(visual.image)
        img = PILImage.fromarray(base if base.shape[-1] == 3 else np.repeat(base[..., :1], 3, axis=-1))
        draw = ImageDraw.Draw(img)
        w, h = img.size
        for box in visual.boxes:
            x0, y0 = (box.x - box.width / 2) * w, (box.y - box.height / 2) * h
            draw.rectangle([x0, y0, x0 + box.width * w, y0 + box.height * h], outline=(255, 0, 0))
            draw.text((x0 + 2, y0 + 2), f"{box.label} {box.confidence:.2f}", fill=(255, 0, 0))
        return "image/png", _png(np.asarray(img))
    if isinstance(visual, v.HorizontalBar):
        return "application/json", {
            "type": "horizontal_bar",
            "labels": visual.labels,
            "body": visual.body.tolist(),
            "gt": None if visual.gt is None else visual.gt.tolist(),
        }
    if isinstance(visual, v.Graph):
        return "application/json", {
            "type": "graph",
            "data": visual.data.tolist(),
            "x_label": visual.x_label,
            "y_label": visual.y_label,
        }
    if isinstance(visual, v.Text):
        return "application/json", {
            "type": "text",
            "tokens": visual.tokens,
            "heatmap": None if visual.heatmap is None else visual.heatmap.tolist(),
        }
    if isinstance(visual, v.TextMask):
        return "application/json", {
            "type": "text_mask",
            "tokens": visual.tokens,
            "mask": visual.mask.tolist(),
            "labels": visual.labels,
        }
    if isinstance(visual, v.Audio):
        return "application/json", {
            "type": "audio",
            "sample_rate": visual.sample_rate,
            "data": visual.data.tolist()[:200000],
        }
    if isinstance(visual, v.Video):
        return "image/png", _png(visual.frames[0].astype(np.uint8))
    raise TypeError(f"no renderer for {type(visual).__name__}")
