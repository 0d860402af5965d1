"""Samples of a run: pages, one sample, its visuals and explanation, its neighbours, and per-point map fields."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from leapscope import runs as services
from leapscope.exceptions import FilterError, NotFoundError
from leapscope.server import _render
from leapscope.server._deps import State, state
from leapscope.server._index import RunIndex, page_body
from leapscope.server._schemas import (
    ChartPayload,
    Data,
    ExplainTarget,
    PointsEnvelope,
    SampleBody,
    SamplesPage,
    SamplesQuery,
    SimilarEnvelope,
)
from leapscope.server._security import DecodedRoute
from leapscope.server.routers._common import json_safe
from leapscope.store._schema import GT_PREFIX, KEY_COLUMNS, LABEL_SUFFIX, PRED_PREFIX

router = APIRouter(tags=["samples"], route_class=DecodedRoute)

#: the explanation regions a request may name (never a mask file: that would read a server path)
REGION_PATTERN = r"^(positive|all|gt|gt:[A-Za-z0-9_.-]{1,200}|box:-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+)$"


_JSON = "application/json"


def _json(body: bytes) -> Response:
    """A JSON answer already serialised (by orjson / the run index): no re-validation on the way out."""
    return Response(body, media_type=_JSON)


def _chosen(s: State, index: RunIndex, q: SamplesQuery) -> tuple[list[int] | None, Any]:
    """The row numbers an insight, cluster or ``rows`` picks (None: no such filter) and the stamp of
    ``insights.json`` they were read from (part of the selection's cache key)."""
    chosen: list[int] | None = None
    stamp: Any = None
    if q.insight is not None or q.cluster is not None:
        stamp, stored = s.indexes.insights(index.run)
        if q.insight is not None:
            if not 0 <= q.insight < len(stored["insights"]):
                raise NotFoundError(
                    f"run {index.run.id} has {len(stored['insights'])} insights; no insight {q.insight}"
                )
            chosen = list(stored["insights"][q.insight]["rows"])
        else:
            chosen = [i for i, c in enumerate(stored.get("clusters") or []) if c == q.cluster]
    if q.rows:
        # isdecimal + isascii: int() of '²' or of a 5,000-digit string fails or is out of any row range
        chosen = [
            int(r) for r in q.rows.split(",") if r.strip().isascii() and r.strip().isdecimal() and len(r.strip()) <= 18
        ]
    return chosen, stamp


def _query_parameters() -> dict[str, Any]:
    """The OpenAPI query parameters FastAPI writes for ``q: Annotated[SamplesQuery, Query()]``.

    :func:`list_samples` validates its query itself (one pydantic call instead of FastAPI's
    per-field dependency solving, the largest cost of a page request); its documented
    parameters stay exactly what FastAPI would generate.
    """
    from fastapi import FastAPI

    probe = FastAPI()

    @probe.get("/{run_id}")
    def documented(run_id: str, q: Annotated[SamplesQuery, Query()]) -> None:
        return None

    parameters = probe.openapi()["paths"]["/{run_id}"]["get"]["parameters"]
    return {"parameters": [p for p in parameters if p["in"] == "query"]}  # FastAPI adds the path's own


_LIST_FIELDS = frozenset(n for n, f in SamplesQuery.model_fields.items() if str(f.annotation).startswith("list"))


def _samples_query(request: Request) -> SamplesQuery:
    """The validated query of a samples page. Raises RequestValidationError (422 Problem) like FastAPI."""
    params = request.query_params
    raw: dict[str, Any] = {}
    for name in SamplesQuery.model_fields:
        if name in _LIST_FIELDS:
            values = params.getlist(name)
            if values:
                raw[name] = values
        elif name in params:
            raw[name] = params[name]
    try:
        return SamplesQuery.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("query", *e.get("loc", ()))} for e in exc.errors(include_url=False, include_input=False)
        ]
        raise RequestValidationError(errors) from None


@router.get(
    "/runs/{run_id}/samples",
    operation_id="listSamples",
    response_model=SamplesPage,
    openapi_extra=_query_parameters(),
)
async def list_samples(run_id: str, request: Request, s: State = Depends(state)) -> Response:
    """A page of samples: filter by subset, ``where`` (``column op value``), insight, cluster or rows.

    Answered from the run's read index (:mod:`leapscope.server._index`): the matching rows are
    selected once per distinct query and each page is a slice of that selection.
    """
    q = _samples_query(request)
    index = await s.index(run_id)
    chosen, stamp = _chosen(s, index, q)
    key = (q.subset, tuple(q.where), q.insight, q.cluster, q.rows, q.sort, stamp)
    positions = index.cached_selection(key)
    if positions is None:
        select = functools.partial(index.select, subset=q.subset, where=q.where, chosen=chosen, sort=q.sort, key=key)
        try:
            # a mask over the table is quick; a sort order not computed yet (DuckDB) goes to a worker thread
            positions = select() if index.sort_cached(q.sort) else await run_in_threadpool(select)
        except FilterError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _json(page_body(index, positions, q.offset, q.limit))


async def _position(s: State, run_id: str, subset: str, sample_id: str) -> tuple[RunIndex, int]:
    """The run's index and the sample's position in it. Raises NotFoundError (404) for an unknown sample."""
    index = await s.index(run_id)
    return index, index.position(subset, sample_id)


@functools.cache
def methods_json() -> bytes:
    """The attribution method names as a JSON array (bytes)."""
    from leapscope.analysis.attribution import METHODS

    return orjson.dumps(list(METHODS))


@router.get("/runs/{run_id}/samples/{subset}/{sample_id}", operation_id="getSample", response_model=Data[SampleBody])
async def get_sample(run_id: str, subset: str, sample_id: str, s: State = Depends(state)) -> Response:
    """One sample: every column, its visualizers and the available explanation methods."""
    index, position = await _position(s, run_id, subset, sample_id)
    s.explain.prewarm(s.path, index.run.id)  # its heatmap request comes next: load the model now
    visuals = await s.visualizers(index.run)
    return _json(
        b'{"data":{"row":'
        + index.record(position)
        + b',"visualizers":'
        + orjson.dumps(visuals)
        + b',"methods":'
        + methods_json()
        + b"}}"
    )


# a visual or explanation: a PNG picture, or a JSON chart (bars, graph, tokens)
_PAYLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": Data[ChartPayload],
        "description": "A chart as JSON, or a picture",
        "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
    },
}


def _payload(result: tuple[str, Any]) -> Response:
    content_type, body = result
    if content_type == "image/png":
        return Response(body, media_type="image/png", headers={"Cache-Control": "max-age=300"})
    return JSONResponse({"data": body})


@router.get(
    "/runs/{run_id}/samples/{subset}/{sample_id}/visuals/{name}",
    operation_id="getVisual",
    response_model=None,
    responses=_PAYLOAD_RESPONSES,
)
async def get_visual(run_id: str, subset: str, sample_id: str, name: str, s: State = Depends(state)) -> Response:
    """A visualizer's output: PNG for pictures, JSON for charts and text (rendered in a worker process)."""
    index, _ = await _position(s, run_id, subset, sample_id)
    return _payload(await s.visuals.run(_render.render_visual, s.path, index.run.id, subset, sample_id, name))


@router.get(
    "/runs/{run_id}/samples/{subset}/{sample_id}/explanation",
    operation_id="getExplanation",
    response_model=None,
    responses=_PAYLOAD_RESPONSES,
)
async def get_explanation(
    run_id: str,
    subset: str,
    sample_id: str,
    method: str = "integrated_gradients",
    target: str | None = Query(None, max_length=500),
    layer: str | None = Query(None, max_length=500),
    region: str | None = Query(
        None,
        pattern=REGION_PATTERN,
        description="dense outputs: `positive`, `all`, `gt`, `gt:NAME` or `box:x0,y0,x1,y1` (output pixels)",
    ),
    client: str | None = Query(
        None,
        max_length=100,
        description="an id of the asking page (any string): a newer explanation request of the same client for "
        "the same sample drops this one while it waits (409 Superseded)",
    ),
    s: State = Depends(state),
) -> Response:
    """The heatmap of one sample (method/target/layer), drawn over its image.

    Computed in the explanation pool (its own bounded set of worker processes, models kept
    warm), never in the visuals worker: visuals stay fast while heatmaps compute.
    """
    index, _ = await _position(s, run_id, subset, sample_id)
    return _payload(
        await s.explain.run(
            _render.render_explanation,
            s.path,
            index.run.id,
            subset,
            sample_id,
            method,
            target,
            layer,
            region,
            supersede=(client, subset, sample_id) if client else None,
        )
    )


@router.get(
    "/runs/{run_id}/samples/{subset}/{sample_id}/targets",
    operation_id="getExplainTargets",
    response_model=Data[list[ExplainTarget]],
)
async def get_explain_targets(run_id: str, subset: str, sample_id: str, s: State = Depends(state)) -> Response:
    """What this sample can be explained for (classes, dense channels and regions, losses), in words;
    pass a row's ``target`` / ``region`` to the explanation. Computed in the visuals worker (cheap)."""
    index, _ = await _position(s, run_id, subset, sample_id)
    rows = await s.visuals.run(_render.explain_targets, s.path, index.run.id, subset, sample_id)
    return _json(orjson.dumps({"data": rows}))


@router.get(
    "/runs/{run_id}/samples/{subset}/{sample_id}/similar",
    operation_id="getSimilar",
    response_model=SimilarEnvelope,
    response_model_exclude_unset=True,
)
def get_similar(
    run_id: str, subset: str, sample_id: str, k: int = Query(8, ge=1, le=100), s: State = Depends(state)
) -> dict[str, Any]:
    """The ``k`` nearest samples in latent space; empty (with a ``note``) when this sample's latent vector is not finite."""
    s.index_now(run_id).position(subset, sample_id)
    near = services.similar(s.run(run_id), sample_id, subset=subset, k=k)
    body: dict[str, Any] = {
        "data": [{k2: json_safe(v) for k2, v in rec.items()} for rec in near.to_dict(orient="records")]
    }
    if near.attrs.get("note"):
        body["note"] = near.attrs["note"]
    return body


@router.get("/runs/{run_id}/points", operation_id="getPoints", response_model=PointsEnvelope)
def get_points(run_id: str, columns: str = "", s: State = Depends(state)) -> dict[str, Any]:
    """Columnar per-point fields for coloring and sizing the map (all rows, row order)."""
    run = s.run(run_id)
    names = set(run.samples.column_names)
    wanted = [*KEY_COLUMNS, *[c for c in columns.split(",") if c and c in names and c not in KEY_COLUMNS]]
    table = run.samples.select(wanted)
    data: dict[str, Any] = {}
    for name in wanted:
        values = table[name].to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            data[name] = [None if not np.isfinite(v) else float(v) for v in values]
        else:
            data[name] = [None if v is None else (v.item() if hasattr(v, "item") else v) for v in values]
    strings = [f.name for f in run.samples.schema if str(f.type) == "string"]
    gt = next((c for c in strings if c.startswith(GT_PREFIX) and c.endswith(LABEL_SUFFIX)), None)
    pred = next((c for c in strings if c.startswith(PRED_PREFIX) and c.endswith(LABEL_SUFFIX)), None)
    if gt and pred:
        g, p = run.samples[gt].to_pylist(), run.samples[pred].to_pylist()
        data["correct"] = [None if a is None or b is None else a == b for a, b in zip(g, p, strict=True)]
    stored = services.read_insights_file(run)  # checked (CorruptStorageError: 503 naming the file)
    if stored is not None and stored.get("clusters") is not None:
        data["cluster"] = stored["clusters"]
    return {"data": data}
