"""The FastAPI app: REST routers under /api/v1 and the built web UI at /."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from leapscope import __version__
from leapscope.exceptions import (
    CorruptStorageError,
    FilterError,
    LeapscopeError,
    NotFoundError,
    RunNotFoundError,
    StoreError,
    UntrustedIntegrationError,
)
from leapscope.server import _render
from leapscope.server._deps import State
from leapscope.server._explain import ExplainPool, SupersededError
from leapscope.server._fast import FastReads
from leapscope.server._jobs import JobManager, WorkerPool
from leapscope.server._last_resort import LastResort, internal_error_detail
from leapscope.server._schemas import PROBLEM_RESPONSES, Data, Health, add_documented_schemas
from leapscope.server._security import DEFAULT_MAX_BODY, RequestGuard, TokenMiddleware, allowed_hosts
from leapscope.server.routers import analysis, projects, runs, samples
from leapscope.store import Workspace

__all__ = ["STATIC_DIR", "create_app", "status_of"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

# error class -> (HTTP status, Problem title); the first matching class in this order wins
_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (RunNotFoundError, 404, "Not found"),
    (NotFoundError, 404, "Not found"),
    (CorruptStorageError, 503, "Storage unreadable"),
    (StoreError, 409, "Unavailable"),
    (FilterError, 422, "Invalid filter"),
    (SupersededError, 409, "Superseded"),
    (UntrustedIntegrationError, 403, "Untrusted integration"),
    (LeapscopeError, 400, "Bad request"),
)


def status_of(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and Problem title of an error, by its class (never by its message).

    ``RunNotFoundError`` / ``NotFoundError`` -> 404, ``CorruptStorageError`` -> 503, other
    ``StoreError`` -> 409, ``FilterError`` -> 422, ``SupersededError`` -> 409, ``UntrustedIntegrationError``
    -> 403, other ``LeapscopeError`` -> 400, anything else -> 500.
    """
    for cls, status, title in _STATUS:
        if isinstance(exc, cls):
            return status, title
    return 500, "Internal error"


def _raw_storage_errors() -> list[type[Exception]]:
    import sqlite3

    import pyarrow as pa

    return [sqlite3.DatabaseError, pa.ArrowException]


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "status": status}, status_code=status, media_type="application/problem+json"
    )


def _document(app: FastAPI) -> None:
    """Complete the app's OpenAPI schema with the documented-only shapes (see ``server/_schemas.py``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_documented_schemas(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _handle_errors(app: FastAPI, ws: Workspace) -> None:
    """Answer every error as Problem JSON (:class:`leapscope.server._schemas.Problem`), its status by class."""

    @app.exception_handler(LeapscopeError)
    async def leapscope_error(request: Request, exc: LeapscopeError) -> JSONResponse:
        status, title = status_of(exc)
        return _problem(status, title, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = _problem(
            exc.status_code,
            {404: "Not found", 405: "Method not allowed", 422: "Unprocessable request"}.get(exc.status_code, "Error"),
            detail,
        )
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # one Problem shape for every error; the offending input is not echoed (it may be NaN, 1e999999 or huge)
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}" for err in exc.errors()[:10]
        )
        return _problem(422, "Unprocessable request", reasons or "invalid request")

    @app.exception_handler(RuntimeError)
    async def worker_error(request: Request, exc: RuntimeError) -> JSONResponse:
        return _problem(500, "Worker error", str(exc))

    # a damaged file that the store did not catch still gets a readable answer, never a bare 500
    for raw_storage_error in _raw_storage_errors():

        @app.exception_handler(raw_storage_error)
        async def storage_error(request: Request, exc: Exception) -> JSONResponse:
            return _problem(
                503,
                "Storage unreadable",
                f"{type(exc).__name__}: {exc}; a workspace file ({ws.path}) may be damaged: "
                "run `leapscope runs` to see which, then restore it or delete the run",
            )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        return _problem(500, "Internal error", internal_error_detail(exc))


def _mount_ui(app: FastAPI) -> None:
    """The built UI: ``/assets`` from ``server/static``, every other non-API path loads ``index.html``."""
    app.mount("/assets", StaticFiles(directory=STATIC_DIR / "assets"), name="assets")

    @app.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def index(path: str, request: Request) -> Any:
        # client-side routes all load the app (HEAD too); files are served only from the assets mount
        if path.startswith("api/"):
            if request.method == "HEAD":
                return _problem(405, "Method not allowed", f"HEAD /{path}: the API answers GET (and POST/DELETE)")
            return _problem(404, "Not found", f"no API route /{path}")
        return FileResponse(STATIC_DIR / "index.html")


def create_app(
    workspace: str | Path | Workspace | None = None,
    *,
    token: str | None = None,
    serve_ui: bool = True,
    warm: bool = True,
    host: str | None = None,
    allow_hosts: Iterable[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    explain_workers: int | None = None,
    fast_reads: bool = True,
) -> FastAPI:
    """Build the app for a workspace.

    Parameters
    ----------
    token : str, optional
        When set, every /api request must carry it (``Authorization: Bearer``).
    serve_ui : bool
        Mount the built UI (``server/static``) at / with an index.html fallback.
    warm : bool
        Start the analysis worker at startup and compile UMAP there; start the first explanation
        worker (its torch import is paid before the first heatmap).
    host : str, optional
        The address the server is bound to; requests may name it in their ``Host`` header.
    allow_hosts : iterable of str
        More host names accepted in the ``Host`` header (``'*'``: any). Always accepted:
        ``127.0.0.1``, ``localhost``, ``[::1]``; any port. Other hosts get 421.
    max_body : int
        Largest request body in bytes (413 beyond it).
    explain_workers : int, optional
        Most explanation worker processes (heatmaps run there, apart from visuals; default one
        per two cores, 1 to 4; see :mod:`leapscope.server._explain`).
    fast_reads : bool
        Answer samples pages and sample records from memory ahead of the routes when the run's
        index is built (:mod:`leapscope.server._fast`; same answers; off only to compare).

    Errors are answered as Problem JSON ``{"title", "detail", "status"}``, the status chosen
    by the error's class (:func:`status_of`); a state-changing request needs
    ``Content-Type: application/json`` (415) and no foreign ``Origin`` (403).
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    analysis_pool = WorkerPool("analysis", warm=_render.warm_up if warm else None)
    state = State(ws, WorkerPool("visuals"), analysis_pool, JobManager(analysis_pool), ExplainPool(explain_workers))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if warm:
            analysis_pool.start()
            state.explain.start()
        try:
            yield
        finally:
            state.shutdown()

    app = FastAPI(
        title="leapscope",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
    )
    app.state.leapscope = state
    if fast_reads:  # innermost: after the guards and the token
        from leapscope.server.routers.samples import methods_json

        app.add_middleware(FastReads, state=state, methods=methods_json())
    if token:
        app.add_middleware(TokenMiddleware, token=token)
    # outermost: Host / Origin / content type / body size come before the token and the routes
    app.add_middleware(RequestGuard, hosts=allowed_hosts(host, allow_hosts), max_body=max_body)
    # around everything: an unexpected exception is a JSON 500 and the keep-alive connection stays open
    app.add_middleware(LastResort)

    _handle_errors(app, ws)
    for module in (samples, runs, projects, analysis):  # the most requested routes are matched first
        app.include_router(module.router, prefix="/api/v1", responses=PROBLEM_RESPONSES)

    @app.get(
        "/api/v1/health",
        operation_id="health",
        tags=["health"],
        response_model=Data[Health],
        responses=PROBLEM_RESPONSES,
    )
    async def health() -> dict[str, Any]:
        """The server's version and workspace, and whether the analysis worker has warmed up."""
        warm_future = analysis_pool.warm_future
        return {
            "data": {
                "version": __version__,
                "workspace": str(ws.path),
                "analysis_worker_warm": bool(warm_future and warm_future.done()),
            }
        }

    _document(app)
    if serve_ui and (STATIC_DIR / "index.html").exists():
        _mount_ui(app)
    return app
