"""Runs: the list, one run with its manifest and columns, and its saved tests run now."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from leapscope import runs as services
from leapscope.exceptions import LeapscopeError
from leapscope.server import _render
from leapscope.server._deps import State, state
from leapscope.server._schemas import Data, ExplainMethod, Layers, RunBody, RunDetail, TestResultBody
from leapscope.server._security import DecodedRoute
from leapscope.store import Run
from leapscope.store._schema import EXPLANATIONS_DIR, INSIGHTS_FILE, PROJECTIONS_DIR, latent_file, projection_prefix

__all__ = ["RunBody", "router", "run_body"]

router = APIRouter(tags=["runs"], route_class=DecodedRoute)

_JSON = "application/json"


def run_body(run: Run) -> dict[str, Any]:
    """The API's JSON body of one run: the catalog row's public fields."""
    r = run.row
    return {
        "id": r.id,
        "project": r.project,
        "version": r.version,
        "status": r.status,
        "created_at": r.created_at,
        "seconds": r.seconds,
        "counts": r.counts,
        "summary": r.summary,
        "error": r.error,
    }


def cached_projections(run: Run) -> list[dict[str, str]]:
    """``[{"space", "method"}]``: the projections cached under ``projections/`` for each stored latent space.

    Default space first, methods in pca, umap, tsne order; file names are compared as strings
    (:func:`~leapscope.store._schema.projection_prefix`), never used as a pattern.
    """
    spaces = run.manifest.get("latent_spaces")
    if not isinstance(spaces, dict):  # an odd manifest: no map to open on, the rest still renders
        return []
    folder = run.dir / PROJECTIONS_DIR
    names = [p.name for p in folder.iterdir() if p.suffix == ".npy"] if folder.is_dir() else []
    return [
        {"space": space, "method": method}
        for space in spaces
        if (run.dir / latent_file(space)).is_file()
        for method in ("pca", "umap", "tsne")
        if any(n.startswith(projection_prefix(space, method)) for n in names)
    ]


@router.get("/runs", operation_id="listRuns", response_model=Data[list[RunBody]])
def list_runs(project: str | None = None, s: State = Depends(state)) -> dict[str, Any]:
    """Every run of the workspace (or of ``project``), oldest first."""
    return {"data": [run_body(r) for r in s.workspace.runs(project)]}


@router.get("/runs/{run_id}", operation_id="getRun", response_model=Data[RunDetail], response_model_exclude_unset=True)
def get_run(run_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """A run with its manifest and the kind of each prediction; a complete run also with its columns,
    metadata columns, explanations, ``analyzed`` and the cached ``projections``."""
    run = s.run(run_id)
    body: dict[str, Any] = {**run_body(run), "manifest": run.manifest}
    if run.status == "complete":
        schema = run.samples.schema
        body["columns"] = [{"name": f.name, "type": str(f.type)} for f in schema]
        body["metadata_columns"] = services.metadata_columns(run)
        body["explanations"] = sorted(p.stem for p in (run.dir / EXPLANATIONS_DIR).glob("*.npy"))
        body["analyzed"] = (run.dir / INSIGHTS_FILE).exists()
        body["projections"] = cached_projections(run)
    with contextlib.suppress(LeapscopeError):  # an odd or partly written manifest: the rest still renders
        body["prediction_kinds"] = {p.name: p.resolved_kind for p in run.typed_manifest.predictions}
    return {"data": body}


async def _cached(s: State, run: Run, what: str, fn: Callable[..., Any]) -> Any:
    """``fn(workspace, run_id)`` in the explanation pool, once per run and integration/model file stamp."""
    stamp = (what, _render.integration_stamp(run))
    cached = _MODEL_FACTS.get(run.id)
    if cached is not None and stamp in cached:
        return cached[stamp]
    value = await s.explain.run(fn, s.path, run.id)
    _MODEL_FACTS.setdefault(run.id, {})[stamp] = value
    return value


_MODEL_FACTS: dict[str, dict[tuple[Any, ...], Any]] = {}


@router.get("/runs/{run_id}/layers", operation_id="listLayers", response_model=Data[Layers])
async def list_layers(run_id: str, s: State = Depends(state)) -> Response:
    """The run's model layers for a layer picker: canonical names, types, output shapes, ``spatial``
    (Grad-CAM / LayerCAM can use it), the default latent and CAM layers.

    Loads the model in an explanation worker (where it stays warm for the heatmaps that follow).
    """
    run = await run_in_threadpool(s.run, run_id)
    return Response(orjson.dumps({"data": await _cached(s, run, "layers", _render.model_layers)}), media_type=_JSON)


@router.get("/runs/{run_id}/methods", operation_id="listExplainMethods", response_model=Data[list[ExplainMethod]])
async def list_methods(run_id: str, s: State = Depends(state)) -> Response:
    """Every attribution method and whether it applies to the run's model (``reason`` says why not)."""
    run = await run_in_threadpool(s.run, run_id)
    return Response(orjson.dumps({"data": await _cached(s, run, "methods", _render.explain_methods)}), media_type=_JSON)


@router.get("/runs/{run_id}/tests", operation_id="runTests", response_model=Data[list[TestResultBody]])
def run_tests(run_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """Saved tests of the run's project, run on this run now."""
    run = s.run(run_id)
    return {"data": [r.to_dict() for r in services.run_saved_tests(s.workspace, run)]}
