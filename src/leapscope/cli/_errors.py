"""How the CLI shows errors: known errors as one readable block, tracebacks only with LEAPSCOPE_DEBUG=1."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from leapscope.exceptions import LeapscopeError

__all__ = ["err_console", "run_main"]

err_console = Console(stderr=True)


def run_main(app: Callable[..., Any]) -> None:
    """Run the Typer app; a :class:`LeapscopeError` prints its message and exits 2."""
    try:
        app(standalone_mode=True)
    except LeapscopeError as exc:
        if os.environ.get("LEAPSCOPE_DEBUG") == "1":
            raise
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}", highlight=False)
        err_console.print(str(exc), markup=False, highlight=False)
        err_console.print("[dim](set LEAPSCOPE_DEBUG=1 for the traceback)[/]")
        sys.exit(2)
