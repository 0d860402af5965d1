from __future__ import annotations

import numpy as np
import pytest

import leapscope as ls
from leapscope.exceptions import ValidationError


def test_subset_accepts_strings_and_numpy_ids():
    subset = ls.Subset("training", np.arange(3), data={"a": 1})
    assert subset.state is ls.DataState.TRAINING
    assert subset.sample_ids == [0, 1, 2]
    assert all(type(s) is int for s in subset.sample_ids)
    assert subset.position(2) == 2 and 1 in subset and len(subset) == 3


def test_unknown_state_names_the_states():
    with pytest.raises(
        ValidationError, match=r"unknown subset state[\s\S]*'training' \| 'validation'[\s\S]*actual:   'train'"
    ):
        ls.Subset("train", [1])


def test_duplicate_ids_are_named():
    with pytest.raises(ValidationError, match=r"subset 'validation', sample id 'b': sample ids are not unique"):
        ls.Subset("validation", ["a", "b", "b"])


def test_mixed_id_types_are_refused():
    with pytest.raises(ValidationError, match="sample ids mix str and int"):
        ls.Subset("test", ["a", 1])


def test_float_ids_are_refused_with_a_fix():
    with pytest.raises(ValidationError, match=r"sample ids must be str or int[\s\S]*actual:   float[\s\S]*fix:"):
        ls.Subset("test", [1.5])
