"""Validation of values returned by integration code.

Validators are pure: they take the value and the context (function, subset,
sample id) and either return a normalised value or raise :class:`ValidationError`
naming every part of the problem. The same validators run in the integration test
and in evaluate, so a sample that passes ``leapscope check`` passes evaluate.

The validators live by concern in ``_validate_base`` (shared naming), ``_validate_data`` (subsets, encoders,
visuals), ``_validate_metadata`` and ``_validate_outputs`` (metrics, losses, predictions); this module gathers them.
"""

from __future__ import annotations

from leapscope.integration._validate_base import RESERVED_COLUMNS, RESERVED_PREFIXES, MetadataScalar, fn_label
from leapscope.integration._validate_data import ShapeTracker, validate_encoded, validate_subsets, validate_visual
from leapscope.integration._validate_metadata import validate_metadata
from leapscope.integration._validate_outputs import (
    non_finite_counts,
    non_finite_prediction_error,
    validate_per_sample,
    validate_predictions,
)

__all__ = [
    "RESERVED_COLUMNS",
    "RESERVED_PREFIXES",
    "MetadataScalar",
    "fn_label",
    "ShapeTracker",
    "non_finite_counts",
    "non_finite_prediction_error",
    "validate_encoded",
    "validate_metadata",
    "validate_per_sample",
    "validate_predictions",
    "validate_subsets",
    "validate_visual",
]
