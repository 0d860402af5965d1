"""The web server: FastAPI routers over the Python API, and the built web UI."""

from __future__ import annotations

import webbrowser
from pathlib import Path

from leapscope.exceptions import LeapscopeError
from leapscope.server._app import STATIC_DIR, create_app
from leapscope.server._security import is_loopback, new_token

__all__ = ["STATIC_DIR", "create_app", "serve"]


def serve(workspace: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 8040, token: str | None = None,
          open_browser: bool = False, warm: bool = True) -> None:
    """Serve the app with uvicorn.

    Loopback by default. Any other host needs a token: the given one, or a new one
    printed here; every API request must then carry it.

    Raises
    ------
    LeapscopeError
        An empty token.
    """
    import uvicorn

    if token is not None and not token:
        raise LeapscopeError("serve: --token must not be empty")
    if not is_loopback(host) and token is None:
        token = new_token()
        print(f"binding {host}: API token (pass as 'Authorization: Bearer <token>' or ?token=): {token}")
    app = create_app(workspace, token=token, warm=warm)
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    print(f"leapscope UI: {url}")
    if open_browser:
        webbrowser.open(url)
    uvicorn.run(app, host=host, port=port, log_level="warning")
