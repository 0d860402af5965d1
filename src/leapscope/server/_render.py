"""Rendering visuals and heatmaps in worker processes.

User visualizer code runs here, never in the server process: a crash or a hang costs this
worker, not the server. Each worker keeps its loaded runs warm — the integration, its subsets
and the model (:class:`leapscope.runs.RunContext`) — in a bounded LRU (:data:`MAX_CONTEXTS`)
keyed by workspace, run, model version and the modification times of the integration and model
files (:func:`integration_stamp`), so successive requests never load the model again while a changed
file is loaded afresh. Models live in worker memory only; nothing is ever pickled to disk.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from leapscope.report._visuals import visual_to_payload

__all__ = [
    "MAX_CONTEXTS",
    "explain_methods",
    "explain_targets",
    "explain_worker_init",
    "integration_stamp",
    "model_layers",
    "render_explanation",
    "render_visual",
    "visual_to_payload",
    "warm_context",
    "warm_contexts",
]

MAX_CONTEXTS = 4

_CONTEXTS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _mtime(path: str | None) -> int | None:
    if not path:
        return None
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def integration_stamp(run: Any) -> tuple[Any, ...]:
    """(model version, integration file mtime, model file mtime) of a run: what a warm context depends on."""
    manifest = run.typed_manifest
    entry = Path(manifest.integration.entry)
    folder = entry.parent if entry.suffix == ".py" else entry
    return (
        run.row.version,
        _mtime(str(entry)),
        _mtime(str(folder / "leapscope.yaml")),
        _mtime(manifest.model.source),
    )


def _context(workspace: str, run_id: str) -> Any:
    from leapscope.runs import RunContext
    from leapscope.store import Workspace

    run = Workspace(workspace).open_run(run_id)
    key = (workspace, run_id, *integration_stamp(run))
    ctx = _CONTEXTS.get(key)
    if ctx is not None:
        _CONTEXTS.move_to_end(key)
        return ctx
    for old in [k for k in _CONTEXTS if k[:2] == (workspace, run_id)]:
        del _CONTEXTS[old]  # a changed integration or model file: that run's old context goes
    ctx = _CONTEXTS[key] = RunContext(run)
    while len(_CONTEXTS) > MAX_CONTEXTS:
        _CONTEXTS.popitem(last=False)
    return ctx


def warm_contexts() -> list[tuple[Any, ...]]:
    """The keys of the contexts this worker holds, oldest first (for tests and diagnostics)."""
    return list(_CONTEXTS)


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
    workspace: str,
    run_id: str,
    subset: str,
    sample_id: str,
    method: str,
    target: str | None,
    layer: str | None,
    region: str | None = None,
) -> tuple[str, Any]:
    """Heatmap of one sample over its image (PNG), or per-position values (JSON)."""
    ctx = _context(workspace, run_id)
    result, x = ctx.explain(
        subset, sample_id, method=method, target=target or None, layer=layer or None, region=region or None
    )
    visual = ctx.heatmap_visual(subset, sample_id, result, x)
    return visual_to_payload(visual)


def model_layers(workspace: str, run_id: str) -> dict[str, Any]:
    """The run's model layers (:func:`leapscope.runs.model_layers`), from this worker's warm model."""
    from leapscope import runs as services

    return services.model_layers(_context(workspace, run_id))


def explain_methods(workspace: str, run_id: str) -> list[dict[str, Any]]:
    """Which attribution methods apply to the run's model (:func:`leapscope.runs.explain_methods`)."""
    from leapscope import runs as services

    return services.explain_methods(_context(workspace, run_id))


def explain_targets(workspace: str, run_id: str, subset: str, sample_id: str) -> list[dict[str, Any]]:
    """What one sample can be explained for (:func:`leapscope.runs.explain_targets`)."""
    from leapscope import runs as services

    return services.explain_targets(_context(workspace, run_id), subset, sample_id)


def warm_context(workspace: str, run_id: str) -> bool:
    """Load a run in this worker ahead of its first heatmap: integration, subsets, model and (for an ONNX
    model) its differentiable torch view. Returns whether the model is differentiable."""
    ctx = _context(workspace, run_id)
    ctx.subsets  # noqa: B018 - runs the integration's preprocess once
    return bool(getattr(ctx.model, "differentiable", False))


def explain_worker_init(parent_pid: int, nice: int, threads: int) -> None:
    """Initializer of an explanation worker: dies with the server, runs at a lower CPU priority
    (``nice``), so the server and the visuals worker get the CPU first, and caps torch's threads."""
    from leapscope._process import die_with_parent

    die_with_parent(parent_pid)
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # a model without torch (onnxruntime only)
        pass


def warm_up() -> bool:
    """Import the heavy libraries (and compile UMAP's numba code) before the first request."""
    import umap

    x = np.random.default_rng(0).random((64, 4)).astype(np.float32)
    umap.UMAP(n_neighbors=5, n_epochs=5, random_state=0, n_jobs=1).fit_transform(x)
    return True
