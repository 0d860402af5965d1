"""How the CLI shows errors: known errors as one readable block, tracebacks only with LEAPSCOPE_DEBUG=1."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from leapscope.exceptions import LeapscopeError
from leapscope.sdk._runtime import redact

__all__ = ["err_console", "run_main"]

err_console = Console(stderr=True)


def _print_traceback(exc: BaseException) -> None:
    # what Python would print, with the run's secret redacted (exception chains included)
    sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    sys.stderr.flush()


def run_main(app: Callable[..., Any]) -> None:
    """Run the Typer app; a :class:`LeapscopeError` prints its message and exits 2.

    Every message and traceback is printed with the run's secret redacted; an
    unexpected exception prints its (redacted) traceback and exits 1.
    """
    try:
        app(standalone_mode=True)
    except LeapscopeError as exc:
        if os.environ.get("LEAPSCOPE_DEBUG") == "1":
            _print_traceback(exc)
            sys.exit(2)
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}", highlight=False)
        err_console.print(redact(str(exc)), markup=False, highlight=False)
        err_console.print("[dim](set LEAPSCOPE_DEBUG=1 for the traceback)[/]")
        sys.exit(2)
    except OSError as exc:
        from leapscope.store._atomic import disk_full_error, is_disk_full

        if not is_disk_full(exc) or os.environ.get("LEAPSCOPE_DEBUG") == "1":
            _print_traceback(exc)
            sys.exit(1)
        # a full disk outside the store's checked writes (a report, a PNG): still one readable message, exit 2
        where = Path(exc.filename).parent if isinstance(exc.filename, str) else Path.cwd()
        err_console.print("[bold red]error:[/] DiskFullError", highlight=False)
        err_console.print(redact(str(disk_full_error(where, None, exc))), markup=False, highlight=False)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - a bug: shown as Python would (exit 1), without the secret
        _print_traceback(exc)
        sys.exit(1)
