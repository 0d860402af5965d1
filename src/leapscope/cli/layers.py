"""`leapscope layers`: list a model's layers with their type and output shape.

Hidden by default (``--all`` shows them): layers that carry no features, i.e. ONNX
``Constant`` / ``ConstantOfShape`` nodes, ``Shape`` / ``Size`` and every node computed
only from constants, initializers and shapes (the ``Gather``/``Unsqueeze``/``Concat``/
``Reshape``/``Cast``/``Identity`` chains that build reshape targets). See
:attr:`leapscope.models.LayerInfo.hidden`. Keras and torch models have no hidden layers (Keras ``InputLayer`` s are not listed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leapscope.cli._app import app
from leapscope.cli._options import WorkspaceOpt
from leapscope.models import ModelWrapper, open_model
from leapscope.models._base import _fmt_shape
from leapscope.runs.explain import layer_rows
from leapscope.store import Workspace


def _open(target: str, workspace: Path | None) -> tuple[ModelWrapper, str]:
    """The model of a model file, or of a run id (its recorded model source; a torch model runs one stored
    sample first, so that its layers' output shapes are known)."""
    path = Path(target).expanduser()
    if path.suffix and path.exists():
        return open_model(path), str(path)
    from leapscope import runs

    opened = Workspace(workspace, create=False).open_run(target)
    ctx = runs.RunContext(opened)
    if ctx.model.framework == "torch":
        runs.model_layers(ctx)  # the probe forward pass
    return ctx.model, f"run {opened.id}"


@app.command()
def layers(
    model: Annotated[str, typer.Argument(help="Model file (.onnx, .h5, .keras, .pt, ...) or a run id (its model).")],
    all_layers: Annotated[bool, typer.Option("--all", help="Also show constants and shape computations.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List a model's layers: name (accepted by --latent, --layer and activations()), type, output shape.

    ``latent`` marks the default latent layer, ``spatial`` the 4-D layers Grad-CAM/LayerCAM can use,
    ``gradcam default`` the one they use unless --layer says otherwise."""
    wrapper, where = _open(model, workspace)
    rows, latent = layer_rows(wrapper, include_hidden=all_layers)
    total = len(wrapper.layers())
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "model": where,
                    "framework": wrapper.framework,
                    "default_latent": latent,
                    "shown": len(rows),
                    "total": total,
                    "layers": rows,
                },
                indent=2,
            )
        )
        return
    console = Console()
    table = Table(title=f"{where} ({wrapper.framework})", title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("name", no_wrap=True)
    table.add_column("type")
    table.add_column("output shape", no_wrap=True)
    table.add_column("notes")
    for i, row in enumerate(rows):
        shape = row["output_shape"]
        notes = [
            n
            for n, on in (
                ("latent", row["default_latent"]),
                ("spatial", row["spatial"]),
                ("gradcam default", row["default_cam"]),
                ("hidden", row["hidden"]),
            )
            if on
        ]
        table.add_row(
            str(i),
            Text(row["name"]),
            Text(row["type"]),
            _fmt_shape(None if shape is None else tuple(shape)),
            ", ".join(notes),
        )
    console.print(table)
    hidden = total - len(rows)
    cam = next((row["name"] for row in rows if row["default_cam"]), None)
    console.print(
        f"default latent: {latent or 'none (name one with --latent LAYER)'}"
        + f"  ·  Grad-CAM/LayerCAM default: {cam or 'none (no spatial layer: they do not apply)'}"
        + (f"  ·  {hidden} constant/shape layers hidden (--all shows them)" if hidden else ""),
        highlight=False,
    )
