"""`leapscope evaluate` and `leapscope runs`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from leapscope import api
from leapscope import runs as runs_service
from leapscope.cli._app import app
from leapscope.cli._options import WorkspaceOpt
from leapscope.store import Run, Workspace
from leapscope.store._schema import ERRORS_FILE, LOSS_PREFIX, METRIC_PREFIX, is_score_column


class _Rate(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[no-untyped-def]
        speed = task.finished_speed or task.speed
        return f"{speed:,.0f} samples/s" if speed else ""


def summary_table(run: Run) -> Table:
    """Per subset: samples, failed, mean loss and each metric."""
    summary = run.row.summary or {}
    columns = sorted({k for row in summary.values() for k in row if is_score_column(k)})
    table = Table(title=f"run {run.id}  ({run.row.project} / {run.row.version})", title_justify="left")
    table.add_column("subset", style="bold")
    table.add_column("samples", justify="right")
    table.add_column("failed", justify="right")
    for column in columns:
        table.add_column(column.replace(LOSS_PREFIX, "loss ").replace(METRIC_PREFIX, ""), justify="right")
    for subset, row in summary.items():
        values = [f"{row[c]:.4f}" if row.get(c) is not None else "—" for c in columns]
        failed = str(row.get("failed", 0))
        table.add_row(subset, str(row["samples"]), f"[red]{failed}[/]" if row.get("failed") else failed, *values)
    return table


def _progress_bars(console: Console) -> tuple[Progress, Callable[[str, int, int], None]]:
    """One progress bar per subset (hidden when the console is not a terminal) and the callback that moves them."""
    progress = Progress(
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def on_progress(subset: str, done: int, total: int) -> None:
        if subset not in tasks:
            tasks[subset] = progress.add_task(subset, total=total)
        progress.update(tasks[subset], completed=done)

    return progress, on_progress


@app.command()
def evaluate(
    path: Annotated[Path, typer.Argument(help="Integration folder or .py file.")],
    model: Annotated[Path | None, typer.Option(help="Model file replacing the one the integration names.")] = None,
    workspace: WorkspaceOpt = None,
    project: Annotated[str | None, typer.Option(help="Project name (default: the integration's name).")] = None,
    version: Annotated[str | None, typer.Option(help="Version name (default: one per model + code hash).")] = None,
    subsets: Annotated[str | None, typer.Option(help="Comma-separated subsets, e.g. training,validation.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Samples per model call.")] = 64,
    workers: Annotated[int | None, typer.Option(min=0, help="Encoding processes (0: encode in this process).")] = None,
    latent: Annotated[
        list[str] | None, typer.Option(help="Layer whose pooled activations to store (repeatable; 'none': store none).")
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Run id to continue.")] = None,
    max_samples: Annotated[int | None, typer.Option("--max-samples", min=1, help="First N samples per subset.")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failing sample.")] = False,
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="File whose content the integration reads with ls.secret().")
    ] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Samples per checkpoint.")] = 1024,
    explain: Annotated[
        str | None, typer.Option(help="Also store heatmaps with this method (explanations/<method>.npy).")
    ] = None,
    explain_subsets: Annotated[
        str, typer.Option("--explain-subsets", help="Comma-separated subsets to explain.")
    ] = "validation",
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Evaluate on Ray: 'local' (a cluster of --workers CPUs for this run), 'auto' ($RAY_ADDRESS) "
            "or a cluster address. Needs pip install 'leapscope[ray]'.",
        ),
    ] = None,
) -> None:
    """Evaluate every sample through the integration and the model; store a resumable run.

    Prints the run id and a summary per subset. A killed evaluation resumes where it
    stopped when run again (or with --resume RUN_ID).
    """
    import time

    console = Console()
    progress, on_progress = _progress_bars(console)
    started = time.monotonic()
    with progress:
        run = api.evaluate(
            path,
            model=model,
            workspace=workspace,
            project=project,
            version=version,
            subsets=[s.strip() for s in subsets.split(",")] if subsets else None,
            batch_size=batch_size,
            workers=workers,
            latent=latent,
            resume=resume,
            max_samples=max_samples,
            fail_fast=fail_fast,
            secret_file=secret_file,
            chunk_size=chunk_size,
            on_progress=on_progress,
            explain=explain,
            explain_subsets=explain_subsets.split(","),
            ray=ray,
        )
    console.print(summary_table(run))
    from leapscope.cli.analyze import print_saved_tests

    # api.evaluate ran and recorded them; the same tests on the same run give the same results
    print_saved_tests(console, runs_service.run_saved_tests(Workspace(workspace, create=False), run))
    counts = run.row.counts or {}
    if counts.get("failed"):
        console.print(f"[yellow]{counts['failed']} sample(s) failed[/]: see {run.dir / ERRORS_FILE}")
    # wall time of the whole command; the run's own time is the evaluation alone (heatmaps come after it)
    took = f"{time.monotonic() - started:.1f}s in all; the samples took {run.row.seconds or 0:.1f}s"
    if explain:
        took += f", the {explain} heatmaps most of the rest"
    spaces = run.typed_manifest.latent_spaces  # say which layer the map and insights use (issue 14)

    def describe(name: str, layer: str) -> str:
        if layer.startswith("custom:"):  # an @ls.latent_space function of the integration
            return f"{name} (@ls.latent_space)"
        return f"{name} (layer {layer}" + ("" if latent else ", the model's default") + ")"

    console.print(
        "latent space: "
        + (", ".join(describe(name, str(info.layer)) for name, info in spaces.items()) or "none stored")
        + ("" if latent else "  ·  --latent LAYER picks another (see `leapscope layers RUN`)"),
        highlight=False,
    )
    console.print(f"run id: [bold]{run.id}[/]  ({took})  artifacts: {run.dir}")


@app.command()
def runs(
    workspace: WorkspaceOpt = None, project: Annotated[str | None, typer.Option(help="Only this project.")] = None
) -> None:
    """List projects, versions and runs of a workspace."""
    ws = Workspace(workspace, create=False)
    from rich import box

    # no vertical rules: the 22-character run id and every header fit in 80 columns
    table = Table(
        title=f"runs in {ws.path}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    for column in ("project", "version", "run", "status", "samples", "created", "seconds"):
        # ids are copied into other commands: never truncate them; long names wrap, headers stay whole
        table.add_column(
            column,
            justify="right" if column in ("samples", "seconds") else "left",
            no_wrap=column in ("run", "status"),
            overflow="fold",
            min_width=22 if column == "run" else len(column),
        )
    import time

    today = time.strftime("%Y-%m-%d")
    for run in ws.runs(project):
        row = run.row
        counts = row.counts or {}
        style = {"complete": "green", "failed": "red"}.get(row.status, "yellow")
        failed = f" ({counts['failed']} failed)" if counts.get("failed") else ""
        day, clock = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at)).split()
        table.add_row(
            row.project,
            row.version,
            row.id,
            f"[{style}]{row.status}[/]",
            f"{counts.get('samples', '')}{failed}",
            clock if day == today else f"{day} {clock}",
            f"{row.seconds:.1f}" if row.seconds else "",
        )
    Console().print(table)
