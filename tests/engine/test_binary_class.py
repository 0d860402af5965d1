"""A (B, 1) sigmoid binary classifier (logistic regression on scikit-learn's breast-cancer data, as a torch
module): without labels `check` infers regression and says how to make it a class; with one label it is a
binary class whose label column thresholds the score at 0.5 and whose confusion matrix is 2 x 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import leapscope as ls
from leapscope import api
from leapscope.cli.check import _predictions_line
from leapscope.runs.dashboards import confusion_matrix

BINARY = """
from __future__ import annotations
import numpy as np
import leapscope as ls
from sklearn.datasets import load_breast_cancer

X, Y = load_breast_cancer(return_X_y=True)
X = ((X - X[:400].mean(0)) / X[:400].std(0)).astype(np.float32)

@ls.preprocess
def subsets():
    return [ls.Subset("training", list(range(0, 400))), ls.Subset("validation", list(range(400, len(Y))))]

@ls.input_encoder("features", channel_dim=None)
def features(sample_id, subset):
    return X[sample_id]

@ls.gt_encoder("benign")
def benign(sample_id, subset):
    return np.array([Y[sample_id]], np.float32)

bce = ls.builtin_loss("binary_cross_entropy")

@ls.load_model(predictions=[ls.Prediction("benign"{labels})])
def model():
    import torch
    from sklearn.linear_model import LogisticRegression
    fit = LogisticRegression(max_iter=500).fit(X[:400], Y[:400])
    net = torch.nn.Sequential(torch.nn.Linear(30, 1), torch.nn.Sigmoid())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(fit.coef_, dtype=torch.float32))
        net[0].bias.copy_(torch.tensor(fit.intercept_, dtype=torch.float32))
    return net.eval()

@ls.integration_test
def test(sample_id, subset):
    p = model()(features(sample_id, subset))
    bce(benign(sample_id, subset), p)
"""


def _write(folder: Path, labels: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "integration.py").write_text(BINARY.format(labels=labels))
    return folder


def test_unlabeled_sigmoid_output_is_regression_with_a_hint(tmp_path):
    report = api.check(_write(tmp_path / "plain", ""), samples=2)
    assert report.valid
    (info,) = report.predictions
    assert (info.kind, info.declared, info.shape) == ("regression", False, (1,))
    line = _predictions_line([info.to_dict()])
    assert "if it is a sigmoid binary score, declare ls.Prediction('benign', labels=['<positive class>'])" in line


@pytest.mark.slow
def test_one_label_makes_a_binary_class_with_a_two_by_two_confusion(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    folder = _write(tmp_path / "binary", ', labels=["benign"]')
    (info,) = api.check(folder, samples=2).predictions
    assert info.kind == "class" and info.note is None
    run = ls.evaluate(folder, workspace=tmp_path / "ws", workers=0, subsets=["validation"])
    samples = run.samples.to_pandas()
    assert set(samples["pred_benign_label"]) == {"benign", "not benign"}
    # the known answer: sklearn's own predictions of the same logistic regression
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x[:400].mean(0)) / x[:400].std(0)
    expected = LogisticRegression(max_iter=500).fit(x[:400], y[:400]).predict(x[400:])
    assert (samples["pred_benign_label"] == np.where(expected == 1, "benign", "not benign")).mean() > 0.99
    assert (samples["gt_benign_label"] == np.where(y[400:] == 1, "benign", "not benign")).all()
    labels, matrix = confusion_matrix(run)
    assert labels == ["not benign", "benign"] and matrix.sum() == len(y) - 400
    true_negative = int(((y[400:] == 0) & (samples["pred_benign_label"] == "not benign")).sum())
    assert matrix[0, 0] == true_negative
    # the label insights read the one score as two class probabilities (1 - p, p)
    api.analyze(tmp_path / "ws", run.id)
    statuses = {st.type: st for st in ls.runs.load_statuses(run) or []}
    assert statuses["mislabeled"].status == "ran", statuses["mislabeled"]
