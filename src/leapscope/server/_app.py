"""The FastAPI app: REST routers under /api/v1 and the built web UI at /."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from leapscope import __version__
from leapscope.exceptions import LeapscopeError, RunNotFoundError, StoreError
from leapscope.server import _render
from leapscope.server._deps import State
from leapscope.server._jobs import JobManager, WorkerPool
from leapscope.server._security import TokenMiddleware
from leapscope.server.routers import analysis, projects, runs, samples
from leapscope.store import Workspace

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"title": title, "detail": detail, "status": status}, status_code=status)


def create_app(workspace: str | Path | Workspace | None = None, *, token: str | None = None, serve_ui: bool = True,
               warm: bool = True) -> FastAPI:
    """Build the app for a workspace.

    Parameters
    ----------
    token : str, optional
        When set, every /api request must carry it (``Authorization: Bearer``).
    serve_ui : bool
        Mount the built UI (``server/static``) at / with an index.html fallback.
    warm : bool
        Start the analysis worker at startup and compile UMAP there.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    analysis_pool = WorkerPool("analysis", warm=_render.warm_up if warm else None)
    state = State(ws, WorkerPool("visuals"), analysis_pool, JobManager(analysis_pool))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if warm:
            analysis_pool.start()
        yield
        state.visuals.shutdown()
        analysis_pool.shutdown()

    app = FastAPI(title="leapscope", version=__version__, lifespan=lifespan, openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs")
    app.state.leapscope = state
    if token:
        app.add_middleware(TokenMiddleware, token=token)

    @app.exception_handler(RunNotFoundError)
    async def not_found(request: Request, exc: RunNotFoundError) -> JSONResponse:
        return _problem(404, "Not found", str(exc))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return _problem(404 if "has no" in str(exc) else 409, "Unavailable", str(exc))

    @app.exception_handler(LeapscopeError)
    async def leapscope_error(request: Request, exc: LeapscopeError) -> JSONResponse:
        return _problem(400, type(exc).__name__, str(exc))

    @app.exception_handler(RuntimeError)
    async def worker_error(request: Request, exc: RuntimeError) -> JSONResponse:
        return _problem(500, "Worker error", str(exc))

    for module in (projects, runs, samples, analysis):
        app.include_router(module.router, prefix="/api/v1")

    @app.get("/api/v1/health", operation_id="health", tags=["health"])
    def health() -> dict[str, Any]:
        warm_future = analysis_pool.warm_future
        return {"data": {"version": __version__, "workspace": str(ws.path), "analysis_worker_warm": bool(warm_future and warm_future.done())}}

    if serve_ui and (STATIC_DIR / "index.html").exists():
        app.mount("/assets", StaticFiles(directory=STATIC_DIR / "assets"), name="assets")

        @app.get("/{path:path}", include_in_schema=False)
        def index(path: str) -> Any:
            # client-side routes all load the app; files are served only from the assets mount
            if path.startswith("api/"):
                return _problem(404, "Not found", f"no API route /{path}")
            return FileResponse(STATIC_DIR / "index.html")

    return app
