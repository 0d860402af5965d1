"""Magika's real ONNX file-type classifier on real files found on this machine.

Ground truth comes from the file extension; the model (inside the `magika` wheel)
sees 1,024 bytes from the start and 1,024 from the end of each file, extracted with
the package's own feature code.
"""

from __future__ import annotations

import json
import random
import sysconfig
from pathlib import Path

import magika
import numpy as np
from magika import Magika
from magika.types.seekable import Seekable

import leapscope as ls

MODEL_DIR = Path(magika.__file__).parent / "models" / "standard_v3_3"
CONFIG = json.loads((MODEL_DIR / "config.min.json").read_text())
LABELS: list[str] = CONFIG["target_labels_space"]
EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".json": "json",
    ".txt": "txt",
    ".html": "html",
    ".css": "css",
    ".js": "javascript",
    ".png": "png",
    ".so": "elf",
    ".zip": "zip",
    ".md": "markdown",
    ".xml": "xml",
    ".toml": "toml",
    ".csv": "csv",
    ".sh": "shell",
    ".c": "c",
    ".h": "c",
    ".gz": "gzip",
    ".svg": "svg",
    ".yaml": "yaml",
    ".ini": "ini",
    ".rst": "rst",
}
PER_EXTENSION = 30


def _files() -> dict[str, tuple[Path, str]]:
    roots = {"stdlib": Path(sysconfig.get_paths()["stdlib"]), "site-packages": Path(sysconfig.get_paths()["purelib"])}
    found: dict[str, list[tuple[str, Path, str]]] = {ext: [] for ext in EXTENSIONS}
    for root_name, root in roots.items():
        for path in sorted(root.rglob("*")):
            ext = path.suffix.lower()
            if ext in found and path.is_file() and not path.is_symlink() and path.stat().st_size >= 64:
                found[ext].append((f"{root_name}/{path.relative_to(root)}", path, root_name))
    rng = random.Random(0)
    chosen = {}
    for items in found.values():
        for key, path, root_name in rng.sample(items, min(PER_EXTENSION, len(items))):
            chosen[key] = (path, root_name)
    return chosen


@ls.preprocess
def subsets() -> list[ls.Subset]:
    files = _files()
    ids = sorted(files)
    random.Random(1).shuffle(ids)
    cut1, cut2 = int(0.5 * len(ids)), int(0.75 * len(ids))
    return [
        ls.Subset(state, sorted(part), files)
        for state, part in (("training", ids[:cut1]), ("validation", ids[cut1:cut2]), ("test", ids[cut2:]))
    ]


@ls.input_encoder("bytes", channel_dim=None, dtype="int32")
def file_bytes(sample_id: str, subset: ls.Subset) -> np.ndarray:
    path, _ = subset.data[sample_id]
    with open(path, "rb") as stream:
        features = Magika._extract_features_from_seekable(  # the package's own feature extraction
            Seekable(stream),
            CONFIG["beg_size"],
            CONFIG["mid_size"],
            CONFIG["end_size"],
            CONFIG["padding_token"],
            CONFIG["block_size"],
            CONFIG["use_inputs_at_offsets"],
        )
    return np.asarray(features.beg + features.end, dtype=np.int32)  # (2048,), 256 = padding


@ls.gt_encoder("file_type")
def file_type(sample_id: str, subset: ls.Subset) -> np.ndarray:
    path, _ = subset.data[sample_id]
    onehot = np.zeros(len(LABELS), dtype=np.float32)
    onehot[LABELS.index(EXTENSIONS[path.suffix.lower()])] = 1.0
    return onehot


@ls.metadata("file")
def file_meta(sample_id: str, subset: ls.Subset) -> dict:
    path, root = subset.data[sample_id]
    size = path.stat().st_size
    return {
        "extension": path.suffix.lower(),
        "size": size,
        "size_class": "small" if size < 1024 else ("medium" if size < 65536 else "large"),
        "root": root,
    }


@ls.visualizer("bytes", ls.VisualizerType.GRAPH)
def show_bytes(bytes: np.ndarray) -> ls.Graph:
    return ls.Graph(
        bytes.astype(np.float32),
        x_label="position (first 1,024 | last 1,024 bytes)",
        y_label="byte value (256 = padding)",
    )


@ls.visualizer("prediction", ls.VisualizerType.HORIZONTAL_BAR)
def show_prediction(probs: np.ndarray, truth: np.ndarray) -> ls.HorizontalBar:
    top = np.argsort(-(probs + truth))[:8][::-1]
    return ls.HorizontalBar(probs[top], [LABELS[i] for i in top], gt=truth[top])


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy")


@ls.load_model(predictions=[ls.Prediction("file_type", labels=LABELS)])
def model() -> str:
    return str(MODEL_DIR / "model.onnx")


@ls.integration_test
def test(sample_id: str, subset: ls.Subset) -> None:
    x = file_bytes(sample_id, subset)
    y = file_type(sample_id, subset)
    p = model()(x)
    cross_entropy(y, p)
    accuracy(y, p)
    show_bytes(x)
    show_prediction(p, y)
