"""Duplicate and leakage detectors with known answers: clean real data yields nothing, planted exact and
near copies are all found, a collapsed latent never yields a near-duplicate claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leapscope.analysis import AnalysisInput
from leapscope.analysis import insights as ins
from leapscope.analysis.insights.duplicates import calibrate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _standardized(name: str) -> np.ndarray:
    from sklearn import datasets

    x = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}[name]().data
    return ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)


def _data(latent: np.ndarray, *, seed: int = 0) -> AnalysisInput:
    """A run over ``latent`` (N, D): 60% training, 20% validation, 20% test (shuffled), distinct hashes."""
    n = len(latent)
    rng = np.random.default_rng(seed)
    perm, codes = rng.permutation(n), np.zeros(n, np.int64)
    codes[perm[int(0.6 * n) : int(0.8 * n)]], codes[perm[int(0.8 * n) :]] = 1, 2
    subset = np.array(["training", "validation", "test"], dtype=object)[codes]
    return AnalysisInput(
        subset=subset,
        sample_id=np.array([f"s{i}" for i in range(n)], dtype=object),
        latent=np.ascontiguousarray(latent, np.float32),
        loss=rng.gamma(2.0, 0.05, n),
        loss_name="loss_ce",
        metric=None,
        metric_name=None,
        labels=np.full(n, -1),
        pred_probs=None,
        class_names=[],
        metadata=pd.DataFrame(index=range(n)),
        input_hash=np.array([f"h{i}" for i in range(n)], dtype=object),
        latent_name="features",
    )


def _near(found: list[ins.Insight]) -> list[ins.Insight]:
    return [i for i in found if i.statistics["kind"] == "near"]


@pytest.mark.parametrize(
    "latent",
    [
        pytest.param(np.random.default_rng(1).normal(size=(800, 16)), id="gaussian-noise"),
        pytest.param(_standardized("wine"), id="wine"),
        pytest.param(_standardized("breast_cancer"), id="breast-cancer"),
    ],
)
def test_clean_data_yields_no_duplicates_or_leakage(latent):
    data = _data(latent)
    assert ins.duplicates(data) == []
    assert ins.data_leakage(data) == []


def test_planted_exact_copies_across_subsets_are_all_leakage():
    data = _data(_standardized("breast_cancer"))
    train = np.flatnonzero(data.subset == "training")
    val = np.flatnonzero(data.subset == "validation")
    planted = dict(zip(val[:20].tolist(), train[:20].tolist(), strict=True))
    for v, t in planted.items():
        data.input_hash[v] = data.input_hash[t]
        data.latent[v] = data.latent[t]
    leak = ins.data_leakage(data)
    assert [i.statistics["kind"] for i in leak] == ["exact"]
    got = leak[0]
    assert set(got.rows) == set(planted) and got.subset == "validation|training"
    assert {int(k): v for k, v in got.extra["matches"].items()} == {v: f"s{t}" for v, t in planted.items()}
    pair = got.statistics["pairs"][0]
    assert pair["space"] == "input_hash" and pair["distance"] == 0.0
    assert pair["a"]["subset"] == "validation" and pair["b"]["subset"] == "training"
    assert pair["b"]["sample_id"] in got.explanation and got.severity == 1.0  # 20 of ~114 leaked: 20 x share > 1


def test_exact_duplicates_do_not_need_a_trustworthy_latent():
    data = _data(np.zeros((300, 8)))  # every vector identical: a fully collapsed latent
    train = np.flatnonzero(data.subset == "training")
    data.input_hash[train[1]] = data.input_hash[train[0]]
    dups = ins.duplicates(data)
    assert len(dups) == 1 and dups[0].statistics["kind"] == "exact"
    assert set(dups[0].rows) == {train[0], train[1]}
    assert dups[0].statistics["calibration"]["collapsed"] is True
    assert ins.data_leakage(data) == []


@pytest.mark.parametrize("copies", [15, 80])  # 80 near copies: far more than 1% of the samples
def test_planted_near_copies_in_a_spread_latent_are_found(copies):
    rng = np.random.default_rng(2)
    data = _data(_standardized("breast_cancer"))
    train = np.flatnonzero(data.subset == "training")
    held = np.flatnonzero(data.subset != "training")[:copies]
    for h, t in zip(held, train[:copies], strict=True):
        data.latent[h] = data.latent[t] + rng.normal(scale=1e-3, size=data.latent.shape[1])
    dup_a, dup_b = train[-1], train[-2]
    data.latent[dup_a] = data.latent[dup_b] + np.float32(1e-3)
    leak = _near(ins.data_leakage(data))
    assert {r for i in leak for r in i.rows} == set(held.tolist())
    for insight in leak:
        assert insight.severity < 1.0 and "latent 'features'" in insight.explanation
        for pair in insight.statistics["pairs"]:
            assert pair["space"] == "features" and pair["distance"] < pair["threshold"]
            assert int(pair["b"]["sample_id"][1:]) == train[list(held).index(pair["a"]["row"])]
        assert insight.statistics["pairs"][0]["b"]["sample_id"] in insight.explanation
    dups = [i for i in _near(ins.duplicates(data)) if i.subset == "training"]
    assert len(dups) == 1 and set(dups[0].rows) == {dup_a, dup_b}
    assert dups[0].severity <= 0.5 and f"s{dup_a}" in dups[0].explanation and f"s{dup_b}" in dups[0].explanation


def test_exact_outranks_near_of_the_same_size():
    data = _data(_standardized("breast_cancer"))
    train = np.flatnonzero(data.subset == "training")
    val = np.flatnonzero(data.subset == "validation")
    data.input_hash[val[0]] = data.input_hash[train[0]]
    data.latent[val[0]] = data.latent[train[0]]
    data.latent[val[1]] = data.latent[train[1]] + np.float32(1e-4)
    leak = {i.statistics["kind"]: i for i in ins.data_leakage(data)}
    assert leak["exact"].rows == [val[0]] and leak["near"].rows == [val[1]]
    assert leak["exact"].severity > leak["near"].severity


def test_saturated_softmax_latent_yields_no_near_duplicate_claims():
    # a custom latent space of softmax probabilities (distinct inputs): confident samples crowd each class's
    # corner at every scale down to 1e-12, a continuous lower tail that once gave 5 near-duplicate claims
    rng = np.random.default_rng(0)
    logits = 20 * np.eye(10)[rng.integers(0, 10, 600)] + rng.normal(0, 4, (600, 10))
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = z / z.sum(axis=1, keepdims=True)
    data = _data(probs)
    assert ins.duplicates(data) == [] and ins.data_leakage(data) == []
    cal, _, _ = calibrate(probs.astype(np.float32), "probs")
    assert cal.collapsed and not cal.checked and cal.collapsed_share > 0.05 and "saturated" in cal.note


def test_collapsed_latent_yields_no_near_duplicate_claims():
    rng = np.random.default_rng(3)
    latent = rng.normal(size=(600, 16))
    latent[rng.choice(600, 60, replace=False)] = latent[0]  # 10% of distinct inputs share one vector (dead ReLU)
    data = _data(latent)
    assert ins.duplicates(data) == [] and ins.data_leakage(data) == []
    cal, _, _ = calibrate(latent, "relu")
    assert cal.collapsed and not cal.checked and cal.collapsed_share > 0.01 and "collapsed" in cal.note


def test_all_zero_vectors_are_never_near_duplicates():
    latent = np.random.default_rng(4).normal(size=(600, 16))
    latent[[3, 400]] = 0.0  # two dead activations: below the collapse share, still no evidence
    assert ins.duplicates(_data(latent)) == [] and ins.data_leakage(_data(latent)) == []


@pytest.fixture(scope="module")
def breast_cancer_run(tmp_path_factory: pytest.TempPathFactory):
    from leapscope import api
    from leapscope.runs.inputs import analysis_input
    from leapscope.store import Workspace

    path = tmp_path_factory.mktemp("breast-ws")
    run = api.evaluate(EXAMPLES / "tabular-breast-cancer", workspace=path, workers=1)
    return analysis_input(Workspace(path).open_run(run.id))


def test_real_breast_cancer_run_has_no_duplicates_or_leakage(breast_cancer_run):
    data = breast_cancer_run
    assert data.latent_name and len(set(data.input_hash.tolist())) == data.n
    assert ins.duplicates(data) == [] and ins.data_leakage(data) == []
