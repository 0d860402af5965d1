"""Detectors on constructed data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leapscope.analysis import AnalysisInput, latent_clusters, project
from leapscope.analysis import insights as ins

RNG = np.random.default_rng(0)


def _data(n: int = 600, *, seed: int = 0, classes: int = 4, latent: np.ndarray | None = None) -> AnalysisInput:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centers = rng.normal(size=(classes, 16)) * 4
    z = latent if latent is not None else (centers[labels] + rng.normal(size=(n, 16))).astype(np.float32)
    probs = np.full((n, classes), 0.05 / (classes - 1))
    probs[np.arange(n), labels] = 0.95
    subset = np.where(np.arange(n) < n * 0.6, "training", "validation").astype(object)
    loss = rng.gamma(2.0, 0.05, n)
    meta = pd.DataFrame({"source": rng.choice(["camera_a", "camera_b", "camera_c"], n), "size": rng.normal(10, 2, n)})
    return AnalysisInput(
        subset=subset,
        sample_id=np.array([str(i) for i in range(n)], dtype=object),
        latent=z,
        loss=loss,
        loss_name="loss_ce",
        metric=(loss < 0.2).astype(float),
        metric_name="metric_acc",
        labels=labels,
        pred_probs=probs,
        class_names=[str(c) for c in range(classes)],
        metadata=meta,
        input_hash=np.array([f"h{i}" for i in range(n)], dtype=object),
    )


def test_no_insight_on_pure_noise():
    data = _data()
    clusters = latent_clusters(data.latent, seed=0)
    assert ins.low_performance(data, clusters=clusters) == []
    assert ins.overfitting(data, clusters=clusters) == []
    assert ins.duplicates(data) == [] and ins.data_leakage(data) == []
    assert ins.out_of_distribution(data) == []
    assert ins.domain_gap(data) == []
    assert ins.mislabeled(data) == []


def test_planted_failing_slice_is_found_and_explained():
    data = _data()
    bad = (data.metadata.source == "camera_b").to_numpy() & (data.subset == "validation")
    data.loss[bad] += 1.0
    data.metric[bad] = 0.0
    found = ins.low_performance(data, clusters=latent_clusters(data.latent, seed=0))
    assert found, "planted slice not found"
    top = found[0]
    assert top.subset == "validation" and "camera_b" in top.explanation
    assert set(top.rows) <= set(np.flatnonzero(bad)) and len(top.rows) >= 0.9 * bad.sum()
    assert top.suggested_test["filter"] == "subset == 'validation' and source == 'camera_b'"
    assert top.suggested_test["metric"] == "metric_acc" and top.suggested_test["min"] == 0.0
    assert 0 < top.severity <= 1 and top.statistics["p_adjusted"] < 0.05


def test_planted_latent_cluster_is_found():
    data = _data()
    far = data.subset == "validation"
    data.latent[np.flatnonzero(far)[:40]] += np.float32(30.0)  # a blob of its own
    data.loss[np.flatnonzero(far)[:40]] += 2.0
    found = ins.low_performance(data, clusters=latent_clusters(data.latent, seed=0))
    assert any(set(np.flatnonzero(far)[:40]) <= set(i.rows) for i in found if i.extra["group_kind"] == "cluster")


def test_duplicates_and_leakage():
    data = _data()
    data.latent[5] = data.latent[6]  # near-duplicate pair in training
    data.input_hash[10] = data.input_hash[11]  # exact duplicate inputs
    data.latent[500] = data.latent[3]  # a validation sample that is a training sample
    dups = ins.duplicates(data)
    groups = {tuple(sorted(g)) for i in dups for g in i.extra["groups"]}
    assert ("5", "6") in groups and ("10", "11") in groups
    leak = ins.data_leakage(data)
    assert len(leak) == 1 and leak[0].sample_ids == ["500"] and leak[0].extra["matches"][500] == "3"


def test_out_of_distribution_blob():
    data = _data()
    idx = np.flatnonzero(data.subset == "validation")[:30]
    data.latent[idx] = RNG.normal(size=(30, 16)).astype(np.float32) * 4 + np.float32(-40)
    found = ins.out_of_distribution(data)
    assert len(found) == 1 and set(idx.astype(str)) <= set(found[0].sample_ids)
    assert found[0].statistics["share"] >= 30 / 240


def test_label_flips_are_found():
    data = _data(n=1000)
    flipped = np.flatnonzero(data.subset == "validation")[:30]
    data.labels[flipped] = (data.labels[flipped] + 1) % 4  # the model (probs) and the latent keep the true class
    found = ins.mislabeled(data)
    val = next(i for i in found if i.subset == "validation")
    got = set(map(int, val.sample_ids))
    assert len(got & set(flipped)) / len(flipped) >= 0.9 and len(got & set(flipped)) / len(got) >= 0.9
    assert all(i.subset != "training" or "held-out subsets are where" in i.explanation for i in found)


def test_domain_gap_needs_latent_difference_and_worse_loss():
    data = _data()
    group = (data.metadata.source == "camera_c").to_numpy()
    data.latent[group, 0] += np.float32(12.0)
    data.loss[group] += 0.5
    found = ins.domain_gap(data)
    assert len(found) == 1 and found[0].statistics["value"] == "camera_c" and found[0].statistics["auc"] > 0.9


def test_overfitting_cluster():
    data = _data()
    cluster = latent_clusters(data.latent, seed=0)
    c = cluster[0]
    held = (cluster == c) & (data.subset == "validation")
    data.loss[(cluster == c) & (data.subset == "training")] = 0.001
    data.loss[held] += 1.5
    found = ins.overfitting(data, clusters=cluster)
    assert found and found[0].statistics["cluster"] == c and set(found[0].rows) == set(np.flatnonzero(held))


@pytest.mark.slow
def test_projections_are_deterministic_and_skip_failed_rows():
    z = RNG.normal(size=(60, 8)).astype(np.float32)
    z[3] = np.nan
    for method in ("pca", "tsne"):
        a, b = project(z, method, seed=1), project(z, method, seed=1)
        np.testing.assert_array_equal(a, b)
        assert np.isnan(a[3]).all() and np.isfinite(np.delete(a, 3, axis=0)).all()
    with pytest.raises(Exception, match="unknown method"):
        project(z, "mds")  # type: ignore[arg-type]
