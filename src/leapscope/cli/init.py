"""`leapscope init`: write a working integration template."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from leapscope.cli._app import app

TEMPLATE_FILES = ("integration.py", "leapscope.yaml", "README.md")
TENSORLEAP_FILES = ("leap_integration.py", "leap.yaml", "requirements.txt", "README.md")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create (must not hold an integration yet).")],
    force: Annotated[bool, typer.Option(help="Overwrite existing template files.")] = False,
    tensorleap: Annotated[
        bool,
        typer.Option(
            "--tensorleap", help="Write a Tensorleap integration (code-loader decorators, leap.yaml) instead."
        ),
    ] = False,
) -> None:
    """Write a template integration that passes `leapscope check`: integration.py, leapscope.yaml, README.md,
    or with --tensorleap leap_integration.py, leap.yaml, requirements.txt, README.md (code-loader decorators)."""
    files = TENSORLEAP_FILES if tensorleap else TEMPLATE_FILES
    directory.mkdir(parents=True, exist_ok=True)
    existing = [name for name in files if (directory / name).exists()]
    if existing and not force:
        Console(stderr=True).print(
            f"[red]error:[/] {directory} already has {', '.join(existing)}; pass --force to overwrite"
        )
        raise typer.Exit(2)
    source = resources.files("leapscope.cli") / "templates"
    if tensorleap:
        source = source / "tensorleap"
    for name in files:
        (directory / name).write_text((source / name).read_text())
    Console().print(f"wrote {', '.join(files)} to {directory}\nnext: [bold]leapscope check {directory}[/]")
