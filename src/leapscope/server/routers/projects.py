from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from leapscope import analysis
from leapscope.server._deps import State, state
from leapscope.server.routers.runs import RunBody, run_body

router = APIRouter(tags=["projects"])


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


@router.get("/projects/{project}/tests", operation_id="listTests")
def list_tests(project: str, s: State = Depends(state)) -> dict[str, Any]:
    tests = analysis.saved_tests(s.workspace, project)
    with s.workspace.catalog.connect() as db:
        results = db.execute("SELECT run_id, test_id, passed, value, detail FROM test_results").fetchall()
    by_test: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by_test.setdefault(r["test_id"], []).append(dict(r))
    return {"data": [{"id": tid, **t.__dict__, "results": by_test.get(tid, [])} for tid, t in tests]}


class CreateTestRequestBody(BaseModel):
    name: str
    metric: str
    filter: str | None = None
    min: float | None = None
    max: float | None = None


@router.post("/projects/{project}/tests", operation_id="createTest")
def create_test(project: str, body: CreateTestRequestBody, s: State = Depends(state)) -> dict[str, Any]:
    """Save a threshold test; it runs on every new run of the project."""
    analysis.save_test(s.workspace, project, analysis.ThresholdTest(**body.model_dump()))
    return {"data": body.model_dump()}
