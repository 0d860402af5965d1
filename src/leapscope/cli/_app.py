"""The root Typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="leapscope",
    help="Debug, validate and explain trained deep-learning models, locally.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
