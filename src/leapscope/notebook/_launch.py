"""``ls.launch(workspace)``: the web app served from a background thread of the notebook's kernel."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from leapscope.exceptions import LeapscopeError
from leapscope.notebook._html import esc

__all__ = ["App", "launch"]


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class App:
    """A running leapscope app (what :func:`launch` returns).

    Displayed in a notebook it is the app in an IFrame; ``url`` is its address,
    ``show(run_id, page)`` opens one run's page, and ``stop()`` ends the server.
    """

    def __init__(self, server: Any, thread: threading.Thread, app: Any, url: str, height: int):
        self._server, self._thread, self._app = server, thread, app
        self.url, self.height = url, height

    def __repr__(self) -> str:
        return f"<leapscope app at {self.url}{'' if self.running else ' (stopped)'}>"

    @property
    def running(self) -> bool:
        """Whether the server thread is still serving."""
        return self._thread.is_alive()

    def page_url(self, run_id: str | None = None, page: str = "map") -> str:
        """The app's address, or one run's ``page`` (map, insights, dashboards, wiring)."""
        return self.url if run_id is None else f"{self.url}#/runs/{run_id}/{page}"

    def _iframe(self, src: str) -> str:
        return (
            f'<iframe src="{esc(src)}" width="100%" height="{int(self.height)}" '
            'style="border:1px solid #ddd" title="leapscope"></iframe>'
        )

    def _repr_html_(self) -> str:
        if not self.running:
            return f"<div>leapscope app at {esc(self.url)} is stopped</div>"
        return self._iframe(self.url)

    def show(self, run_id: str | None = None, page: str = "map") -> None:
        """Display the app (or one run's page) in the notebook."""
        from IPython.display import HTML, display

        display(HTML(self._iframe(self.page_url(run_id, page))))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and its worker processes (idempotent)."""
        from leapscope.notebook._run import APP_URLS

        self._server.should_exit = True
        self._thread.join(timeout)
        self._app.state.leapscope.shutdown()
        for key, url in list(APP_URLS.items()):
            if url == self.url:
                del APP_URLS[key]


def launch(
    workspace: str | Path | None = None,
    *,
    port: int | None = None,
    height: int = 800,
    warm: bool = False,
    timeout: float = 30.0,
) -> App:
    """Serve the web app for ``workspace`` on 127.0.0.1 in a background thread and return it.

    Like FiftyOne's ``launch_app``: the returned :class:`App` displays the app in an IFrame;
    run links of :class:`~leapscope.notebook.NotebookRun` point to it. Loopback only (the
    server's Host and Origin checks stay on); a free port unless ``port`` is given.

    Raises
    ------
    LeapscopeError
        The server did not start within ``timeout`` seconds (e.g. the port is taken).
    """
    import uvicorn

    from leapscope.notebook._run import APP_URLS
    from leapscope.server import create_app
    from leapscope.store import Workspace

    ws = Workspace(workspace, create=False)
    host = "127.0.0.1"
    port = port or _free_port(host)
    app = create_app(ws, warm=warm, host=host)
    # uvicorn installs signal handlers only on the main thread: this one leaves the kernel's alone
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"leapscope-app-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            app.state.leapscope.shutdown()
            raise LeapscopeError(f"launch: the app did not start on {host}:{port}; pass another port=")
        time.sleep(0.05)
    url = f"http://{host}:{port}/"
    APP_URLS[str(ws.path)] = url
    return App(server, thread, app, url, height)
