"""``mislabeled`` with known answers: label flips are told apart from a failing shifted slice, memorised
training flips are found by the latent vote, a clean run yields nothing, and without a latent space it is
exactly cleanlab's ``find_label_issues``."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from leapscope.analysis import AnalysisInput
from leapscope.analysis import insights as ins

K = 5


def _shifted(
    seed: int = 0, *, n_flips: int = 30, n_train_flips: int = 5, trace: float = 0.35
) -> tuple[AnalysisInput, np.ndarray, np.ndarray]:
    """600 training + 400 validation samples of 5 classes; 80 validation samples come from a "scanner C"
    whose latents fall among class 0's (with a trace of their class) and on which the model always says 0;
    ``n_flips`` validation labels and ``n_train_flips`` training labels are flipped (the model memorised
    the training flips: it predicts the wrong label there)."""
    rng = np.random.default_rng(seed)
    n = 1000
    true = rng.integers(0, K, n)
    subset = np.where(np.arange(n) < 600, "training", "validation").astype(object)
    centers = rng.normal(size=(K, 16)) * 4
    latent = centers[true] + rng.normal(size=(n, 16))
    scanner = rng.choice(["A", "B"], n).astype(object)
    in_slice = np.zeros(n, bool)
    in_slice[rng.choice(np.arange(600, n), 80, replace=False)] = True
    scanner[in_slice] = "C"
    # the shifted scanner's latents collapse towards class 0 (what the model takes them for); a trace of the
    # true class is left, so the region's own samples still group by class
    latent[in_slice] = centers[0] + trace * (centers[true[in_slice]] - centers[0]) + rng.normal(size=(80, 16))
    given = true.copy()
    flipped = np.zeros(n, bool)
    for rows in (rng.choice(np.arange(600, n), n_flips, replace=False), rng.choice(600, n_train_flips, replace=False)):
        given[rows] = (true[rows] + rng.integers(1, K, len(rows))) % K
        flipped[rows] = True
    predicted = true.copy()
    predicted[flipped & (subset == "training")] = given[flipped & (subset == "training")]  # memorised
    predicted[in_slice] = 0  # the model fails on the shifted scanner
    probs = np.full((n, K), 0.1 / (K - 1))
    probs[np.arange(n), predicted] = 0.9
    loss = -np.log(probs[np.arange(n), given])
    data = AnalysisInput(
        subset=subset,
        sample_id=np.array([str(i) for i in range(n)], dtype=object),
        latent=latent.astype(np.float32),
        loss=loss,
        loss_name="loss_ce",
        metric=(predicted == given).astype(float),
        metric_name="metric_accuracy",
        labels=given,
        pred_probs=probs.astype(np.float32),
        class_names=[str(c) for c in range(K)],
        metadata=pd.DataFrame({"scanner": scanner}),
        input_hash=np.array([f"h{i}" for i in range(n)], dtype=object),
    )
    return data, flipped, in_slice


@functools.cache
def _default_run() -> tuple[AnalysisInput, np.ndarray, np.ndarray, list[ins.Insight]]:
    """``_shifted()`` and what ``mislabeled`` finds on it, shared by the tests that only read them."""
    data, flipped, in_slice = _shifted()
    return data, flipped, in_slice, ins.mislabeled(data)


def _flagged(found: list[ins.Insight], subset: str) -> set[int]:
    return {r for i in found if i.subset == subset for r in i.rows}


def test_flips_are_told_apart_from_a_failing_slice():
    data, flipped, in_slice, found = _default_run()
    val = _flagged(found, "validation")
    truth = set(np.flatnonzero(flipped & (data.subset == "validation")))
    precision, recall = len(val & truth) / len(val), len(val & truth) / len(truth)
    assert precision >= 0.9 and recall >= 0.8, (precision, recall)
    # the slice's correctly labeled samples (the model gets all of them wrong) are not label errors
    assert not val & set(np.flatnonzero(in_slice & ~flipped))
    insight = next(i for i in found if i.subset == "validation")
    reasons = {v["reason"] for v in insight.extra["samples"].values()}
    assert reasons <= {"model+neighbours", "neighbours-in-failing-region"} and "model+neighbours" in reasons
    assert insight.statistics["in_failing_regions"] >= 80
    assert 0 < insight.confidence <= 1 and 0 < insight.severity <= insight.confidence
    top = insight.extra["samples"][insight.sample_ids[0]]
    assert top["score"] >= max(v["score"] for v in insight.extra["samples"].values()) - 1e-9


def test_a_poorly_structured_failing_region_reports_at_most_its_expected_errors():
    # the shifted scanner keeps only a faint trace of the true class in latent space: 18 of its 80
    # samples (4 flipped) pass the within-region vote; all were reported before (14 false alarms), now at most 11
    from leapscope.analysis.insights.labels import REGION_BUDGET, REGION_K, REGION_VOTE, _votes, failing_regions
    from leapscope.analysis.neighbours import l2_normalise

    data, flipped, _ = _shifted(1, trace=0.1)
    suspect = failing_regions(data, None)
    region = np.flatnonzero(suspect & (data.subset == "validation"))
    d, _, _ = _votes(l2_normalise(data.latent), data.labels, region, region, REGION_K)
    passing = int((d >= REGION_VOTE).sum())
    insight = next(i for i in ins.mislabeled(data, suspect=suspect) if i.subset == "validation")
    in_region = [s for s, v in insight.extra["samples"].items() if v["reason"] == "neighbours-in-failing-region"]
    budget = round(REGION_BUDGET * insight.statistics["noise_rate_outside_regions"] * len(region))
    assert passing == 18 and budget == 11 and len(in_region) == budget
    flagged = set(insight.rows)
    truth = set(np.flatnonzero(flipped & (data.subset == "validation")))
    assert len(flagged & truth) / len(flagged) >= 0.75 and len(flagged & truth) / len(truth) >= 0.9


def test_a_failing_region_whose_vote_flags_far_more_than_expected_reports_none_of_it():
    # 10 flips (noise rate ~2% outside the region, ~1.5 errors expected among its 80 samples) but 18 of the
    # region's samples pass its vote: that vote measures latent confusion, so none of it is reported
    data, flipped, _ = _shifted(1, trace=0.1, n_flips=10)
    insight = next(i for i in ins.mislabeled(data) if i.subset == "validation")
    assert {v["reason"] for v in insight.extra["samples"].values()} == {"model+neighbours"}
    assert set(insight.rows) <= set(np.flatnonzero(flipped)) and len(insight.rows) == 6


def test_region_candidates_keep_the_most_disagreeing_within_the_budget():
    from leapscope.analysis.insights.labels import _region_candidates
    from leapscope.analysis.neighbours import l2_normalise

    # 60 samples on a circle: label 1 on the left half, 0 on the right; odd labels deep inside: rows 0 and 3
    # (each other's only agreeing neighbour: vote 11/12) and row 30 (vote 12/12, the most disagreeing)
    angle = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    x = l2_normalise(np.stack([np.cos(angle), np.sin(angle), np.zeros(60)], axis=1).astype(np.float32))
    labels = (np.cos(angle) < 0).astype(np.int64)
    labels[[0, 3, 30]] = 1 - labels[[0, 3, 30]]
    region = np.arange(60)
    assert _region_candidates(x, labels, region, budget=60).tolist() == [0, 3, 30]
    assert _region_candidates(x, labels, region, budget=1).tolist() == [30]
    assert _region_candidates(x, labels, region, budget=0).tolist() == []
    # three pass the vote where 0.9 errors are expected (> REGION_REJECT x): the vote is not trusted at all
    assert _region_candidates(x, labels, region, budget=1, expected=0.9).tolist() == []


def test_cleanlab_alone_reports_the_slice_as_label_errors():
    from cleanlab.filter import find_label_issues

    data, flipped, in_slice = _shifted()
    rows = np.flatnonzero(data.subset == "validation")
    alone = set(rows[find_label_issues(data.labels[rows], data.pred_probs[rows], n_jobs=1)])
    assert len(alone & set(np.flatnonzero(in_slice & ~flipped))) >= 40  # what the neighbourhood + discount prevent


def test_memorised_training_flips_are_found_by_the_latent_vote():
    data, flipped, _, found = _default_run()
    train = _flagged(found, "training")
    truth = set(np.flatnonzero(flipped & (data.subset == "training")))
    assert train == truth
    # cleanlab alone cannot see them: the model agrees with the memorised labels
    from cleanlab.filter import find_label_issues

    rows = np.flatnonzero(data.subset == "training")
    assert not set(rows[find_label_issues(data.labels[rows], data.pred_probs[rows], n_jobs=1)]) & truth


def test_a_clean_shifted_run_yields_nothing():
    data, _, _ = _shifted(n_flips=0, n_train_flips=0)
    assert ins.mislabeled(data) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_pure_noise_yields_nothing(seed):
    rng = np.random.default_rng(seed)
    n = 800
    probs = rng.dirichlet(np.ones(K), n).astype(np.float32)
    data = AnalysisInput(
        subset=np.where(np.arange(n) < 500, "training", "validation").astype(object),
        sample_id=np.array([str(i) for i in range(n)], dtype=object),
        latent=rng.normal(size=(n, 16)).astype(np.float32),
        loss=rng.gamma(2.0, 0.5, n),
        loss_name="loss_ce",
        metric=None,
        metric_name=None,
        labels=rng.integers(0, K, n),
        pred_probs=probs,
        class_names=[str(c) for c in range(K)],
        metadata=pd.DataFrame({"scanner": rng.choice(["A", "B"], n)}),
    )
    assert ins.mislabeled(data) == []


def test_without_latent_it_is_cleanlab_find_label_issues():
    from cleanlab.filter import find_label_issues

    data, _, _ = _shifted()
    data.latent = np.zeros((data.n, 0), np.float32)
    found = ins.mislabeled(data, suspect=np.zeros(data.n, bool))
    for subset in ("training", "validation"):
        rows = np.flatnonzero(data.subset == subset)
        expected = set(rows[find_label_issues(data.labels[rows], data.pred_probs[rows], n_jobs=1)])
        assert _flagged(found, subset) == expected
        assert all(v["reason"] == "model" for i in found for v in i.extra["samples"].values())


@functools.cache
def _real(name: str, flip_share: float, seed: int = 0) -> tuple[AnalysisInput, np.ndarray]:
    """A scikit-learn data set (``wine``, ``breast_cancer``, ``digits``) split 50/50 into training and
    validation, an MLP (32 ReLU units: the latent) trained on training, and ``flip_share`` of the validation
    labels flipped to another class."""
    from sklearn import datasets
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    rng = np.random.default_rng(seed)
    n, n_classes = len(y), int(y.max()) + 1
    subset = np.where(rng.random(n) < 0.5, "training", "validation").astype(object)
    x = StandardScaler().fit(x[subset == "training"]).transform(x)
    given, flipped = y.copy(), np.zeros(n, bool)
    val = np.flatnonzero(subset == "validation")
    rows = rng.choice(val, round(flip_share * len(val)), replace=False)
    given[rows], flipped[rows] = (y[rows] + rng.integers(1, n_classes, len(rows))) % n_classes, True
    train = subset == "training"
    model = MLPClassifier((32,), max_iter=300, random_state=seed).fit(x[train], given[train])
    probs = model.predict_proba(x).astype(np.float32)
    data = AnalysisInput(
        subset=subset,
        sample_id=np.arange(n).astype(str).astype(object),
        latent=np.maximum(x @ model.coefs_[0] + model.intercepts_[0], 0).astype(np.float32),
        loss=-np.log(np.clip(probs[np.arange(n), given], 1e-12, 1)),
        loss_name="loss_ce",
        metric=None,
        metric_name=None,
        labels=given.astype(np.int64),
        pred_probs=probs,
        class_names=[str(c) for c in range(n_classes)],
        metadata=pd.DataFrame(index=range(n)),
    )
    return data, flipped


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", ["wine", "breast_cancer", "digits"])
def test_a_clean_real_run_yields_nothing(name):
    # without flips the candidates are the model's honest hard cases (atypical inputs): breast cancer gave
    # 3 false claims before the typicality test, digits (torch MLP, benchmarks/_label_shift.py) 4-6 per subset
    data, _ = _real(name, 0.0)
    assert ins.mislabeled(data) == []


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_planted_flips_on_real_data_are_found(name):
    data, flipped = _real(name, 0.1, seed=1)
    found = [i for i in ins.mislabeled(data) if i.subset == "validation"]
    assert len(found) == 1
    flagged, truth = set(found[0].rows), set(np.flatnonzero(flipped))
    assert len(flagged & truth) / len(flagged) >= 0.8 and len(flagged & truth) / len(truth) >= 0.8
    stats = found[0].statistics
    assert stats["typical_candidates"] >= 3 and stats["null_pvalue"] < 0.01
