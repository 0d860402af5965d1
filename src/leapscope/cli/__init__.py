"""The ``leapscope`` command line: thin commands over the Python API."""

from __future__ import annotations

from leapscope.cli import analyze, check, evaluate, explain, init, layers, report, serve  # noqa: F401  - registers the commands
from leapscope.cli._app import app
from leapscope.cli._errors import run_main

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``leapscope`` console script."""
    run_main(app)
