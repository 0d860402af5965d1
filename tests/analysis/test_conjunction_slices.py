"""Two-predicate slices must earn their second predicate (trial-B bug 2).

A regression run on real data (sklearn's diabetes table, a ridge model) with a planted failing group
(``sensor == 'B'``: its targets shifted, the model never sees the sensor) and an uninformative
``batch_tag = 'b{id % 4}'`` column: the slice search used to report ``sensor == 'B' and batch_tag == 'b0'``
(the planted group with a random tag) next to the planted group itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from leapscope.analysis import AnalysisInput
from leapscope.analysis import insights as ins


def _input(subset: np.ndarray, loss: np.ndarray, meta: pd.DataFrame) -> AnalysisInput:
    n = len(loss)
    return AnalysisInput(
        subset=subset,
        sample_id=np.array([str(i) for i in range(n)], dtype=object),
        latent=np.zeros((n, 0), np.float32),
        loss=loss,
        loss_name="loss_se",
        metric=None,
        metric_name=None,
        labels=np.full(n, -1),
        pred_probs=None,
        class_names=[],
        metadata=meta,
        input_hash=None,
    )


def _diabetes_run(seed: int, shift: float = 1.5) -> tuple[AnalysisInput, np.ndarray]:
    """A ridge model on diabetes (60/20/20 split); sensor B's targets shifted by ``shift`` std in every subset."""
    x, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    n = len(x)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    subset = np.empty(n, dtype=object)
    subset[perm[: int(0.6 * n)]] = "training"
    subset[perm[int(0.6 * n) : int(0.8 * n)]] = "validation"
    subset[perm[int(0.8 * n) :]] = "test"
    sensor = np.array(["A", "B", "C"])[rng.integers(0, 3, n)]
    y = y + shift * (sensor == "B")
    train = subset == "training"
    loss = (Ridge(alpha=1.0).fit(x[train], y[train]).predict(x) - y) ** 2
    meta = pd.DataFrame({"sensor": sensor, "x0": x[:, 2], "batch_tag": [f"b{i % 4}" for i in range(n)]})
    return _input(subset, loss, meta), (sensor == "B") & ~train


@pytest.mark.parametrize("seed", [12, 30])
def test_uninformative_tag_never_joins_a_slice_on_real_data(seed):
    data, planted = _diabetes_run(seed)
    found = ins.low_performance(data, clusters=np.full(data.n, -1))
    groups = [i.statistics["group"] for i in found]
    assert not [g for g in groups if "batch_tag" in g], groups  # id % 4 carries no information
    assert any("sensor == 'B'" in g for g in groups), groups  # the planted group is still reported
    best = max(found, key=lambda i: len(set(i.rows) & set(np.flatnonzero(planted))))
    assert set(best.rows) <= set(np.flatnonzero(planted))


def _tabular(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, np.random.Generator]:
    rng = np.random.default_rng(seed)
    subset = np.where(np.arange(n) < n // 2, "training", "validation").astype(object)
    loss = rng.gamma(2.0, 0.05, n)
    meta = pd.DataFrame(
        {"x0": rng.normal(size=n), "tag": [f"b{i % 4}" for i in range(n)], "source": rng.choice(["a", "b", "c"], n)}
    )
    return subset, loss, meta, rng


def test_conjunction_must_beat_each_parent_alone():
    """``x0`` low fails as a whole: ``x0 <= q1 and tag == ...`` adds nothing and is not reported (a guard:
    the parent is reported, never a tag sub-slice)."""
    subset, loss, meta, _ = _tabular()
    low = (meta.x0 <= meta.x0[subset == "validation"].quantile(0.25)).to_numpy() & (subset == "validation")
    loss[low] += 0.3
    found = ins.low_performance(_input(subset, loss, meta), clusters=np.full(len(loss), -1))
    groups = [i.statistics["group"] for i in found]
    assert groups and groups[0].startswith("x0 <= ") and " and " not in groups[0], groups
    assert not [g for g in groups if "tag" in g], groups


def test_real_conjunction_is_still_reported_with_its_parent_tests():
    subset, loss, meta, _ = _tabular()
    bad = (meta.source == "b").to_numpy() & (meta.x0 > 0.6).to_numpy() & (subset == "validation")
    loss[bad] += 0.5
    found = ins.low_performance(_input(subset, loss, meta), clusters=np.full(len(loss), -1))
    top = found[0]
    assert "source == 'b'" in top.statistics["group"] and "x0 >= " in top.statistics["group"]
    assert top.statistics["p_vs_first_predicate_alone"] < 0.05
    assert top.statistics["p_vs_second_predicate_alone"] < 0.05


def _held_out_failure(train_factor: float) -> list:
    subset, loss, meta, _ = _tabular(seed=1)
    loss[(meta.source == "c").to_numpy() & (subset == "validation")] *= 1.9  # worse on validation
    loss[(meta.source == "c").to_numpy() & (subset == "training")] *= train_factor  # ... better on training
    found = ins.low_performance(_input(subset, loss, meta), clusters=np.full(len(loss), -1))
    return [i for i in found if i.statistics["group"] == "source == 'c'"]


def test_slice_better_on_training_loses_confidence_or_is_dropped():
    (consistent,) = _held_out_failure(1.0)
    assert consistent.confidence > 0.999 and "p_held_out_only" not in consistent.statistics
    (lowered,) = _held_out_failure(0.7)  # clearly better on training: confidence lowered
    assert lowered.confidence < 0.99 and lowered.statistics["p_training"] > 0.5
    assert lowered.statistics["p_held_out_only"] < lowered.statistics["p_adjusted"] < 0.05
    assert "on training it does better than the rest" in lowered.explanation
    assert _held_out_failure(0.6) == []  # the training evidence outweighs the held-out one: dropped


def test_slice_explained_by_a_stronger_group_is_dropped():
    """A slice that fails only through its overlap with a stronger reported group is not reported."""
    subset, loss, meta, rng = _tabular(seed=2)
    val = subset == "validation"
    strong = (meta.source == "a").to_numpy() & val
    loss[strong] += 0.6
    # a second column that over-represents the strong group: 'yes' on 60 % of it, 15 % of the rest
    flag = np.where(strong, rng.random(len(loss)) < 0.6, rng.random(len(loss)) < 0.15)
    meta["flag"] = np.where(flag, "yes", "no")
    found = ins.low_performance(_input(subset, loss, meta), clusters=np.full(len(loss), -1))
    groups = [i.statistics["group"] for i in found]
    assert groups[0] == "source == 'a'", groups
    assert "flag == 'yes'" not in groups, groups
