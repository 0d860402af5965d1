"""leapscope integration for a real third-party text detector: PP-OCRv4's DB model from the rapidocr wheel.

The model (``ch_PP-OCRv4_det_infer.onnx``, 4.7 MB, shipped inside ``rapidocr-onnxruntime``)
maps a (B, 3, H, W) BGR image normalised to [-1, 1] to a (B, 1, H, W) text probability map
(DBNet, Liao et al. 2020). The data are 128 x 128 tiles drawn by ``data.py`` (exact text
masks) and crops of scikit-image's bundled scans (thresholded masks); see README.md.
"""

from __future__ import annotations

import numpy as np

import leapscope as ls

import data  # the example's own data module (the integration folder is importable)

TILES = data.load()
LABELS = ["background", "text"]
THRESHOLD = 0.3  # DB's binarisation threshold (rapidocr's Det.thresh)
EPS = 1.0  # soft-dice smoothing, in pixels: a tile without text predicted empty has loss 0


@ls.preprocess
def subsets() -> list[ls.Subset]:
    return [ls.Subset(name, sample_ids=sorted(tiles)) for name, tiles in TILES.items()]


@ls.input_encoder("image", channel_dim=0)
def image(sample_id: str, subset: ls.Subset) -> np.ndarray:
    """(3, 128, 128) float32 BGR in [-1, 1], as rapidocr's DetPreProcess feeds the detector."""
    rgb = TILES[subset.name][sample_id].image
    return ((rgb[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0) - 0.5) / 0.5


@ls.gt_encoder("text_mask")
def text_mask(sample_id: str, subset: ls.Subset) -> np.ndarray:
    """(1, 128, 128) float32 in {0, 1}: the DB-shrunk region of every text line."""
    return TILES[subset.name][sample_id].mask[None].astype(np.float32)


@ls.metadata("tile")
def tile(sample_id: str, subset: ls.Subset) -> dict:
    t = TILES[subset.name][sample_id]
    return {
        "source": t.source,
        "font": t.font or "none",
        "font_size": t.font_size,
        "angle": t.angle,
        "lines": t.lines,
        "words": t.words,
        "text_fraction": float(t.mask.mean()),
        "photo": t.photo or "none",
        "brightness": float(t.image.mean() / 255.0),
        "origin": t.origin,  # "drawn", or the scikit-image image and crop
    }


def _rgb(image: np.ndarray) -> np.ndarray:
    """(3, H, W) BGR in [-1, 1] -> (H, W, 3) RGB in [0, 1]."""
    return np.clip(image[::-1].transpose(1, 2, 0) * 0.5 + 0.5, 0.0, 1.0)


@ls.visualizer("image", ls.VisualizerType.IMAGE)
def show_image(image: np.ndarray) -> ls.Image:
    return ls.Image(_rgb(image), scale="unit")


@ls.visualizer("ground_truth", ls.VisualizerType.IMAGE_MASK)
def show_ground_truth(image: np.ndarray, text_mask: np.ndarray) -> ls.ImageMask:
    return ls.ImageMask(_rgb(image), (text_mask[0] > 0.5).astype(np.int32), LABELS, background=0)


@ls.visualizer("prediction", ls.VisualizerType.IMAGE_MASK)
def show_prediction(image: np.ndarray, text_probability: np.ndarray) -> ls.ImageMask:
    """The detector's map binarised at DB's threshold 0.3."""
    return ls.ImageMask(_rgb(image), (text_probability[0] > THRESHOLD).astype(np.int32), LABELS, background=0)


@ls.visualizer("probability", ls.VisualizerType.IMAGE_WITH_HEATMAP)
def show_probability(image: np.ndarray, text_probability: np.ndarray) -> ls.ImageWithHeatmap:
    return ls.ImageWithHeatmap(_rgb(image), text_probability[0])


def _soft_dice(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Soft dice per sample: (2 sum(p g) + eps) / (sum p + sum g + eps), over all pixels; (B,)."""
    p = prediction.reshape(len(prediction), -1)
    g = gt.reshape(len(gt), -1)
    return (2.0 * (p * g).sum(1) + EPS) / (p.sum(1) + g.sum(1) + EPS)


@ls.loss("dice")
def dice_loss(text_mask: np.ndarray, text_probability: np.ndarray) -> np.ndarray:
    """1 - soft dice (Milletari et al., V-Net, 2016) of the probability map vs the mask; 0 best, 1 worst."""
    return 1.0 - _soft_dice(text_mask, text_probability)


binary_cross_entropy = ls.builtin_loss("binary_cross_entropy")


# built-in mask metrics of the map binarised at DB's threshold: 2|P n G| / (|P| + |G|) and |P n G| / |P u G|,
# both 1.0 when mask and prediction are empty (leapscope.sdk._builtins.dice / iou)
dice = ls.builtin_metric("dice", threshold=THRESHOLD)
iou = ls.builtin_metric("iou", threshold=THRESHOLD)


@ls.load_model(predictions=[ls.Prediction("text_probability", labels=["text"], channel_dim=0, kind="dense")])
def model() -> str:
    return str(data.detector_path())


@ls.integration_test
def test(sample_id: str, subset: ls.Subset) -> None:
    x = image(sample_id, subset)
    y = text_mask(sample_id, subset)
    p = model()(x)
    dice_loss(y, p)
    binary_cross_entropy(y, p)
    dice(y, p)
    iou(y, p)
    show_image(x)
    show_ground_truth(x, y)
    show_prediction(x, p)
    show_probability(x, p)
