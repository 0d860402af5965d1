"""Fit the sentiment head (logistic regression on sentence embeddings of the training subset) -> head.npz.

python examples/sentiment-minilm/train.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data
import model as sentiment


def main() -> None:
    texts, labels = data.sentences()
    rows = data.split(len(texts))
    ids, mask = sentiment.encode(texts)
    net = sentiment.sentence_model()
    with torch.no_grad():
        emb = net.embed(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(emb[rows["training"]], labels[rows["training"]])
    for name, idx in rows.items():
        print(f"{name:<11} accuracy {clf.score(emb[idx], labels[idx]):.3f}")
    # two-logit head equivalent to the binary logistic regression
    w, b = clf.coef_[0].astype(np.float32), np.float32(clf.intercept_[0])
    np.savez(HERE / "head.npz", weight=np.stack([-w / 2, w / 2]), bias=np.array([-b / 2, b / 2], np.float32))
    print("wrote", HERE / "head.npz")


if __name__ == "__main__":
    main()
