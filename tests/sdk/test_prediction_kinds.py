"""Prediction kinds: declared, or inferred from one sample's shape and the labels (known answers)."""

from __future__ import annotations

import pytest

import leapscope as ls
from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._parts import infer_kind, kind_mismatch


@pytest.mark.parametrize(
    ("shape", "labels", "channel_dim", "kind"),
    [
        ((10,), [str(i) for i in range(10)], -1, "class"),  # one score per label
        ((1, 128, 128), None, -1, "dense"),  # the rapidocr text map: not a 16,384-class classifier
        ((1, 128, 128), ["text"], 0, "dense"),
        ((32, 32, 3), ["bg", "cat", "dog"], -1, "dense"),  # per-pixel classes, channels last
        ((12, 5), list("abcde"), -1, "dense"),  # per-token scores
        ((1,), None, -1, "regression"),
        ((), None, -1, "regression"),
        ((3,), None, -1, "regression"),
        ((1000,), None, -1, "class"),  # scores of unnamed classes
    ],
)
def test_infer_kind(shape, labels, channel_dim, kind):
    assert infer_kind(shape, labels, channel_dim) == kind
    assert ls.Prediction("p", labels=labels, channel_dim=channel_dim).resolve_kind(shape) == kind


def test_declared_kind_wins_and_is_described():
    pred = ls.Prediction("tags", labels=["a", "b"], kind="multilabel")
    assert pred.resolve_kind((2,)) == "multilabel"
    assert pred.describe()["kind"] == "multilabel"


def test_unknown_kind_is_a_definition_error():
    with pytest.raises(IntegrationDefinitionError, match=r"kind='segmentation'.*expected one of 'class'"):
        ls.Prediction("mask", kind="segmentation")  # type: ignore[arg-type]


def test_kind_mismatch_names_shapes_and_the_fix():
    expected, fix = kind_mismatch("class", (1, 128, 128)) or ("", "")
    assert "(C,)" in expected and "kind='dense'" in fix
    assert kind_mismatch("dense", (1, 128, 128)) is None
    assert kind_mismatch("regression", (1,)) is None
    assert kind_mismatch("boxes", (7, 6)) is None
    assert "(N, 4+)" in (kind_mismatch("boxes", (10,)) or ("",))[0]
    assert kind_mismatch("class", (3,), ["a", "b", "c"]) is None
