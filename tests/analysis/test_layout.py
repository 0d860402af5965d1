"""The analysis/runs split: the detector registry, and the transition names of ``leapscope.analysis``."""

from __future__ import annotations

import numpy as np
import pytest

from leapscope import analysis, runs
from leapscope.analysis.insights import (
    INSIGHT_TYPES,
    AnalysisInput,
    DetectOptions,
    Detector,
    Insight,
    detector_names,
    detectors,
)
from leapscope.exceptions import LeapscopeError


def test_every_builtin_insight_type_has_one_registered_detector():
    assert detector_names() == list(INSIGHT_TYPES)
    assert [d.name for d in detectors()] == list(INSIGHT_TYPES)
    assert [d.name for d in detectors(["domain_gap", "mislabeled"])] == ["domain_gap", "mislabeled"]


def test_unknown_insight_type_names_the_available_ones():
    with pytest.raises(
        LeapscopeError, match=r"unknown insight type\(s\) \['bogus'\]; available: low_performance, mislabeled"
    ):
        detectors(["bogus"])


def test_a_detector_with_a_taken_name_is_refused():
    with pytest.raises(LeapscopeError, match="'duplicates' is already registered"):

        class Again(Detector):
            name = "duplicates"

            def detect(self, data: AnalysisInput, options: DetectOptions) -> list[Insight]:
                return []

    assert type(detectors(["duplicates"])[0]).__name__ == "Duplicates"


def test_detectors_without_latent_are_skipped_unless_they_need_none():
    data = AnalysisInput(
        subset=np.array(["validation"] * 3, dtype=object),
        sample_id=np.array(["0", "1", "2"], dtype=object),
        latent=np.zeros((3, 0), np.float32),
        loss=np.zeros(3),
        loss_name="loss_x",
        metric=None,
        metric_name=None,
        labels=np.full(3, -1),
        pred_probs=None,
        class_names=[],
        metadata=None,
    )  # type: ignore[arg-type]
    assert [d.name for d in detectors() if d.applies(data)] == ["low_performance"]


def test_analysis_holds_algorithms_only_and_runs_the_services():
    """The run-level services live one layer up, in ``leapscope.runs``; ``analysis`` does not reach up to them."""
    assert set(analysis.__all__) == {
        "INSIGHT_TYPES",
        "AnalysisInput",
        "Insight",
        "explain_group",
        "latent_clusters",
        "project",
    }
    for name in ("analyze", "RunContext", "ThresholdTest", "aggregate", "projection", "similar"):
        assert not hasattr(analysis, name), name
        assert hasattr(runs, name), name
