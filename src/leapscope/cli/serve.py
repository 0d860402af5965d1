"""`leapscope serve`: the web app."""

from __future__ import annotations

from typing import Annotated

import typer

from leapscope.cli._app import app
from leapscope.cli._options import WorkspaceOpt


@app.command()
def serve(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Interface to bind; anything but loopback requires a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8040,
    token: Annotated[
        str | None, typer.Option(help="API token (generated and printed for a non-loopback host).")
    ] = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the UI in a browser.")] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Another host name clients use to reach the server (repeatable; '*' for any, which turns the "
            "Host check off and so requires a token, generated when --token is not given). "
            "Always accepted: 127.0.0.1, localhost, [::1] and --host; other Host headers are refused (DNS-rebinding protection).",
        ),
    ] = None,
) -> None:
    """Serve the web app: runs, population map, insights, sample analysis, dashboards, wiring.

    SIGTERM (``kill PID``) stops it like Ctrl+C; its worker processes end with it.
    """
    from leapscope.server import serve as run_server

    run_server(workspace, host=host, port=port, token=token, open_browser=open_browser, allow_hosts=allow_host or ())
