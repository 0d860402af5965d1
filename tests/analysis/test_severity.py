"""Severity = impact x confidence, comparable across insight types; every built-in insight has a confidence."""

from __future__ import annotations

import numpy as np

from leapscope.analysis import insights as ins
from leapscope.analysis import latent_clusters
from leapscope.analysis.insights.severity import rate
from tests.analysis.test_insights import _data


def test_a_weak_leakage_claim_ranks_below_a_strong_failing_slice():
    data = _data()
    bad = (data.metadata.source == "camera_b").to_numpy() & (data.subset == "validation")
    data.loss[bad] += 1.0
    data.metric[bad] = 0.0
    data.latent[500] = data.latent[3] + np.float32(1e-5)  # one near (latent) leak out of 240 validation samples
    slices = ins.low_performance(data, clusters=latent_clusters(data.latent, seed=0))
    leaks = ins.data_leakage(data)
    assert slices and leaks and leaks[0].statistics["kind"] == "near"
    assert slices[0].severity > 10 * leaks[0].severity
    for insight in [*slices, *leaks]:
        assert insight.confidence is not None and 0 <= insight.confidence <= 1
        assert insight.severity <= insight.confidence + 1e-9  # impact <= 1
    assert slices[0].confidence >= 1 - slices[0].statistics["p_adjusted"] - 1e-4
    assert 0 < leaks[0].statistics["p_value"] < 0.01  # far closer than this run's nearest neighbours


def test_formulas_per_type():
    assert rate("low_performance", {"rank_biserial": 0.8, "n": 100, "p_adjusted": 0.01}, "validation", 0) == (
        0.792,
        0.99,
    )
    assert rate("data_leakage", {"kind": "exact", "share": 0.01}, "validation|training", 0) == (0.2, 1.0)
    assert rate("duplicates", {"kind": "near", "share": 0.01, "p_value": 0.5}, "training", 0) == (0.025, 0.5)
    assert rate("mislabeled", {"share": 0.1, "mean_score": 0.8}, "training", 0) == (0.2, 0.8)
    assert rate("a_plugin_type", {}, "validation", 0.37) == (0.37, None)  # detectors without a rule keep theirs
    stored = ins.Insight.from_dict(
        {
            "type": "duplicates",
            "severity": 0.5,
            "subset": "s",
            "rows": [],
            "sample_ids": [],
            "statistics": {},
            "explanation": "",
            "title": "",
        }
    )
    assert stored.confidence is None  # insights stored before confidences existed still load
