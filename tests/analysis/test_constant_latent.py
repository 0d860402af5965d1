"""Projections and clustering of degenerate latents: constant (dead) columns, or one vector for every sample
(a conv-only model's pooled map), give finite maps, no sklearn/numpy warnings and a note in words."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from leapscope.analysis.clustering import latent_clusters, reduce_latent
from leapscope.analysis.projections import latent_note, project, varying_columns


def _blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), n // 3)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    return (centers[truth] + rng.normal(0, 0.3, (n, 2))).astype(np.float32), truth


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_constant_latent_projects_to_one_point_without_warnings(method):
    latent = np.full((40, 8), 0.25, np.float32)
    latent[3] = np.nan  # a failed sample stays NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a divide-by-zero RuntimeWarning would fail here
        out = project(latent, method)
    assert out.shape == (40, 2)
    assert np.isnan(out[3]).all()
    assert np.array_equal(out[np.arange(40) != 3], np.zeros((39, 2), np.float32))
    note = latent_note(latent, "pool")
    assert note is not None and "latent space 'pool' is constant: all 39 samples" in note and "--latent" in note


def test_dead_columns_are_dropped_and_named():
    x, truth = _blobs()
    latent = np.concatenate([x, np.full((len(x), 5), 3.0, np.float32), np.full((len(x), 1), 1e-9)], axis=1)
    latent[:, -1] += np.float32(1e-12) * np.arange(len(x))  # "near constant": round-off sized variation
    assert varying_columns(latent).tolist() == [True, True] + [False] * 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = project(latent)
        clusters = latent_clusters(latent, n_clusters=3)
    # the 2 varying columns decide the map: PCA of them equals PCA of the blobs alone
    assert np.allclose(np.abs(out), np.abs(project(x)), atol=1e-4)
    # and k-means recovers the 3 blobs (cluster ids up to renaming)
    assert all(len(set(clusters[truth == t])) == 1 for t in range(3)) and len(set(clusters)) == 3
    assert latent_note(latent) == (
        "the latent space: 6 of 8 columns are constant across samples and were left out of maps and clusters"
    )
    assert latent_note(x) is None


def test_constant_latent_has_no_clusters_and_no_convergence_warning():
    latent = np.tile(np.array([[1.0, 2.0, 0.0, 4.0]], np.float32), (50, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's ConvergenceWarning ("1 distinct cluster") would fail here
        assert reduce_latent(latent).shape == (50, 1)
        assert (latent_clusters(latent) == -1).all()
    # two distinct vectors only: at most two clusters, never more than distinct points
    two = np.concatenate([latent[:25], latent[:25] * -1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clusters = latent_clusters(two)
    assert sorted(set(clusters.tolist())) == [0, 1]


def test_analyze_skips_latent_insights_of_a_constant_latent_and_says_why(dense_workspace, tmp_path):
    import shutil

    from leapscope import api, runs

    workspace, run_id = dense_workspace
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    run = api.open_run(copy, run_id)
    (space,) = run.latent_spaces
    path = next((run.dir / "latent").glob(f"{space}*.npy"))
    latent = np.load(path)
    np.save(path, np.full_like(latent, 0.5))  # what a dead conv-only pooled map looks like
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        api.analyze(copy, run_id)
    statuses = {st.type: st for st in runs.load_statuses(api.open_run(copy, run_id)) or []}
    for name in ("out_of_distribution", "domain_gap", "overfitting"):
        assert statuses[name].status == "skipped"
        assert f"latent space '{space}' is constant: all" in (statuses[name].reason or ""), statuses[name]
        assert "--latent LAYER" in (statuses[name].reason or "")
    assert statuses["low_performance"].status == "ran"  # metadata slices need no latent
