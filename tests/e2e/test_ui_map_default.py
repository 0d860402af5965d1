"""The map opens on the best projection already cached: UMAP, else t-SNE, else PCA (issue 17 §3),
unless the URL names one. Real Chromium against a real server on a copy of the digits run."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from leapscope import runs as services
from leapscope.store import Workspace
from leapscope.store._schema import PROJECTIONS_DIR, projection_file
from tests.e2e._live import chromium, live_server

pytestmark = pytest.mark.slow


def test_map_opens_on_cached_umap(digits_workspace_copy):
    path, run_id = digits_workspace_copy
    run = Workspace(path).open_run(run_id)
    # the run's PCA map under the UMAP cache name: the state a UMAP computed earlier leaves
    # (a real UMAP of 1,797 digits takes 30-100 s here)
    (run.dir / PROJECTIONS_DIR).mkdir(exist_ok=True)
    umap_file = run.dir / projection_file(run.latent_spaces[0], "umap", 2, 0, {})
    np.save(umap_file, services.projection(run, method="pca"))
    with live_server(path) as base_url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/projection?" in r.url else None)
        page.goto(f"{base_url}/#/runs/{run_id}/map")
        expect(page.locator("canvas[data-testid=map]")).to_be_visible(timeout=30000)
        assert page.locator("select[aria-label=projection]").input_value() == "umap"
        assert asked and all("method=umap" in u for u in asked), asked  # no PCA asked first, no job polled
        # a method named in the URL wins over the cache
        asked.clear()
        page.goto(f"{base_url}/#/runs/{run_id}/map?projection=pca")
        page.reload()
        expect(page.locator("canvas[data-testid=map]")).to_be_visible(timeout=30000)
        assert page.locator("select[aria-label=projection]").input_value() == "pca"
        assert asked and all("method=pca" in u for u in asked), asked
        # without the cached UMAP, the map opens on PCA as before
        umap_file.unlink()
        asked.clear()
        page.goto(f"{base_url}/#/runs/{run_id}/map")
        page.reload()
        expect(page.locator("canvas[data-testid=map]")).to_be_visible(timeout=30000)
        assert page.locator("select[aria-label=projection]").input_value() == "pca"
        assert asked and all("method=pca" in u for u in asked), asked
