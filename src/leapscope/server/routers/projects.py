"""Projects: projects -> versions -> runs, run comparison, and saved threshold tests."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from leapscope import runs as services
from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.server._deps import State, state
from leapscope.server._schemas import (
    AggregateEnvelope,
    CreateTestRequestBody,
    Data,
    Dismissal,
    DismissRequestBody,
    PairEnd,
    ProjectBody,
    SavedTest,
    Undismissed,
    UndismissRequestBody,
)
from leapscope.server._security import DecodedRoute
from leapscope.server.routers.runs import run_body
from leapscope.store import Run

router = APIRouter(tags=["projects"], route_class=DecodedRoute)


@router.get("/projects", operation_id="listProjects", response_model=Data[list[ProjectBody]])
def list_projects(s: State = Depends(state)) -> dict[str, Any]:
    """Projects -> versions -> runs."""
    runs = s.workspace.runs()
    data = []
    for project in s.workspace.catalog.projects():
        versions = []
        for version in s.workspace.catalog.versions(project):
            mine = [run_body(r) for r in runs if r.row.version_id == version.id]
            versions.append(
                {
                    "name": version.name,
                    "model_hash": version.model_hash[:12],
                    "code_hash": version.code_hash[:12],
                    "runs": mine,
                }
            )
        data.append({"name": project.name, "versions": versions})
    return {"data": data}


@router.get("/projects/{project}/compare", operation_id="compareRuns", response_model=AggregateEnvelope)
def compare(
    project: str, column: str, by: str = "subset", agg: str = "mean", s: State = Depends(state)
) -> dict[str, Any]:
    """The same aggregate across every complete run of a project."""
    frame = services.compare_runs(s.workspace, project, column, by=[b for b in by.split(",") if b], agg=agg)
    return {"data": frame.to_dict(orient="records")}


def _project(s: State, project: str) -> None:
    """404 unless the project exists (a request never creates one)."""
    try:
        s.workspace.catalog.project(project, create=False)
    except StoreError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


@router.get("/projects/{project}/tests", operation_id="listTests", response_model=Data[list[SavedTest]])
def list_tests(project: str, s: State = Depends(state)) -> dict[str, Any]:
    """The saved tests of a project, each with its stored results."""
    _project(s, project)
    tests = services.saved_tests(s.workspace, project)
    by_test: dict[int, list[dict[str, Any]]] = {}
    for r in s.workspace.catalog.test_results(project=project):
        # `passed` stays 0/1 in this answer, as stored (StoredTestResult)
        by_test.setdefault(r.test_id, []).append(
            {k: _finite(v) for k, v in {**r.to_dict(), "passed": int(r.passed)}.items()}
        )
    return {
        "data": [
            {"id": tid, **{k: _finite(v) for k, v in t.__dict__.items()}, "results": by_test.get(tid, [])}
            for tid, t in tests
        ]
    }


def _latest_complete(s: State, project: str) -> Run | None:
    complete = [r for r in s.workspace.runs(project) if r.status == "complete"]
    return complete[-1] if complete else None


@router.post("/projects/{project}/tests", operation_id="createTest", response_model=Data[CreateTestRequestBody])
def create_test(project: str, body: CreateTestRequestBody, s: State = Depends(state)) -> dict[str, Any]:
    """Save a threshold test; it runs on every new run of the project, and at once on the
    project's latest complete run (its result is stored, so listTests shows it there).

    404 for an unknown project (it is not created); 422 for a malformed filter, an unknown
    column or metric, a literal of the wrong type (checked against the project's latest
    complete run when there is one), non-finite or missing bounds, or over-long fields.
    """
    _project(s, project)
    try:
        if not body.name.strip():
            raise LeapscopeError("test: name must not be empty")
        test = services.ThresholdTest(**body.model_dump())
        latest = _latest_complete(s, project)
        test.validate(latest.samples.schema if latest is not None else None)
        services.save_test(s.workspace, project, test, run=latest)
    except StoreError:
        raise
    except LeapscopeError as exc:  # FilterError included
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"data": body.model_dump()}


def _end(end: PairEnd) -> dict[str, str]:
    return {k: v for k, v in end.model_dump().items() if v is not None}


@router.get("/projects/{project}/dismissals", operation_id="listDismissals", response_model=Data[list[Dismissal]])
def list_dismissals(project: str, s: State = Depends(state)) -> dict[str, Any]:
    """The project's "not a duplicate" dismissals, oldest first (404 for an unknown project)."""
    _project(s, project)
    return {"data": [d.to_dict() for d in services.list_dismissals(s.workspace, project)]}


@router.post("/projects/{project}/dismissals", operation_id="dismissPair", response_model=Data[Dismissal])
def dismiss_pair(project: str, body: DismissRequestBody, s: State = Depends(state)) -> dict[str, Any]:
    """Mark a pair "not a duplicate": later analyses of the project's runs never report it as a
    duplicate or as leakage (re-analyze the run to update its insights). Idempotent; the pair is unordered.

    Name both ends by ``subset`` + ``sample_id``, or both by ``input_hash``; 422 otherwise (or for
    the same sample twice); 404 for an unknown project.
    """
    _project(s, project)
    try:
        found = services.dismiss_pair(s.workspace, project, _end(body.a), _end(body.b), reason=body.reason)
    except StoreError:
        raise
    except LeapscopeError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"data": found.to_dict()}


@router.delete("/projects/{project}/dismissals", operation_id="undismissPair", response_model=Data[Undismissed])
def undismiss_pair(project: str, body: UndismissRequestBody, s: State = Depends(state)) -> dict[str, Any]:
    """Forget the dismissal of a pair (either order); ``removed`` says whether there was one."""
    _project(s, project)
    try:
        removed = services.undismiss_pair(s.workspace, project, _end(body.a), _end(body.b))
    except StoreError:
        raise
    except LeapscopeError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"data": {"removed": removed}}
