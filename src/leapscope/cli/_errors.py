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

__all__ = ["err_console", "run_main", "unexpected_message"]

err_console = Console(stderr=True)


def _print_traceback(exc: BaseException) -> None:
    # what Python would print, with the run's secret redacted (exception chains included)
    sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    sys.stderr.flush()


def run_main(app: Callable[..., Any]) -> None:
    """Run the Typer app; a :class:`LeapscopeError` prints its message and exits 2.

    Every message and traceback is printed with the run's secret redacted; an
    unexpected exception prints one paragraph naming the command and exits 1 (its traceback
    only with ``LEAPSCOPE_DEBUG=1``).
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

        if os.environ.get("LEAPSCOPE_DEBUG") == "1":
            _print_traceback(exc)
            sys.exit(1)
        if not is_disk_full(exc):
            err_console.print(f"[bold red]error:[/] {type(exc).__name__} (unexpected)", highlight=False)
            err_console.print(unexpected_message(exc, _command()), markup=False, highlight=False)
            sys.exit(1)
        # a full disk outside the store's checked writes (a report, a PNG): still one readable message, exit 2
        where = Path(exc.filename).parent if isinstance(exc.filename, str) else Path.cwd()
        err_console.print("[bold red]error:[/] DiskFullError", highlight=False)
        err_console.print(redact(str(disk_full_error(where, None, exc))), markup=False, highlight=False)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - a bug: one paragraph (exit 1); the traceback with LEAPSCOPE_DEBUG=1
        if os.environ.get("LEAPSCOPE_DEBUG") == "1":
            _print_traceback(exc)
            sys.exit(1)
        err_console.print(f"[bold red]error:[/] {type(exc).__name__} (unexpected)", highlight=False)
        err_console.print(unexpected_message(exc, _command()), markup=False, highlight=False)
        sys.exit(1)


def _command() -> str:
    """``leapscope <command>`` of this process (the first argument that is not an option)."""
    name = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    return f"leapscope {name}".strip()


def unexpected_message(exc: BaseException, command: str) -> str:
    """One paragraph for an exception leapscope did not expect: the command, the error's class and first line,
    and how to get the traceback (the secret redacted)."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return redact(
        f"`{command}` stopped on an unexpected {type(exc).__name__}: {first or '(no message)'}. This is a bug in "
        "leapscope, or a workspace file it does not know how to read; the traceback was not printed. Fix: run the "
        "same command again with LEAPSCOPE_DEBUG=1 set (e.g. `LEAPSCOPE_DEBUG=1 leapscope ...`) to see the "
        "traceback, and report it."
    )
