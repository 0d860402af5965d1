"""`leapscope explain`: a heatmap PNG for one sample of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from leapscope import runs
from leapscope.analysis.attribution import METHODS
from leapscope.cli._app import app
from leapscope.cli._options import WorkspaceOpt
from leapscope.exceptions import LeapscopeError
from leapscope.store import Workspace
from leapscope.store._schema import SAMPLE_ID, SUBSET


@app.command()
def explain(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    sample_id: Annotated[str, typer.Argument(help="Sample id.")],
    subset: Annotated[str | None, typer.Option(help="Subset of the sample (needed when the id is in several).")] = None,
    method: Annotated[str, typer.Option(help=f"One of: {', '.join(METHODS)}.")] = "integrated_gradients",
    target: Annotated[
        str | None,
        typer.Option(help="Class index, label, or 'loss' (what raised the loss; default: the predicted class)."),
    ] = None,
    layer: Annotated[
        str | None, typer.Option(help="Layer for gradcam/layercam (default: the last spatial layer).")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path("explanation.png"),
    workspace: WorkspaceOpt = None,
) -> None:
    """Explain one sample: writes a PNG with the input, the heatmap over it and the prediction."""
    opened = Workspace(workspace, create=False).open_run(run)
    df = opened.samples.select([SUBSET, SAMPLE_ID]).to_pandas()
    matches = df[(df.sample_id == sample_id) & ((df.subset == subset) if subset else True)]
    if matches.empty:
        raise LeapscopeError(
            f"explain: run {opened.id} has no sample {sample_id!r}" + (f" in subset '{subset}'" if subset else "")
        )
    if len(matches) > 1:
        raise LeapscopeError(
            f"explain: sample id {sample_id!r} is in subsets {', '.join(matches.subset)}; pass --subset"
        )
    chosen = str(matches.subset.iloc[0])
    ctx = runs.RunContext(opened)
    result, x = ctx.explain(chosen, sample_id, method=method, target=target, layer=layer)
    runs.render_explanation_png(ctx, chosen, sample_id, result, x, output)
    extra = f", completeness error {result.completeness_error[0]:.3%}" if result.completeness_error is not None else ""
    explained = "the loss" if result.target[0] < 0 else f"target {result.target[0]}"
    Console().print(f"wrote {output} ({result.method}, {explained}{extra})")
