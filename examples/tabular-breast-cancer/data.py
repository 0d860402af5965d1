"""scikit-learn's breast-cancer data (569 real biopsies, 30 features), standardised and split once."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer

SPLIT_SEED = 0


def load() -> tuple[np.ndarray, np.ndarray, list[str], dict[str, np.ndarray], np.ndarray]:
    """Standardised features (N, 30) float32, labels (N,) (1 = benign), feature names, rows per subset, raw features."""
    bunch = load_breast_cancer()
    raw = bunch.data.astype(np.float32)
    rng = np.random.default_rng(SPLIT_SEED)
    order = rng.permutation(len(raw))
    cut1, cut2 = int(0.6 * len(order)), int(0.8 * len(order))
    rows = {"training": np.sort(order[:cut1]), "validation": np.sort(order[cut1:cut2]), "test": np.sort(order[cut2:])}
    mean, std = raw[rows["training"]].mean(0), raw[rows["training"]].std(0)
    return ((raw - mean) / std).astype(np.float32), bunch.target, [str(n) for n in bunch.feature_names], rows, raw
