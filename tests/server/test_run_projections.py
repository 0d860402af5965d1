"""``GET /runs/{id}`` lists the projections cached for each latent space (the map opens on the best one)."""

from __future__ import annotations

import shutil

import numpy as np
from fastapi.testclient import TestClient

from leapscope import runs as services
from leapscope.server import create_app
from leapscope.store import Workspace
from leapscope.store._schema import PROJECTIONS_DIR, projection_file


def cache_as_umap(workspace, run_id) -> str:
    """Store the run's PCA map under the UMAP cache name: the state a UMAP computed earlier leaves
    (a real UMAP of 1,797 digits takes 30-100 s here). Returns the default latent space."""
    run = Workspace(workspace).open_run(run_id)
    space = run.latent_spaces[0]
    (run.dir / PROJECTIONS_DIR).mkdir(exist_ok=True)
    np.save(run.dir / projection_file(space, "umap", 2, 0, {}), services.projection(run, method="pca"))
    return space


def test_run_detail_lists_cached_projections(digits_workspace_copy):
    path, run_id = digits_workspace_copy
    run = Workspace(path).open_run(run_id)
    shutil.rmtree(run.dir / PROJECTIONS_DIR, ignore_errors=True)  # whatever earlier tests cached
    space = run.latent_spaces[0]
    with TestClient(create_app(path, warm=False), base_url="http://127.0.0.1") as client:

        def listed() -> list[dict[str, str]]:
            return client.get(f"/api/v1/runs/{run_id}").json()["data"]["projections"]

        assert listed() == []
        assert client.get(f"/api/v1/runs/{run_id}/projection", params={"method": "pca"}).status_code == 200
        assert listed() == [{"space": space, "method": "pca"}]
        cache_as_umap(path, run_id)
        assert listed() == [{"space": space, "method": "pca"}, {"space": space, "method": "umap"}]
        # the listed UMAP is served from the cache at once (no 202 job)
        umap = client.get(f"/api/v1/runs/{run_id}/projection", params={"method": "umap"})
        assert umap.status_code == 200 and umap.json()["data"]["method"] == "umap"
