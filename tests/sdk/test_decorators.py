from __future__ import annotations

import numpy as np
import pytest

import leapscope as ls
from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._decorators import Integration, collecting


def test_decorated_function_is_still_callable_and_described():
    @ls.input_encoder("image", channel_dim=0)
    def image(sample_id, subset):
        return np.zeros(3, np.float32)

    assert image(1, None).shape == (3,)
    assert image.describe() == {
        "kind": "input",
        "name": "image",
        "function": "image",
        "params": ["sample_id", "subset"],
        "channel_dim": 0,
        "dtype": "float32",
    }


def test_wrong_signature_says_what_is_expected():
    with pytest.raises(
        IntegrationDefinitionError, match=r"takes 1 argument\(s\) \['sample_id'\], expected 2[\s\S]*sample_id, subset"
    ):

        @ls.gt_encoder("label")
        def label(sample_id):
            return None


def test_duplicate_names_name_both_functions():
    registry = Integration()
    with (
        collecting(registry),
        pytest.raises(
            IntegrationDefinitionError, match=r"two metric functions are named 'acc': 'first' .* and 'second'"
        ),
    ):

        @ls.metric("acc")
        def first(a):
            return a

        @ls.metric("acc")
        def second(a):
            return a


def test_registries_do_not_mix():
    one, two = Integration(name="one"), Integration(name="two")
    with collecting(one):

        @ls.loss("l")
        def l1(a):
            return a

    with collecting(two):

        @ls.loss("l")
        def l2(a):
            return a

    assert one.losses["l"] is l1 and two.losses["l"] is l2


def test_visualizer_type_from_return_annotation():
    @ls.visualizer("img")
    def show(image: np.ndarray) -> ls.Image:
        return ls.Image(image)

    assert show.visualizer_type is ls.VisualizerType.IMAGE
    with pytest.raises(IntegrationDefinitionError, match="declared type 'text' but annotated to return Image"):

        @ls.visualizer("img2", ls.VisualizerType.TEXT)
        def show2(image: np.ndarray) -> ls.Image:
            return ls.Image(image)

    with pytest.raises(IntegrationDefinitionError, match="no visualizer type"):

        @ls.visualizer("img3")
        def show3(image):
            return image


def test_metric_direction_is_checked():
    with pytest.raises(IntegrationDefinitionError, match="'higher' or 'lower'"):
        ls.metric("m", direction="up")(lambda a: a)
    m = ls.metric("m", direction={"iou": "higher", "err": "lower"})(lambda a: a)
    assert m.direction_of("err") == "lower"


def test_metadata_dtype_is_checked():
    with pytest.raises(IntegrationDefinitionError, match="unknown dtype"):
        ls.metadata("m", dtype="complex")(lambda s, sub: 1)
    assert ls.metadata("m", dtype=float)(lambda s, sub: 1).dtype == "float"
