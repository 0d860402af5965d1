"""scikit-learn's diabetes data (442 real patients, 10 baseline variables), standardised and split once.

The target is a quantitative measure of disease progression one year after baseline
(Efron et al., "Least Angle Regression", Annals of Statistics 2004); it ranges 25-346.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_diabetes

SPLIT_SEED = 0
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
FEATURE_NAMES = [
    "age",
    "sex",
    "body mass index",
    "blood pressure",
    "s1 total cholesterol",
    "s2 LDL",
    "s3 HDL",
    "s4 cholesterol / HDL",
    "s5 log triglycerides",
    "s6 blood sugar",
]


def load() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Standardised features (442, 10) float32, targets (442,) float32, rows per subset, raw features (442, 10).

    Raw features are in the original units (age in years, sex 1 or 2, BMI in kg/m^2, mean
    blood pressure in mm Hg, serum measurements); standardisation uses the training rows only.
    """
    bunch = load_diabetes(scaled=False)
    raw = bunch.data.astype(np.float32)
    rng = np.random.default_rng(SPLIT_SEED)
    order = rng.permutation(len(raw))
    cut1, cut2 = int(0.6 * len(order)), int(0.8 * len(order))
    rows = {"training": np.sort(order[:cut1]), "validation": np.sort(order[cut1:cut2]), "test": np.sort(order[cut2:])}
    mean, std = raw[rows["training"]].mean(0), raw[rows["training"]].std(0)
    return ((raw - mean) / std).astype(np.float32), bunch.target.astype(np.float32), rows, raw
