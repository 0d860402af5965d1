"""`leapscope init`: write a working integration template."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from leapscope.cli._app import app

TEMPLATE_FILES = ("integration.py", "leapscope.yaml", "README.md")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create (must not hold an integration yet).")],
    force: Annotated[bool, typer.Option(help="Overwrite existing template files.")] = False,
) -> None:
    """Write a template integration (integration.py, leapscope.yaml, README.md) that passes `leapscope check`."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = [name for name in TEMPLATE_FILES if (directory / name).exists()]
    if existing and not force:
        Console(stderr=True).print(f"[red]error:[/] {directory} already has {', '.join(existing)}; pass --force to overwrite")
        raise typer.Exit(2)
    source = resources.files("leapscope.cli") / "templates"
    for name in TEMPLATE_FILES:
        (directory / name).write_text((source / name).read_text())
    Console().print(f"wrote {', '.join(TEMPLATE_FILES)} to {directory}\nnext: [bold]leapscope check {directory}[/]")
