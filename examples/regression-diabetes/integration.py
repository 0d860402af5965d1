"""A small MLP regressor on scikit-learn's diabetes data: one real value per patient, MSE / MAE."""

from __future__ import annotations

import numpy as np

import leapscope as ls

import data  # the example's own data module (the integration folder is importable)

X, Y, ROWS, RAW = data.load()


@ls.preprocess
def subsets() -> list[ls.Subset]:
    return [ls.Subset(name, [int(r) for r in idx]) for name, idx in ROWS.items()]


@ls.input_encoder("features", channel_dim=None)
def features(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return X[sample_id]  # (10,) standardised on the training subset


@ls.gt_encoder("progression")
def progression(sample_id: int, subset: ls.Subset) -> np.ndarray:
    return Y[sample_id : sample_id + 1]  # (1,) disease progression after one year, 25-346


@ls.metadata("patient")
def patient(sample_id: int, subset: ls.Subset) -> dict:
    age, sex, bmi, bp = (float(v) for v in RAW[sample_id, :4])
    return {
        "age": age,
        "age_group": "under 40" if age < 40 else ("40-59" if age < 60 else "60+"),
        "sex": str(int(sex)),  # coded 1 / 2 in the data set
        "bmi": bmi,
        "bmi_class": "normal" if bmi < 25 else ("overweight" if bmi < 30 else "obese"),  # WHO cut-offs
        "blood_pressure": bp,
    }


@ls.metadata("target")
def target(sample_id: int, subset: ls.Subset) -> dict:
    value = float(Y[sample_id])
    return {"value": value, "range": "low" if value < 100 else ("mid" if value < 200 else "high")}


@ls.visualizer("features", ls.VisualizerType.HORIZONTAL_BAR)
def show_features(features: np.ndarray) -> ls.HorizontalBar:
    return ls.HorizontalBar(features, data.FEATURE_NAMES)


@ls.visualizer("progression", ls.VisualizerType.HORIZONTAL_BAR)
def show_progression(progression: np.ndarray, truth: np.ndarray) -> ls.HorizontalBar:
    return ls.HorizontalBar(progression, ["progression"], gt=truth)


mean_squared_error = ls.builtin_loss("mean_squared_error")
mean_absolute_error = ls.builtin_metric("mean_absolute_error")


@ls.metric("relative_error", direction="lower")
def relative_error(truth: np.ndarray, progression: np.ndarray) -> np.ndarray:
    """|prediction - truth| / truth per patient (truth >= 25, so never a division by zero)."""
    return (np.abs(progression - truth) / truth).reshape(len(truth), -1).mean(1)


@ls.load_model(predictions=[ls.Prediction("progression", kind="regression")])
def model() -> str:
    return "model.onnx"


@ls.integration_test
def test(sample_id: int, subset: ls.Subset) -> None:
    x = features(sample_id, subset)
    y = progression(sample_id, subset)
    p = model()(x)
    mean_squared_error(y, p)
    mean_absolute_error(y, p)
    relative_error(y, p)
    show_features(x)
    show_progression(p, y)
