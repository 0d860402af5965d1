from __future__ import annotations

import numpy as np
import pytest

import leapscope as ls
from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk import _builtins as b

GT = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
P = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], np.float32)


def test_accuracy_per_sample():
    assert b.accuracy(GT, P).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert b.accuracy(np.array([[1.0], [0.0]]), np.array([[0.9], [0.7]])).tolist() == [1.0, 0.0]


def test_cross_entropy_matches_definition():
    expected = -np.log(P[np.arange(4), GT.argmax(1)])
    np.testing.assert_allclose(b.cross_entropy(GT, P), expected, rtol=1e-6)
    np.testing.assert_allclose(b.cross_entropy_from_logits(GT, np.log(P)), expected, rtol=1e-5)


def test_regression_losses_and_bce():
    a, c = np.array([[1.0, 2.0]]), np.array([[2.0, 4.0]])
    assert b.mean_squared_error(a, c).tolist() == [2.5]
    assert b.mean_absolute_error(a, c).tolist() == [1.5]
    np.testing.assert_allclose(b.binary_cross_entropy(np.array([[1.0]]), np.array([[0.5]])), [np.log(2)], rtol=1e-6)


def test_confusion_matrix_elements():
    cm = b.confusion_matrix(GT[:1], P[:1])
    assert len(cm) == 1 and len(cm[0]) == 3
    assert cm[0][0] == ls.ConfusionMatrixElement("0", True, pytest.approx(0.7))


def test_builtins_by_name():
    acc = ls.builtin_metric("accuracy")
    assert acc.name == "accuracy" and acc.direction == "higher"
    assert ls.builtin_metric("mean_absolute_error").direction == "lower"
    assert ls.builtin_loss("cross_entropy", alias="ce").name == "ce"
    with pytest.raises(IntegrationDefinitionError, match="available: accuracy"):
        ls.builtin_metric("acc")
