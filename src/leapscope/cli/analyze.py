"""`leapscope analyze`, `leapscope insights` and `leapscope test`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leapscope import api, runs
from leapscope.analysis.insights import INSIGHT_TYPES, Insight
from leapscope.cli._app import app
from leapscope.cli._options import WorkspaceOpt
from leapscope.store import Workspace
from leapscope.store._schema import is_score_column, metric_column

RunArg = Annotated[str, typer.Argument(help="Run id (or a unique prefix); see `leapscope runs`.")]


def insights_table(found: list[Insight], limit: int = 20) -> Table:
    """A rich table of the first ``limit`` insights, by severity (one row per insight)."""
    table = Table(title="insights (by severity)", title_justify="left", show_lines=True)
    table.add_column("sev", justify="right")
    table.add_column("type")
    table.add_column("subset")
    table.add_column("n", justify="right")
    table.add_column("explanation", overflow="fold", max_width=100)
    for insight in found[:limit]:
        table.add_row(f"{insight.severity:.2f}", insight.type, insight.subset, str(len(insight.rows)), insight.explanation)
    return table


@app.command()
def analyze(
    run: RunArg,
    workspace: WorkspaceOpt = None,
    types: Annotated[str | None, typer.Option(help=f"Comma-separated insight types (default all: {', '.join(INSIGHT_TYPES)}).")] = None,
    umap: Annotated[bool, typer.Option("--umap", help="Also compute the UMAP projection (about 30 s the first time).")] = False,
    seed: Annotated[int, typer.Option(help="Seed for clustering and projections.")] = 0,
) -> None:
    """Compute projections and every insight of a run; store them in the run and the catalog."""
    found = api.analyze(workspace, run, types=types.split(",") if types else None, umap=umap, seed=seed)
    console = Console()
    console.print(insights_table(found) if found else "no insight: nothing significant was found")
    console.print(f"{len(found)} insight(s) stored; list them with `leapscope insights {run}`")


@app.command()
def insights(
    run: RunArg,
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the insights as JSON.")] = False,
) -> None:
    """Show the stored insights of a run (run `leapscope analyze` first)."""
    found = runs.load_insights(Workspace(workspace).open_run(run))
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in found], indent=2, default=str))
        return
    Console().print(insights_table(found, limit=100) if found else f"no insights stored; run `leapscope analyze {run}`")


@app.command("test")
def threshold_test(
    run: RunArg,
    metric: Annotated[str, typer.Option(help="Column to average, e.g. metric_accuracy (a bare name gets metric_).")],
    filter: Annotated[str | None, typer.Option("--filter", help='Samples to average over: column op literal [and ...] with op == != < <= > >= in [..]; '
                                                            'strings in quotes, e.g. \'digit_label == "8" and loss_cross_entropy > 0.5\'. Parsed, never run as code.')] = None,
    min_value: Annotated[float | None, typer.Option("--min", help="Fail when the mean is below.")] = None,
    max_value: Annotated[float | None, typer.Option("--max", help="Fail when the mean is above.")] = None,
    save: Annotated[str | None, typer.Option(help="Save the test under this name; it then runs on every new run of the project.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Check a threshold on a run's samples; exit 1 when it fails."""
    ws = Workspace(workspace)
    opened = ws.open_run(run)
    column = metric if is_score_column(metric) or metric in opened.samples.column_names else metric_column(metric)
    test = runs.ThresholdTest(metric=column, filter=filter, min=min_value, max=max_value, name=save or "")
    result = runs.run_test(opened, test)
    if save:
        runs.save_test(ws, opened.row.project, test)
    Console().print(f"{'[green]PASS' if result.passed else '[red]FAIL'}[/] {result.detail}" + (f"  (saved as '{save}')" if save else ""))
    raise typer.Exit(0 if result.passed else 1)
