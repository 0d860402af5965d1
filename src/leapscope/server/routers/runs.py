from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from leapscope import analysis
from leapscope.server._deps import State, state
from leapscope.server._security import DecodedRoute
from leapscope.store import Run

router = APIRouter(tags=["runs"], route_class=DecodedRoute)


class RunBody(BaseModel):
    id: str
    project: str
    version: str
    status: str
    created_at: float
    seconds: float | None
    counts: dict[str, Any] | None
    summary: dict[str, Any] | None
    error: str | None


def run_body(run: Run) -> dict[str, Any]:
    r = run.row
    return {"id": r.id, "project": r.project, "version": r.version, "status": r.status, "created_at": r.created_at,
            "seconds": r.seconds, "counts": r.counts, "summary": r.summary, "error": r.error}


@router.get("/runs", operation_id="listRuns", response_model=dict[str, list[RunBody]])
def list_runs(project: str | None = None, s: State = Depends(state)) -> dict[str, Any]:
    return {"data": [run_body(r) for r in s.workspace.runs(project)]}


@router.get("/runs/{run_id}", operation_id="getRun", responses={404: {"description": "no such run"}})
def get_run(run_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """A run with its manifest, columns and metadata columns."""
    run = s.run(run_id)
    body: dict[str, Any] = {**run_body(run), "manifest": run.manifest}
    if run.status == "complete":
        schema = run.samples.schema
        body["columns"] = [{"name": f.name, "type": str(f.type)} for f in schema]
        body["metadata_columns"] = analysis.metadata_columns(run)
        body["explanations"] = sorted(p.stem for p in (run.dir / "explanations").glob("*.npy"))
        body["analyzed"] = (run.dir / "insights.json").exists()
    return {"data": body}


@router.get("/runs/{run_id}/tests", operation_id="runTests")
def run_tests(run_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """Saved tests of the run's project, run on this run now."""
    run = s.run(run_id)
    return {"data": [r.to_dict() for r in analysis.run_saved_tests(s.workspace, run)]}
