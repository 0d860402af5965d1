"""`leapscope explain`: heatmap PNGs for one or several samples of a run (the model is loaded once)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from leapscope import runs
from leapscope.analysis.attribution import METHODS, LossGradientError
from leapscope.cli._app import app
from leapscope.cli._options import WorkspaceOpt
from leapscope.exceptions import LeapscopeError
from leapscope.runs.explain import check_request
from leapscope.store import Run, Workspace
from leapscope.store._schema import SAMPLE_ID, SUBSET

TARGET_HELP = (
    "What to explain. Class outputs: a class index or label (default: the predicted class); a binary "
    "sigmoid output with one label L has classes 'not L' (0, explained as 1 - p, or -z for a logit) and L (1). "
    "Dense outputs "
    "(segmentation maps): a channel index or label, summed over --region (default: the main class over its "
    "predicted-positive pixels). Any output: element:i,j,... (one output value, no batch axis). "
    "loss:NAME: what raised that loss against the ground truth ('loss' alone: the only loss)."
)
REGION_HELP = (
    "Dense outputs: the pixels the channel is summed over: positive (predicted-positive, default), all, gt "
    "(the ground-truth mask; gt:NAME for one of several), box:x0,y0,x1,y1 (output pixels, end exclusive), or "
    "a mask file (.npy, or an image: non-zero = inside)."
)


def _locate(opened: Run, sample_ids: list[str], subset: str | None) -> list[tuple[str, str]]:
    """(subset, sample id) of each requested id; an unknown or ambiguous id is an error naming it."""
    df = opened.samples.select([SUBSET, SAMPLE_ID]).to_pandas()
    found = []
    for sample_id in sample_ids:
        matches = df[(df.sample_id == sample_id) & ((df.subset == subset) if subset else True)]
        if matches.empty:
            raise LeapscopeError(
                f"explain: run {opened.id} has no sample {sample_id!r}"
                + (f" in subset '{subset}'" if subset else "")
                + f"; ids look like {', '.join(map(repr, df.sample_id.head(3)))}"
                + " (fix: pass an id of the run: the web app's sample pages or `ls.open_run(...).to_pandas()` list them)"
            )
        if len(matches) > 1:
            raise LeapscopeError(
                f"explain: sample id {sample_id!r} is in subsets {', '.join(matches.subset)}; pass --subset"
            )
        found.append((str(matches.subset.iloc[0]), sample_id))
    return found


def _output_path(output: Path, subset: str, sample_id: str, several: bool) -> Path:
    """``output`` for one sample; ``<stem>_<subset>_<id><suffix>`` next to it for several."""
    if not several:
        return output
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{subset}_{sample_id}")
    return output.with_name(f"{output.stem}_{safe}{output.suffix or '.png'}")


@app.command()
def explain(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    sample_ids: Annotated[
        list[str] | None, typer.Argument(help="One or more sample ids (explained in one batch).", show_default=False)
    ] = None,
    samples: Annotated[
        str | None, typer.Option(help="Comma-separated sample ids (in addition to the arguments).")
    ] = None,
    subset: Annotated[str | None, typer.Option(help="Subset of the samples (needed when an id is in several).")] = None,
    method: Annotated[str, typer.Option(help=f"One of: {', '.join(METHODS)}.")] = "integrated_gradients",
    target: Annotated[str | None, typer.Option(help=TARGET_HELP)] = None,
    region: Annotated[str | None, typer.Option(help=REGION_HELP)] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            help="Layer for gradcam/layercam (default: the deepest spatial feature layer; see `leapscope layers`)."
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="PNG file to write (several samples: <stem>_<subset>_<id>.png).")
    ] = Path("explanation.png"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per run instead of lines.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Explain samples: one PNG each with the input, the heatmap over it and the prediction.

    Several ids are explained in one batch with the model loaded once (the time it took is printed).
    Each line says what was explained, in words. Dense (segmentation) outputs, for example:

        leapscope explain RUN 3 7 12 --method saliency            # main class, predicted-positive pixels
        leapscope explain RUN 3 --region gt                       # the class summed inside the GT mask
        leapscope explain RUN 3 --region box:0,0,32,32 --target 1 # channel 1 inside a box
        leapscope explain RUN 3 --target loss:dice                # what raised the 'dice' loss
        leapscope explain RUN 3 --method gradcam --layer NAME     # names: `leapscope layers RUN`

    A method that cannot apply is an error saying why and which methods can (no silent fallback):
    gradient methods need a differentiable model and, for a custom loss, numpy code torch can run
    (np.sum/np.mean/np.log/np.clip, x.sum(axis=...), arithmetic); Grad-CAM / LayerCAM need a spatial layer (default: the deepest spatial feature layer)."""
    ids = list(sample_ids or []) + [s.strip() for s in (samples or "").split(",") if s.strip()]
    if not ids:
        raise LeapscopeError("explain: give at least one sample id (leapscope explain RUN ID [ID ...] or --samples)")
    opened = Workspace(workspace, create=False).open_run(run)
    located = _locate(opened, ids, subset)
    ctx = runs.RunContext(opened)
    check_request(ctx, method, target, region)  # a mistyped method / loss / box fails before the model loads
    console = Console(stderr=as_json)  # with --json, stdout holds the JSON alone
    with console.status("loading the integration and the model…"):
        _ = ctx.model
    if not as_json:
        console.print(f"loaded the model in {ctx.model_load_seconds:.2f} s ({ctx.model.framework})")
    with console.status(f"{method}: explaining {len(located)} sample(s)…"):
        try:
            explained = runs.explain_samples(ctx, located, method=method, target=target, region=region, layer=layer)
        except LossGradientError as exc:  # the library says method=occlusion; on the command line it is a flag
            raise LeapscopeError(exc.for_cli()) from exc
    records: list[dict[str, Any]] = []
    for item in explained:
        path = _output_path(output, item.subset, item.sample_id, len(explained) > 1)
        runs.render_explanation_png(ctx, item.subset, item.sample_id, item.attribution, item.x, path, item.output.index)
        record = item.to_dict() | {"png": str(path)}
        records.append(record)
        if not as_json:
            result = item.attribution
            extra = (
                f", completeness error {result.completeness_error[0]:.3%}"
                if result.completeness_error is not None
                else ""
            )
            layer_text = f" at layer {result.layer}" if result.layer else ""
            console.print(f"wrote {path} ({result.method}{layer_text} of {item.description}{extra})", highlight=False)
    if as_json:
        typer.echo(
            json.dumps({"run": opened.id, "model_load_seconds": ctx.model_load_seconds, "samples": records}, indent=2)
        )
