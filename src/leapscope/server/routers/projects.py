from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from leapscope import analysis
from leapscope.analysis._tests import MAX_NAME_LENGTH
from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.server._deps import State, state
from leapscope.server._security import DecodedRoute
from leapscope.server.routers.runs import RunBody, run_body
from leapscope.store import MAX_FILTER_LENGTH, Run

router = APIRouter(tags=["projects"], route_class=DecodedRoute)


class VersionBody(BaseModel):
    name: str
    model_hash: str
    code_hash: str
    runs: list[RunBody]


class ProjectBody(BaseModel):
    name: str
    versions: list[VersionBody]


@router.get("/projects", operation_id="listProjects", response_model=dict[str, list[ProjectBody]])
def list_projects(s: State = Depends(state)) -> dict[str, Any]:
    """Projects -> versions -> runs."""
    runs = s.workspace.runs()
    data = []
    for project in s.workspace.catalog.projects():
        versions = []
        for version in s.workspace.catalog.versions(project):
            mine = [run_body(r) for r in runs if r.row.version_id == version.id]
            versions.append({"name": version.name, "model_hash": version.model_hash[:12], "code_hash": version.code_hash[:12], "runs": mine})
        data.append({"name": project.name, "versions": versions})
    return {"data": data}


@router.get("/projects/{project}/compare", operation_id="compareRuns")
def compare(project: str, column: str, by: str = "subset", agg: str = "mean", s: State = Depends(state)) -> dict[str, Any]:
    """The same aggregate across every complete run of a project."""
    frame = analysis.compare_runs(s.workspace, project, column, by=[b for b in by.split(",") if b], agg=agg)
    return {"data": frame.to_dict(orient="records")}


def _project(s: State, project: str) -> None:
    """404 unless the project exists (a request never creates one)."""
    try:
        s.workspace.catalog.project(project, create=False)
    except StoreError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


@router.get("/projects/{project}/tests", operation_id="listTests")
def list_tests(project: str, s: State = Depends(state)) -> dict[str, Any]:
    """The saved tests of a project, each with its stored results."""
    _project(s, project)
    tests = analysis.saved_tests(s.workspace, project)
    with s.workspace.catalog.connect() as db:
        results = db.execute("SELECT run_id, test_id, passed, value, detail FROM test_results").fetchall()
    by_test: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by_test.setdefault(r["test_id"], []).append({k: _finite(v) for k, v in dict(r).items()})
    return {"data": [{"id": tid, **{k: _finite(v) for k, v in t.__dict__.items()}, "results": by_test.get(tid, [])} for tid, t in tests]}


class CreateTestRequestBody(BaseModel):
    """A threshold test: mean ``metric`` over the samples matching ``filter`` stays >= ``min`` / <= ``max``.

    Lengths and bounds are checked by the endpoint (422 with a short reason, never an echo of
    the value): ``name`` / ``metric`` at most 200 characters, ``filter`` at most 2000,
    ``min`` / ``max`` finite.
    """

    name: str = Field(description=f"at most {MAX_NAME_LENGTH} characters")
    metric: str = Field(description="a metric_* or loss_* column")
    filter: str | None = Field(default=None, description='column op literal [and ...], e.g. digit_label == "8" and loss_cross_entropy > 0.5'
                               f" (at most {MAX_FILTER_LENGTH} characters)")
    min: float | None = None
    max: float | None = None


def _latest_complete(s: State, project: str) -> Run | None:
    complete = [r for r in s.workspace.runs(project) if r.status == "complete"]
    return complete[-1] if complete else None


@router.post("/projects/{project}/tests", operation_id="createTest")
def create_test(project: str, body: CreateTestRequestBody, s: State = Depends(state)) -> dict[str, Any]:
    """Save a threshold test; it runs on every new run of the project.

    404 for an unknown project (it is not created); 422 for a malformed filter, an unknown
    column or metric, a literal of the wrong type (checked against the project's latest
    complete run when there is one), non-finite or missing bounds, or over-long fields.
    """
    _project(s, project)
    try:
        if not body.name.strip():
            raise LeapscopeError("test: name must not be empty")
        test = analysis.ThresholdTest(**body.model_dump())
        latest = _latest_complete(s, project)
        test.validate(latest.samples.schema if latest is not None else None)
        analysis.save_test(s.workspace, project, test)
    except StoreError:
        raise
    except LeapscopeError as exc:  # FilterError included
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"data": body.model_dump()}
