"""Rendering visuals to PNG / JSON in a worker process.

User visualizer code runs here, never in the server process: a crash or a hang
costs this worker, not the server. The worker keeps one RunContext per run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.report._visuals import visual_to_payload

__all__ = ["render_explanation", "render_visual", "visual_to_payload"]

_CONTEXTS: dict[tuple[str, str], Any] = {}


def _context(workspace: str, run_id: str) -> Any:
    from leapscope.runs import RunContext
    from leapscope.store import Workspace

    key = (workspace, run_id)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = RunContext(Workspace(workspace).open_run(run_id))
    return _CONTEXTS[key]


def render_visual(workspace: str, run_id: str, subset: str, sample_id: str, name: str) -> tuple[str, Any]:
    """Run the visualizer ``name`` on one sample; returns (content type, payload)."""
    from leapscope.exceptions import LeapscopeError

    ctx = _context(workspace, run_id)
    visuals = ctx.visuals(subset, sample_id)
    if name not in visuals:
        raise LeapscopeError(
            f"visualizer '{name}' does not apply to sample {sample_id!r}; available: {', '.join(visuals)}"
        )
    return visual_to_payload(visuals[name])


def list_visuals(workspace: str, run_id: str) -> list[dict[str, str]]:
    ctx = _context(workspace, run_id)
    return [{"name": n, "type": vis.visualizer_type.value} for n, vis in ctx.loaded.integration.visualizers.items()]


def render_explanation(
    workspace: str, run_id: str, subset: str, sample_id: str, method: str, target: str | None, layer: str | None
) -> tuple[str, Any]:
    """Heatmap of one sample over its image (PNG), or per-position values (JSON)."""
    ctx = _context(workspace, run_id)
    result, x = ctx.explain(subset, sample_id, method=method, target=target or None, layer=layer or None)
    visual = ctx.heatmap_visual(subset, sample_id, result, x)
    return visual_to_payload(visual)


def warm_up() -> bool:
    """Import the heavy libraries (and compile UMAP's numba code) before the first request."""
    import umap

    x = np.random.default_rng(0).random((64, 4)).astype(np.float32)
    umap.UMAP(n_neighbors=5, n_epochs=5, random_state=0, n_jobs=1).fit_transform(x)
    return True
