"""A model that returns NaN for some samples: a per-sample model error, never a score.

The model is a real torch module that divides by the first input feature, which
the encoder sets to 0 for chosen samples (0 / 0 = NaN in every output value).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import leapscope as ls
from leapscope import api
from leapscope.exceptions import ValidationError

# training ids 0..29, validation 30..39; the integration test checks the first samples of each subset
NAN_SOME = (5, 12, 17, 33, 36)

DIVIDE_BY_FEATURE = """
import torch

class DivideByFeature(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.softmax(self.linear(x), dim=1) * (x[:, :1] / x[:, :1])

return DivideByFeature()
"""


def _features(condition: str) -> str:
    return f"""
x = subset.data['x'][sample_id].copy()
if {condition}:
    x[0] = 0.0
return x
"""


@pytest.fixture
def nan_some(make_integration) -> Path:
    return make_integration(features=_features(f"sample_id in {NAN_SOME}"), model=DIVIDE_BY_FEATURE)


@pytest.fixture
def nan_most(make_integration) -> Path:
    return make_integration(features=_features("sample_id % 4 != 3"), model=DIVIDE_BY_FEATURE)


def test_non_finite_predictions_are_model_errors_excluded_from_aggregates(nan_some, tmp_path):
    assert api.check(nan_some).valid  # the first samples of each subset are finite
    run = ls.evaluate(nan_some, workspace=tmp_path / "ws", workers=0)
    df = run.to_pandas().set_index("sample_id")
    bad = df.loc[[str(i) for i in NAN_SOME]]
    good = df.drop(index=[str(i) for i in NAN_SOME])
    for column in ("pred_classes", "pred_classes_label", "pred_classes_score", "metric_accuracy", "loss_ce"):
        assert bad[column].isna().all(), (column, bad[column].tolist())
        assert good[column].notna().all(), column
    assert bad.error.str.contains("non-finite prediction").all()
    assert good.error.isna().all()
    assert bad.gt_label.notna().all()  # the ground truth is still known

    errors = run.errors.to_pandas()
    assert sorted(errors.sample_id.astype(int)) == sorted(NAN_SOME)
    assert (errors.function == "model (@model 'model')").all(), errors.function.tolist()
    for message in errors.message:
        assert "prediction 'classes'" in message
        assert "non-finite prediction (3 of 3 values NaN/inf)" in message
        assert "fix:" in message

    assert run.row.counts["failed"] == len(NAN_SOME)
    summary = run.row.summary
    assert summary["training"]["failed"] == 3 and summary["validation"]["failed"] == 2
    for subset, group in good.groupby("subset"):
        assert summary[subset]["metric_accuracy"] == pytest.approx(group.metric_accuracy.mean())
        assert summary[subset]["loss_ce"] == pytest.approx(group.loss_ce.mean(), rel=1e-5)
    # nothing non-finite reaches the latent of a failed row either
    latent = run.latent()
    rows = bad.row.to_numpy()
    assert np.isnan(latent[rows]).all() and np.isfinite(latent[good.row.to_numpy()]).all()


def test_fail_fast_stops_at_the_first_non_finite_prediction(nan_some, tmp_path):
    with pytest.raises(ValidationError, match="non-finite prediction") as info:
        ls.evaluate(nan_some, workspace=tmp_path / "ws", workers=0, fail_fast=True)
    assert info.value.sample_id == 5 and info.value.subset == "training"


def test_check_blames_the_model_for_non_finite_predictions(nan_most):
    report = api.check(nan_most)
    model = report.part("model")
    assert model.status == "fail"
    error = model.error or {}
    assert error["sample_id"] == 0 and error["subset"] == "training"
    assert (
        "prediction 'classes'" in error["message"]
        and "non-finite prediction (3 of 3 values NaN/inf)" in error["message"]
    )
    assert error["fix"]
    assert report.part("losses").status != "fail"
    assert report.part("metrics").status != "fail"
    assert not report.valid
