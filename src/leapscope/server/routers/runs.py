"""Runs: the list, one run with its manifest and columns, and its saved tests run now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from leapscope import runs as services
from leapscope.server._deps import State, state
from leapscope.server._schemas import Data, RunBody, RunDetail, TestResultBody
from leapscope.server._security import DecodedRoute
from leapscope.store import Run
from leapscope.store._schema import EXPLANATIONS_DIR, INSIGHTS_FILE

__all__ = ["RunBody", "router", "run_body"]

router = APIRouter(tags=["runs"], route_class=DecodedRoute)


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


@router.get("/runs", operation_id="listRuns", response_model=Data[list[RunBody]])
def list_runs(project: str | None = None, s: State = Depends(state)) -> dict[str, Any]:
    """Every run of the workspace (or of ``project``), oldest first."""
    return {"data": [run_body(r) for r in s.workspace.runs(project)]}


@router.get("/runs/{run_id}", operation_id="getRun", response_model=Data[RunDetail], response_model_exclude_unset=True)
def get_run(run_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """A run with its manifest; a complete run also with its columns, metadata columns, explanations and ``analyzed``."""
    run = s.run(run_id)
    body: dict[str, Any] = {**run_body(run), "manifest": run.manifest}
    if run.status == "complete":
        schema = run.samples.schema
        body["columns"] = [{"name": f.name, "type": str(f.type)} for f in schema]
        body["metadata_columns"] = services.metadata_columns(run)
        body["explanations"] = sorted(p.stem for p in (run.dir / EXPLANATIONS_DIR).glob("*.npy"))
        body["analyzed"] = (run.dir / INSIGHTS_FILE).exists()
    return {"data": body}


@router.get("/runs/{run_id}/tests", operation_id="runTests", response_model=Data[list[TestResultBody]])
def run_tests(run_id: str, s: State = Depends(state)) -> dict[str, Any]:
    """Saved tests of the run's project, run on this run now."""
    run = s.run(run_id)
    return {"data": [r.to_dict() for r in services.run_saved_tests(s.workspace, run)]}
