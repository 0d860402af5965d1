"""Text tiles with text masks, built from files that ship in installed wheels.

Every tile is 128 x 128 (the DB detector needs sides that are multiples of 32). Words from a
fixed list are drawn with the DejaVu / Computer Modern / STIX fonts that ship inside
matplotlib, on paper-like backgrounds or on crops of the photos that ship inside
scikit-learn (``china.jpg``, ``flower.jpg``) and matplotlib (``grace_hopper.jpg``). Because
leapscope draws the text, the ground truth is exact: the DB "shrunk" text region of each
line (Liao et al., *Real-time Scene Text Detection with Differentiable Binarization*, AAAI
2020, section 3.4: a text polygon of area A and perimeter L shrunk by D = A (1 - r^2) / L,
r = 0.4), which is what the detector's probability map is trained to cover.

Sources (``tile_source`` metadata):

- ``printed``  dark text on light paper, 12-24 px, up to 3 lines, tilted up to 15 degrees
- ``inverted`` light text on a dark background
- ``photo``    text drawn over a photo crop, in black or white (whichever contrasts more)
- ``tiny``     7-8 px text: below what the detector resolves at this scale
- ``blank``    a photo crop with no text at all (empty mask)
- ``page``     4 crops of scikit-image's ``data.page()`` (a photographed printed page), scaled 4/3
- ``handwritten`` 21 crops of scikit-image's ``data.text()`` (handwritten formulas on lined paper), scaled 2.25

The two scikit-image sources are real scans, so their masks are approximate: thresholded
and joined into line regions with morphology (:func:`scan_mask`).

Nothing is downloaded; the tiles are the same on every machine (seeded).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 128
SHRINK_RATIO = 0.4  # DBNet's r
SEED = 0
WORDS = (
    "leap",
    "scope",
    "text",
    "model",
    "open",
    "data",
    "pixel",
    "image",
    "layer",
    "north",
    "river",
    "paper",
    "green",
    "map",
    "city",
    "mask",
    "total",
    "score",
    "sample",
    "2026",
    "page",
    "42",
    "hello",
    "world",
    "detect",
    "signal",
    "value",
    "input",
    "output",
    "light",
    "night",
    "table",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "seven",
    "alpha",
    "delta",
    "omega",
)
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "cmr10.ttf",
    "STIXGeneral.ttf",
)
#: samples per source and subset
COUNTS = {
    "training": {"printed": 12, "inverted": 5, "photo": 5, "tiny": 5, "blank": 5},
    "validation": {"printed": 8, "inverted": 4, "photo": 6, "tiny": 6, "blank": 4},
    "test": {"printed": 8, "inverted": 4, "photo": 6, "tiny": 6, "blank": 4},
}


@dataclass(frozen=True)
class Tile:
    """One sample: ``image`` (128, 128, 3) uint8 RGB, ``mask`` (128, 128) uint8 {0, 1}, and how it was made."""

    image: np.ndarray
    mask: np.ndarray
    source: str
    font: str
    font_size: int
    angle: float
    lines: int
    words: int
    photo: str
    #: where the pixels come from: "drawn", or the scikit-image image and crop, e.g. "skimage.data.page()[0:128, 64:192]"
    origin: str = "drawn"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def detector_path() -> Path:
    """The PP-OCRv4 DB text detector shipped in the rapidocr-onnxruntime wheel (found without importing it)."""
    return _package_dir("rapidocr_onnxruntime") / "models" / "ch_PP-OCRv4_det_infer.onnx"


@lru_cache(maxsize=1)
def _photos() -> dict[str, np.ndarray]:
    sk = _package_dir("sklearn") / "datasets" / "images"
    mpl = _package_dir("matplotlib") / "mpl-data" / "sample_data"
    files = {"china": sk / "china.jpg", "flower": sk / "flower.jpg", "grace_hopper": mpl / "grace_hopper.jpg"}
    return {name: np.asarray(Image.open(path).convert("RGB")) for name, path in files.items()}


@cache
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_package_dir("matplotlib") / "mpl-data" / "fonts" / "ttf" / name), size)


def _crop(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    name = sorted(_photos())[int(rng.integers(3))]
    photo = _photos()[name]
    side = int(rng.integers(SIZE, min(photo.shape[:2])))
    y, x = int(rng.integers(photo.shape[0] - side + 1)), int(rng.integers(photo.shape[1] - side + 1))
    crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return name, np.asarray(crop)


def _shrunk_polygon(box: tuple[float, float, float, float], angle: float) -> list[tuple[float, float]]:
    """The DB-shrunk rectangle ``box`` (x0, y0, x1, y1), rotated by ``angle`` degrees about the tile centre."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d = w * h * (1 - SHRINK_RATIO**2) / (2 * (w + h))
    corners = np.array([[x0 + d, y0 + d], [x1 - d, y0 + d], [x1 - d, y1 - d], [x0 + d, y1 - d]])
    t = np.deg2rad(angle)
    c = SIZE / 2
    # PIL's Image.rotate(angle) turns counter-clockwise on screen (y down): the same map here.
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return [(float(p[0]), float(p[1])) for p in (corners - c) @ rot.T + c]


def _tile(source: str, rng: np.random.Generator) -> Tile:
    photo_name = ""
    if source in ("printed", "tiny"):
        paper = float(rng.uniform(200, 250))
        background = np.clip(rng.normal(paper, 6.0, (SIZE, SIZE, 1)), 0, 255).repeat(3, -1).astype(np.uint8)
        ink = int(rng.uniform(0, 60))
    elif source == "inverted":
        background = np.full((SIZE, SIZE, 3), int(rng.uniform(10, 60)), np.uint8)
        ink = int(rng.uniform(200, 255))
    else:
        photo_name, background = _crop(rng)
        ink = 0 if background.mean() > 127 else 255
    font_name = FONTS[int(rng.integers(len(FONTS)))]
    if source == "blank":
        mask = np.zeros((SIZE, SIZE), np.uint8)
        return Tile(background, mask, source, "", 0, 0.0, 0, 0, photo_name)
    size = int(rng.integers(7, 9)) if source == "tiny" else int(rng.integers(12, 25))
    angle = float(np.round(rng.uniform(-15, 15), 1))
    font = _font(font_name, size)
    n_lines = int(rng.integers(1, 4))
    text_layer = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(text_layer)
    boxes: list[tuple[float, float, float, float]] = []
    n_words = 0
    y = float(rng.uniform(14, 30))
    for _ in range(n_lines):
        words = [WORDS[int(i)] for i in rng.integers(len(WORDS), size=int(rng.integers(1, 3)))]
        line = " ".join(words)
        x = float(rng.uniform(12, 24))
        bbox = draw.textbbox((x, y), line, font=font)
        if bbox[2] > SIZE - 12 or bbox[3] > SIZE - 12:  # keep every line inside the tile, even once tilted
            line = words[0]
            bbox = draw.textbbox((x, y), line, font=font)
            if bbox[2] > SIZE - 12 or bbox[3] > SIZE - 12:
                break
        draw.text((x, y), line, font=font, fill=255)
        boxes.append(tuple(float(b) for b in bbox))  # type: ignore[arg-type]
        n_words += len(line.split())
        y = bbox[3] + size * float(rng.uniform(0.5, 1.0))
    text_layer = text_layer.rotate(angle, resample=Image.Resampling.BILINEAR, center=(SIZE / 2, SIZE / 2))
    image = Image.fromarray(background)
    image.paste((ink, ink, ink), mask=text_layer)
    mask_img = Image.new("L", (SIZE, SIZE), 0)
    mask_draw = ImageDraw.Draw(mask_img)
    for box in boxes:
        mask_draw.polygon(_shrunk_polygon(box, angle), fill=1)
    return Tile(
        np.asarray(image), np.asarray(mask_img), source, font_name.removesuffix(".ttf"), size, angle,
        len(boxes), n_words, photo_name,
    )  # fmt: skip


def scan_mask(gray: np.ndarray) -> np.ndarray:
    """An approximate text mask of a real scan: (128, 128) uint8 {0, 1}.

    Ink = pixels darker than Sauvola's local threshold (window 25, k 0.2; Sauvola & Pietikainen,
    Pattern Recognition 2000), opened by 2 x 2 to drop specks; letters are joined into line
    regions by a 5 x 15 closing, holes filled, regions under 30 px dropped, and the result eroded
    by 2 px towards DB's shrunk region. Not exact like the drawn tiles' masks.
    """
    from scipy import ndimage as ndi
    from skimage.filters import threshold_sauvola

    ink = gray < threshold_sauvola(gray, window_size=25, k=0.2)
    ink = ndi.binary_opening(ink, np.ones((2, 2)))
    regions = ndi.binary_fill_holes(ndi.binary_closing(ink, np.ones((5, 15))))
    labels, n = ndi.label(regions)
    sizes = np.asarray(ndi.sum(regions, labels, range(1, n + 1)))
    keep = np.isin(labels, 1 + np.flatnonzero(sizes >= 30))
    return np.asarray(ndi.binary_erosion(keep, iterations=2), dtype=np.uint8)


#: scikit-image's bundled scans: source -> (image function, resize factor); each is cut into
#: non-overlapping 128 x 128 crops (row-major), so no pixel is in two subsets
SCANS = {
    "page": ("page", 4 / 3),  # a photographed printed page, uneven light: 255 x 512 -> 1 x 4 crops
    "handwritten": ("text", 2.25),  # handwritten formulas on lined paper: 387 x 1008 -> 3 x 7 crops
}
#: which crop (row-major) goes to which subset, per scan source
SCAN_SUBSETS = {
    "page": ("training", "training", "validation", "test"),
    "handwritten": ("training",) * 7 + ("validation",) * 7 + ("test",) * 7,
}


def _scans() -> list[tuple[str, str, Tile]]:
    """(subset, source, tile) of every scikit-image crop, in a fixed order (no randomness)."""
    from skimage import data as skdata

    out = []
    for source, (name, factor) in SCANS.items():
        gray = np.asarray(getattr(skdata, name)())
        h, w = round(gray.shape[0] * factor), round(gray.shape[1] * factor)
        big = np.asarray(Image.fromarray(gray).resize((w, h), Image.Resampling.BICUBIC))
        crops = [(y, x) for y in range(0, h - SIZE + 1, SIZE) for x in range(0, w - SIZE + 1, SIZE)]
        for (y, x), subset in zip(crops, SCAN_SUBSETS[source], strict=True):
            crop = big[y : y + SIZE, x : x + SIZE]
            origin = f"skimage.data.{name}() x{factor:.2f} [{y}:{y + SIZE}, {x}:{x + SIZE}]"
            tile = Tile(
                np.repeat(crop[..., None], 3, axis=-1), scan_mask(crop), source, "none", 0, 0.0, 0, 0, "", origin
            )
            out.append((subset, source, tile))
    return out


@lru_cache(maxsize=1)
def load() -> dict[str, dict[str, Tile]]:
    """``{subset: {sample_id: Tile}}``; ids such as ``"printed-03"`` or ``"page-01"``, unique per subset."""
    rng = np.random.default_rng(SEED)
    out: dict[str, dict[str, Tile]] = {}
    for subset, counts in COUNTS.items():
        out[subset] = {}
        for source, n in counts.items():
            for i in range(n):
                out[subset][f"{source}-{i:02d}"] = _tile(source, rng)
    for subset, source, tile in _scans():
        n = sum(1 for key in out[subset] if key.startswith(source + "-"))
        out[subset][f"{source}-{n:02d}"] = tile
    return out
