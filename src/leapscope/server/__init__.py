"""The web server: FastAPI routers over the run services (:mod:`leapscope.runs`), and the built web UI.

The HTTP contract (request/response models, the ``{data}`` envelope, Problem errors) is in
``_schemas.py`` / ``_envelope.py``; ``web/openapi.json`` and the web app's TypeScript types are
generated from it (``python -m leapscope.server._openapi``, ``cd web && npm run gen:api``).
"""

from __future__ import annotations

import signal
import threading
import webbrowser
from collections.abc import Iterable
from pathlib import Path

from leapscope.exceptions import LeapscopeError
from leapscope.server._app import STATIC_DIR, create_app
from leapscope.server._security import is_loopback, new_token

__all__ = ["STATIC_DIR", "create_app", "serve"]


def serve(
    workspace: str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8040,
    token: str | None = None,
    open_browser: bool = False,
    warm: bool = True,
    allow_hosts: Iterable[str] = (),
    explain_workers: int | None = None,
) -> None:
    """Serve the app with uvicorn.

    Loopback by default. Any other host, or ``allow_hosts`` holding ``*`` (no Host check, so no
    DNS-rebinding protection), needs a token: the given one, or a new one printed here; every API
    request must then carry it. Requests must name the server by
    ``127.0.0.1``, ``localhost``, ``[::1]``, ``host`` or one of ``allow_hosts`` in their
    ``Host`` header (421 otherwise: DNS-rebinding protection).

    SIGTERM stops the server like Ctrl+C (SIGINT): open requests get a few seconds, then
    the worker processes are ended and ``serve`` returns.

    Heatmaps run in at most ``explain_workers`` processes of their own (default one per two cores, 1 to 4), apart from
    the visuals worker, so pages and pictures stay fast while they compute.

    Raises
    ------
    LeapscopeError
        An empty token.
    """
    import uvicorn

    if token is not None and not token:
        raise LeapscopeError("serve: --token must not be empty")
    any_host = any(h.strip() == "*" for h in allow_hosts)
    if (not is_loopback(host) or any_host) and token is None:
        # `--allow-host '*'` turns off the Host check (DNS-rebinding protection): a token takes its place
        token = new_token()
        why = "--allow-host '*' (any Host header)" if is_loopback(host) else f"binding {host}"
        print(f"{why}: API token (pass as 'Authorization: Bearer <token>' or ?token=): {token}")
    app = create_app(
        workspace, token=token, warm=warm, host=host, allow_hosts=allow_hosts, explain_workers=explain_workers
    )
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    print(f"leapscope UI: {url}")
    if open_browser:
        webbrowser.open(url)
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then re-raises the signal; a
    # re-raised SIGTERM would end the process by its default action: make it a clean exit
    main = threading.current_thread() is threading.main_thread()  # signal handlers can only be set there
    previous = signal.signal(signal.SIGTERM, _stop) if main else None
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    except _Stopped:
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        app.state.leapscope.shutdown()  # no worker outlives serve, whatever ended it


class _Stopped(Exception):  # SIGTERM arrived: control flow inside serve(), never shown
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stopped
