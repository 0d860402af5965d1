"""`leapscope report` and `leapscope demo`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from leapscope import api
from leapscope.cli._app import app
from leapscope.cli._options import WorkspaceOpt
from leapscope.cli.check import render_report
from leapscope.cli.evaluate import evaluate as evaluate_command
from leapscope.report import write_report
from leapscope.store import Workspace
from leapscope.store._schema import METRIC_PREFIX

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "digits"


@app.command()
def report(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("report.html"),
    workspace: WorkspaceOpt = None,
) -> None:
    """Write a self-contained HTML report of a run (no CDN; plots inline)."""
    console = Console()
    opened = Workspace(workspace, create=False).open_run(run)
    started = time.perf_counter()
    with console.status(f"writing the report of run {opened.id} (charts, insights, example heatmaps)…"):
        path = write_report(opened, output)
    console.print(f"wrote {path}  ({time.perf_counter() - started:.1f}s)")


@app.command()
def demo(
    path: Annotated[Path, typer.Argument(help="Integration to run the whole job on.")] = EXAMPLE,
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder.")] = Path(".leapscope"),
    umap: Annotated[bool, typer.Option(help="Also compute the UMAP map (about 30 s the first time).")] = True,
) -> None:
    """The main job on the bundled example: check, evaluate, analyze, explain, report, then where to look."""
    console = Console()
    started = time.perf_counter()
    console.rule("[bold]1/5 check[/]: the integration test")
    checked = api.check(path)
    render_report(checked, console)
    if not checked.valid:
        raise typer.Exit(1)
    console.rule("[bold]2/5 evaluate[/]: every sample of every subset, heatmaps for validation")
    evaluate_command(path, workspace=workspace, explain="integrated_gradients")
    ws = Workspace(workspace)
    run = ws.runs()[-1]
    console.rule("[bold]3/5 analyze[/]: projections and insights")
    with console.status(
        "PCA" + (" + UMAP (numba compiles once, ~30 s)" if umap else "") + " and seven insight detectors…"
    ):
        found = api.analyze(ws, run.id, umap=umap)
    console.rule("[bold]4/5 report[/]")
    with console.status("writing the HTML report…"):
        report_path = write_report(run, ws.path / f"report-{run.id}.html")
    console.rule("[bold]5/5 summary[/]")
    for subset, row in (run.row.summary or {}).items():
        metric = next(
            (
                f"{k.removeprefix(METRIC_PREFIX)} {v:.3f}"
                for k, v in row.items()
                if k.startswith(METRIC_PREFIX) and v is not None
            ),
            "",
        )
        console.print(f"  {subset:<11} {row['samples']:>5} samples  {metric}")
    # the saved tests ran in step 2 (their table is printed there); their stored results on this run
    stored = ws.catalog.test_results(run_id=run.id)
    if stored:
        failed = [r for r in stored if not r.passed]
        console.print(
            f"  saved tests: {len(stored) - len(failed)} passed, {len(failed)} failed"
            + (f"  (see `leapscope test {run.id} --workspace {ws.path}`)" if failed else "")
        )
    console.print(f"  {len(found)} insight(s):" if found else "  no insight: nothing significant was found")
    for insight in found[:5]:
        console.print(f"   · [{insight.severity:.2f}] {insight.type}: {insight.title}")
    console.print(f"\ndone in {time.perf_counter() - started:.0f}s. Where to look:")
    console.print(f"  report:   {report_path}")
    console.print(
        f"  web app:  [bold]leapscope serve --workspace {ws.path}[/]  then open http://127.0.0.1:8040/#/runs/{run.id}/insights"
    )
    console.print(f"  CLI:      leapscope insights {run.id} --workspace {ws.path}")
