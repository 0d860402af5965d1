"""Samples of a run: pages, one sample, its visuals and explanation, its neighbours, and per-point map fields."""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from leapscope import runs as services
from leapscope.exceptions import LeapscopeError, NotFoundError, StoreError
from leapscope.server import _render
from leapscope.server._deps import State, state
from leapscope.server._schemas import (
    ChartPayload,
    Data,
    PointsEnvelope,
    SampleBody,
    SamplesPage,
    SamplesQuery,
    SimilarEnvelope,
)
from leapscope.server._security import DecodedRoute
from leapscope.server.routers._common import connection, json_safe, parse_filters, quote
from leapscope.store._schema import GT_PREFIX, INSIGHTS_FILE, KEY_COLUMNS, LABEL_SUFFIX, PRED_PREFIX

router = APIRouter(tags=["samples"], route_class=DecodedRoute)


def _row_filter(run: Any, insight: int | None, cluster: int | None) -> list[int] | None:
    if insight is None and cluster is None:
        return None
    path = run.dir / INSIGHTS_FILE
    if not path.exists():
        raise StoreError(f"run {run.id} has no insights yet; analyze it first")
    stored = json.loads(path.read_text())
    if insight is not None:
        if not 0 <= insight < len(stored["insights"]):
            raise NotFoundError(f"run {run.id} has {len(stored['insights'])} insights; no insight {insight}")
        return list(stored["insights"][insight]["rows"])
    return [i for i, c in enumerate(stored["clusters"]) if c == cluster]


@router.get("/runs/{run_id}/samples", operation_id="listSamples", response_model=SamplesPage)
def list_samples(run_id: str, q: Annotated[SamplesQuery, Query()], s: State = Depends(state)) -> dict[str, Any]:
    """A page of samples: filter by subset, ``where`` (``column op value``), insight, cluster or rows."""
    subset, where, rows, sort, offset, limit = q.subset, q.where, q.rows, q.sort, q.offset, q.limit
    insight, cluster = q.insight, q.cluster
    run = s.run(run_id)
    schema = run.samples.schema
    names = [f.name for f in schema]
    scalar = [f.name for f in schema if not str(f.type).startswith("list")]  # vectors stay out of list pages
    clause, params = parse_filters(where, schema)
    clauses = [clause] if clause else []
    if subset:
        clauses.append("subset = ?")
        params.append(subset)
    chosen = _row_filter(run, insight, cluster)
    if rows:
        # isdecimal + isascii: int() of '²' or of a 5,000-digit string fails or is out of any row range
        chosen = [
            int(r) for r in rows.split(",") if r.strip().isascii() and r.strip().isdecimal() and len(r.strip()) <= 18
        ]
    if chosen is not None:
        clauses.append("row IN (SELECT unnest(?))")
        params.append(chosen)
    order = "row"
    if sort:
        column = sort.lstrip("-")
        if column not in names:
            raise LeapscopeError(f"sort: unknown column '{column}'")
        order = f"{quote(column)} {'DESC' if sort.startswith('-') else 'ASC'} NULLS LAST, row"
    where_sql = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    cur = connection(run)
    cols = ", ".join(quote(c) for c in scalar)
    # identifiers were checked against the schema above; values are bound parameters
    counted = cur.execute(f"SELECT count(*) FROM samples{where_sql}", params).fetchone()  # noqa: S608 - quoted identifiers, bound values
    total = int(counted[0]) if counted else 0
    query = f"SELECT {cols} FROM samples{where_sql} ORDER BY {order} LIMIT {limit} OFFSET {offset}"  # noqa: S608 - quoted identifiers, int limit/offset
    result = cur.execute(query, params).fetchall()
    data = [{k: json_safe(v) for k, v in zip(scalar, row, strict=True)} for row in result]
    return {"data": data, "total": total, "next_offset": offset + limit if offset + limit < total else None}


def _sample_row(s: State, run_id: str, subset: str, sample_id: str) -> dict[str, Any]:
    run = s.run(run_id)
    cur = connection(run)
    result = cur.execute("SELECT * FROM samples WHERE subset = ? AND sample_id = ?", [subset, sample_id])
    row = result.fetchone()
    if row is None:
        raise NotFoundError(f"run {run_id} has no sample {sample_id!r} in subset '{subset}'")
    names = [d[0] for d in result.description]
    return {k: json_safe(v) for k, v in zip(names, row, strict=True)}


@router.get("/runs/{run_id}/samples/{subset}/{sample_id}", operation_id="getSample", response_model=Data[SampleBody])
async def get_sample(run_id: str, subset: str, sample_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """One sample: every column, its visualizers and the available explanation methods."""
    row = _sample_row(s, run_id, subset, sample_id)
    visuals = await s.visuals.run(_render.list_visuals, s.path, s.run(run_id).id)
    from leapscope.analysis.attribution import METHODS

    return {"data": {"row": row, "visualizers": visuals, "methods": list(METHODS)}}


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
    run = s.run(run_id)
    _sample_row(s, run.id, subset, sample_id)
    return _payload(await s.visuals.run(_render.render_visual, s.path, run.id, subset, sample_id, name))


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
    target: str | None = None,
    layer: str | None = None,
    s: State = Depends(state),
) -> Response:
    """The heatmap of one sample (method/target/layer), drawn over its image."""
    run = s.run(run_id)
    _sample_row(s, run.id, subset, sample_id)
    return _payload(
        await s.visuals.run(_render.render_explanation, s.path, run.id, subset, sample_id, method, target, layer)
    )


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
    _sample_row(s, run_id, subset, sample_id)
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
    path = run.dir / INSIGHTS_FILE
    if path.exists():
        data["cluster"] = json.loads(path.read_text())["clusters"]
    return {"data": data}
