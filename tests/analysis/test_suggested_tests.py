"""Suggested regression tests and slice filters are trustworthy (trial A, items 1, 2 and 8).

A real model on real data: scikit-learn's digits, a logistic regression fitted on the clean training
images, validation images degraded by a metadata-recorded amount of noise. Every check evaluates the
filters with :func:`leapscope.store.parse_filter` on a table of the columns, exactly as
``leapscope test`` does (mask, finite values, mean, compare), never with the detector's own masks.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from leapscope.analysis import AnalysisInput, latent_clusters
from leapscope.analysis import insights as ins
from leapscope.analysis.slicing import metadata_slices
from leapscope.store import parse_filter

HELD_OUT = ["validation", "test"]


def _table(data: AnalysisInput) -> pa.Table:
    columns = {"subset": data.subset.tolist(), "sample_id": data.sample_id.tolist(), data.loss_name: data.loss}
    if data.metric is not None and data.metric_name:
        columns[data.metric_name] = data.metric
    table = pa.Table.from_pandas(data.metadata.reset_index(drop=True), preserve_index=False)
    for name, values in columns.items():
        table = table.append_column(name, pa.array(values))
    return table


def _run_test(data: AnalysisInput, test: dict) -> tuple[bool, float, int, np.ndarray]:
    """What ``leapscope test`` computes (runs/tests.py run_test): (passed, mean, n, mask)."""
    table = _table(data)
    mask = parse_filter(test["filter"], table.schema).mask(table)
    values = np.asarray(table.column(test["metric"]).to_numpy(zero_copy_only=False), dtype=float)[mask]
    values = values[np.isfinite(values)]
    value = float(values.mean())
    passed = (test.get("min") is None or value >= test["min"]) and (test.get("max") is None or value <= test["max"])
    return passed, value, len(values), mask


@cache
def _digits(kind: str = "noise") -> AnalysisInput:
    """Digits through a logistic regression fitted on clean training images.

    ``noise``: held-out images get Gaussian pixel noise of level 0 (60 %), 1 (sd 3) or 2 (sd 6), recorded
    as the integer metadata ``noise_level``; ``ink`` is each image's mean intensity (float, many digits).
    ``contrast``: held-out images the model gets right at full and at 35 % contrast are shown at 35 %
    (``contrast == 'low'``): still right (accuracy 1.0), but less confident (higher cross-entropy).
    """
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    x, y = digits.data.astype(np.float64), digits.target
    n = len(y)
    rng = np.random.default_rng(0)
    subset = np.where(np.arange(n) < int(0.55 * n), "training", np.where(np.arange(n) % 2, "validation", "test"))
    train = subset == "training"
    model = LogisticRegression(max_iter=2000).fit(x[train] / 16, y[train])
    meta: dict[str, object] = {"digit": y.astype(np.int64)}
    if kind == "noise":
        level = np.where(train, 0, rng.choice([0, 1, 2], n, p=[0.6, 0.2, 0.2])).astype(np.int64)
        x = np.clip(x + rng.normal(size=x.shape) * (3.0 * level)[:, None], 0, 16)
        meta["noise_level"] = level
    else:
        low = (~train) & (model.predict(x / 16) == y) & (model.predict(0.35 * x / 16) == y) & (rng.random(n) < 0.35)
        x = np.where(low[:, None], 0.35 * x, x)
        meta["contrast"] = np.where(low, "low", "full").astype(object)
    meta["ink"] = x.mean(axis=1) / 16
    probs = model.predict_proba(x / 16)
    loss = -np.log(np.clip(probs[np.arange(n), y], 1e-12, 1))
    return AnalysisInput(
        subset=subset.astype(object),
        sample_id=np.arange(n).astype(str).astype(object),
        latent=PCA(16, random_state=0).fit_transform(x).astype(np.float32),
        loss=loss,
        loss_name="loss_ce",
        metric=(probs.argmax(1) == y).astype(float),
        metric_name="metric_accuracy",
        labels=y.astype(np.int64),
        pred_probs=probs.astype(np.float32),
        class_names=[str(i) for i in range(10)],
        metadata=pd.DataFrame(meta),
    )


def test_every_slice_filter_selects_exactly_the_slice():
    """Item 2: ``ink >= 0.2998`` for a cut at 0.29980469 dropped the samples in between."""
    data = _digits()
    scope = np.isin(data.subset, HELD_OUT)
    table = _table(data)
    slices = metadata_slices(data.metadata, scope, 10)
    assert any(">=" in name and "ink" in name for name, _, _ in slices)
    for _name, mask, filt in slices:
        assert filt is not None
        selected = parse_filter(f"subset in ['validation', 'test'] and {filt}", table.schema).mask(table)
        assert np.array_equal(selected, mask), (
            f"{filt}: {int(selected.sum())} selected vs {int(mask.sum())} in the slice"
        )


@pytest.mark.parametrize("op", [">=", "<="])
def test_cut_literal_keeps_every_value_on_its_side(op):
    from leapscope.analysis.slicing import cut_literal

    values = _digits().metadata["ink"].to_numpy()
    for cut in np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9]):
        t = float(cut_literal(values, cut, op))
        wanted = values >= cut if op == ">=" else values <= cut
        assert np.array_equal(values >= t if op == ">=" else values <= t, wanted)


def test_every_suggested_test_passes_on_the_run_it_comes_from():
    """Item 1: the threshold of a latent cluster's test came from the cluster, its filter from metadata."""
    data = _digits()
    found = ins.low_performance(data, clusters=latent_clusters(data.latent, seed=0))
    tests = [i for i in found if i.suggested_test]
    assert tests, "no insight with a suggested test"
    for insight in tests:
        test = insight.suggested_test
        passed, value, n, mask = _run_test(data, test)
        assert passed, f"{insight.title}: {test} gives {value:.4f} on {n} samples"
        assert test["current"] == pytest.approx(value, abs=1e-4) and test["n"] == n
        exact = set(np.flatnonzero(mask)) == set(insight.rows)
        assert bool(test.get("approximate")) is not exact
        if not exact:
            overlap = len(set(np.flatnonzero(mask)) & set(insight.rows))
            assert test["precision"] == pytest.approx(overlap / mask.sum(), abs=1e-3)
            assert test["recall"] == pytest.approx(overlap / len(insight.rows), abs=1e-3)
            assert "only approximates" in test["note"] and "only approximates" in insight.explanation


def test_a_cluster_stand_in_test_passes_even_where_the_cluster_scores_better_than_its_filter():
    """Item 1, directly: every latent cluster of the held-out images with the explanation's metadata filter."""
    data = _digits()
    clusters = latent_clusters(data.latent, seed=0)
    scope = np.isin(data.subset, HELD_OUT)
    checked = 0
    for c in np.unique(clusters[scope]):
        group = scope & (clusters == c)
        _, _, filt = ins.explain_group(data.metadata, group, scope)
        if filt is None:
            continue
        test = ins.suggested_test(data, np.flatnonzero(group), filt, HELD_OUT)
        assert test is not None
        passed, value, n, _ = _run_test(data, test)
        assert passed, f"cluster {c}: {test} gives {value:.4f} on {n} samples"
        checked += 1
    assert checked >= 3


def test_a_slice_worse_on_the_loss_only_is_tested_on_the_loss_and_never_called_worse_on_the_metric():
    """Item 8: "metric_seg_mean_iou 0.574 vs 0.568" in a low_performance insight with a --min test on it."""
    data = _digits("contrast")
    found = ins.low_performance(data, clusters=np.full(data.n, -1))
    low = [i for i in found if "contrast == 'low'" in (i.suggested_test or {}).get("filter", "")]
    assert low, [i.title for i in found]
    insight = low[0]
    assert insight.statistics["metric_in"] >= insight.statistics["metric_out"]  # right as often, less confident
    test = insight.suggested_test
    assert test["metric"] == "loss_ce" and "max" in test and "min" not in test
    assert "not worse on metric_accuracy" in insight.explanation
    assert _run_test(data, test)[0]


def test_integer_metadata_is_cut_by_level_and_quoted_as_a_number():
    """Item 8: ``noise_level == 2`` was found but not "noise level 1 or more"; values showed as '2'."""
    data = _digits()
    found = ins.low_performance(data, clusters=np.full(data.n, -1))
    filters = [(i.suggested_test or {}).get("filter", "") for i in found]
    assert any("noise_level >= 1" in f for f in filters), filters
    assert not any("noise_level = '" in i.explanation for i in found)
    level_slices = [
        i for i in found if i.statistics["group"].startswith("noise_level ") and " and " not in i.statistics["group"]
    ]
    assert level_slices and set(level_slices[0].statistics["by_level"]) == {"0", "1", "2"}


def test_every_stored_suggested_test_passes_with_leapscope_test_on_its_run(digits_workspace):
    """End to end: the evaluated and analyzed digits example; each stored suggested test through ``run_test``."""
    from leapscope import runs
    from leapscope.runs.tests import ThresholdTest, run_test
    from leapscope.store import Workspace

    path, run_id = digits_workspace
    run = Workspace(path).open_run(run_id)
    tests = [i.suggested_test for i in runs.load_insights(run) if i.suggested_test]
    assert tests
    for test in tests:
        spec = ThresholdTest(metric=test["metric"], filter=test["filter"], min=test.get("min"), max=test.get("max"))
        result = run_test(run, spec)
        assert result.passed and result.n == test["n"], (test, result.detail)
