"""Projections, insights, aggregates and confusion matrices of a run."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from leapscope import runs as services
from leapscope.exceptions import NotFoundError
from leapscope.server._deps import State, state
from leapscope.server._schemas import (
    AggregateEnvelope,
    Confusion,
    Data,
    InsightsEnvelope,
    JobBody,
    Projection,
    ProjectionPending,
)
from leapscope.server._security import DecodedRoute
from leapscope.server._tasks import analyze_job, projection_job
from leapscope.store import Run
from leapscope.store._schema import INSIGHTS_FILE, LATENT_DIR, PROJECTIONS_DIR, projection_prefix

router = APIRouter(tags=["analysis"], route_class=DecodedRoute)


def stored_spaces(run: Run) -> list[str]:
    """The run's latent spaces that are really stored (``latent/<space>.npy``), default first."""
    folder = run.dir / LATENT_DIR
    on_disk = {p.stem for p in folder.iterdir() if p.suffix == ".npy" and p.is_file()} if folder.is_dir() else set()
    return [name for name in run.latent_spaces if name in on_disk]


def latent_space(run: Run, space: str | None) -> str:
    """``space`` checked against the stored latent spaces (None: the default one).

    Raises
    ------
    NotFoundError
        The run stored no such latent space (404); the message lists the stored ones.
    """
    spaces = stored_spaces(run)
    if not spaces:
        raise NotFoundError(
            f"run {run.id} stored no latent space, so it has no projection (the model has no default latent layer)"
        )
    if space is None or space == "":
        return spaces[0]
    if space not in spaces:
        raise NotFoundError(f"projection: run {run.id} has no latent space {space!r}; stored: {', '.join(spaces)}")
    return space


def _cached(run: Run, space: str, method: str) -> bool:
    folder = run.dir / PROJECTIONS_DIR
    prefix = projection_prefix(space, method)  # names compared as strings, never used as a pattern
    return folder.is_dir() and any(p.name.startswith(prefix) and p.suffix == ".npy" for p in folder.iterdir())


@router.get(
    "/runs/{run_id}/projection",
    operation_id="getProjection",
    response_model=Data[Projection],
    responses={202: {"model": Data[ProjectionPending], "description": "being computed; poll the job"}},
)
def get_projection(
    run_id: str,
    method: str = Query("pca", pattern="^(pca|umap|tsne)$"),
    space: str | None = None,
    s: State = Depends(state),
) -> Any:
    """The 2-D map of a latent space. PCA is computed inline; UMAP and t-SNE run as a background job (202).

    ``space`` must be one of the run's stored latent spaces (default: the first); any other
    value is a 404 listing them, and starts no job.
    """
    run = s.run(run_id)
    name = latent_space(run, space)
    if method == "pca":
        xy = services.projection(run, method="pca", space=name)
    else:
        if not _cached(run, name, method):
            job = s.jobs.start("projection", run.id, (method, name), projection_job, s.path, run.id, method, name)
            if job.status == "complete":
                return get_projection(run_id, method, name, s)
            return JSONResponse({"data": {"status": job.status, "job": job.to_dict()}}, status_code=202)
        xy = services.projection(run, method=method, space=name)  # type: ignore[arg-type]
    return {
        "data": {
            "status": "ready",
            "method": method,
            "space": name,
            "x": [None if v != v else float(v) for v in xy[:, 0]],
            "y": [None if v != v else float(v) for v in xy[:, 1]],
        }
    }


@router.get("/runs/{run_id}/insights", operation_id="listInsights", response_model=InsightsEnvelope)
def list_insights(run_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """Stored insights, ranked; each with its first 60 samples as (subset, sample_id) for sample grids."""
    run = s.run(run_id)
    found = services.load_insights(run)
    subsets = run.samples["subset"].to_pylist() if found else []
    data = []
    for i, insight in enumerate(found):
        samples = [
            {"subset": subsets[r], "sample_id": sid}
            for r, sid in zip(insight.rows[:60], insight.sample_ids[:60], strict=True)
        ]
        data.append({"index": i, **insight.to_dict(), "samples": samples})
    return {"data": data, "analyzed": (run.dir / INSIGHTS_FILE).exists()}


@router.post("/runs/{run_id}/insights", operation_id="analyzeRun", status_code=202, response_model=Data[JobBody])
def analyze_run(run_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """Start (or join) the analysis job of a run."""
    run = s.run(run_id)
    return {"data": s.jobs.start("analyze", run.id, (), analyze_job, s.path, run.id).to_dict()}


@router.get("/jobs/{job_id}", operation_id="getJob", tags=["jobs"], response_model=Data[JobBody])
def get_job(job_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """A background job (analysis or projection): poll until ``status`` is not ``running``."""
    job = s.jobs.jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job '{job_id}' (jobs live as long as the server process)")
    return {"data": job.to_dict()}


@router.get("/runs/{run_id}/aggregate", operation_id="aggregate", tags=["aggregates"], response_model=AggregateEnvelope)
def aggregate(run_id: str, column: str, by: str = "", agg: str = "mean", s: State = Depends(state)) -> dict[str, Any]:
    """``agg`` (mean, sum, count, ...) of ``column`` per group of the comma-separated ``by`` columns."""
    frame = services.aggregate(s.run(run_id), column, by=[b for b in by.split(",") if b], agg=agg)
    return {"data": json.loads(frame.to_json(orient="records"))}


@router.get(
    "/runs/{run_id}/confusion", operation_id="confusionMatrix", tags=["aggregates"], response_model=Data[Confusion]
)
def confusion(run_id: str, subset: str | None = None, s: State = Depends(state)) -> dict[str, Any]:
    """The confusion matrix (ground truth rows, predicted columns) of the first class prediction; empty
    labels and matrix (not applicable, not an error) for runs without one (dense, regression...)."""
    run = s.run(run_id)
    reason = services.confusion_reason(run)
    if reason is not None:
        return {"data": {"labels": [], "matrix": [], "reason": reason}}
    labels, matrix = services.confusion_matrix(run, subset=subset)
    return {"data": {"labels": labels, "matrix": matrix.tolist()}}
