"""`leapscope analyze`, `leapscope insights` and `leapscope test`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leapscope import api, runs
from leapscope.analysis.insights import INSIGHT_TYPES, Insight
from leapscope.cli._app import app
from leapscope.cli._options import WorkspaceOpt
from leapscope.store import Workspace

RunArg = Annotated[str, typer.Argument(help="Run id (or a unique prefix); see `leapscope runs`.")]


def _shell_quote(text: str) -> str:
    """``text`` as one shell word: in single quotes unless it holds one, then double quotes when safe."""
    if "'" not in text:
        return f"'{text}'"
    if not any(c in text for c in '"$`\\!'):
        return f'"{text}"'
    return shlex.quote(text)


def suggested_command(insight: Insight, run_id: str, workspace: Path | None = None) -> str | None:
    """The ``leapscope test`` command line of an insight's suggested test (None without one)."""
    test = insight.suggested_test
    if not test or not test.get("metric") or (test.get("min") is None and test.get("max") is None):
        return None
    parts = ["leapscope", "test", run_id, "--metric", str(test["metric"])]
    if test.get("filter"):
        parts += ["--filter", _shell_quote(str(test["filter"]))]
    for bound in ("min", "max"):
        if test.get(bound) is not None:
            parts += [f"--{bound}", str(test[bound])]
    if workspace is not None:
        parts += ["--workspace", shlex.quote(str(workspace))]
    return " ".join(parts)


def insights_table(
    found: list[Insight], limit: int = 20, run_id: str | None = None, workspace: Path | None = None
) -> Table:
    """A rich table of the first ``limit`` insights, by severity (one row per insight); with ``run_id``,
    an insight with a suggested test says so (``[N] below``; see :func:`print_insights`)."""
    table = Table(title="insights (by severity)", title_justify="left", show_lines=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("sev", justify="right")
    table.add_column("conf", justify="right")  # confidence (1 - p, or calibrated probability): docs/insights.md
    table.add_column("type")
    table.add_column("subset")
    table.add_column("n", justify="right")
    table.add_column("explanation", overflow="fold", max_width=100)
    for index, insight in enumerate(found[:limit], start=1):
        explanation = Text(insight.explanation)  # user text: never read as rich markup
        if run_id and suggested_command(insight, run_id, workspace):
            explanation.append(f"  (suggested test: [{index}] below)", style="dim")
        table.add_row(
            str(index),
            f"{insight.severity:.2f}",
            "-" if insight.confidence is None else f"{insight.confidence:.2f}",
            insight.type,
            Text(insight.subset),
            str(len(insight.rows)),
            explanation,
        )
    return table


def print_insights(
    console: Console, found: list[Insight], limit: int, run_id: str, workspace: Path | None = None
) -> None:
    """The insights table, then each suggested test as a whole ``leapscope test`` command line
    (printed with soft wraps only, so that it copies as one line)."""
    console.print(insights_table(found, limit=limit, run_id=run_id, workspace=workspace))
    commands = [
        (index, suggested_command(insight, run_id, workspace)) for index, insight in enumerate(found[:limit], start=1)
    ]
    if any(command for _, command in commands):
        console.print("suggested regression tests (add --save NAME to run one on every new run of the project):")
    for index, command in commands:
        if command:
            console.print(Text.assemble((f"[{index}] ", "bold"), command), soft_wrap=True)


def saved_tests_table(results: list[runs.TestResult], title: str = "saved tests") -> Table:
    """One row per saved-test result: name, filter, metric, bound, value, n, PASS/FAIL."""
    table = Table(title=title, title_justify="left")
    for column in ("name", "filter", "metric", "bound", "value", "n", "result"):
        table.add_column(
            column,
            justify="right" if column in ("value", "n") else "left",
            overflow="fold",
            no_wrap=column in ("result", "value", "n"),
        )
    for result in results:
        test = result.test
        bound = " and ".join(
            b
            for b in (
                f">= {test.min:g}" if test.min is not None else "",
                f"<= {test.max:g}" if test.max is not None else "",
            )
            if b
        )
        table.add_row(
            Text(test.name),
            Text(test.filter or "—"),
            Text(test.metric),
            bound,
            f"{result.value:.4f}" if result.value is not None else "—",
            str(result.n),
            Text("PASS", style="green") if result.passed else Text("FAIL", style="red"),
        )
    return table


def print_saved_tests(console: Console, results: list[runs.TestResult]) -> None:
    """The saved-test table, then the reason of each failure in full (nothing when there is no result)."""
    if not results:
        return
    console.print(saved_tests_table(results))
    for result in results:
        if not result.passed:
            console.print(Text.assemble(("FAIL ", "red"), (result.test.name, "bold"), ": ", result.detail))
    failed = sum(not r.passed for r in results)
    console.print(f"saved tests: {len(results) - failed} passed, {failed} failed")


@app.command()
def analyze(
    run: RunArg,
    workspace: WorkspaceOpt = None,
    types: Annotated[
        str | None, typer.Option(help=f"Comma-separated insight types (default all: {', '.join(INSIGHT_TYPES)}).")
    ] = None,
    umap: Annotated[
        bool, typer.Option("--umap", help="Also compute the UMAP projection (about 30 s the first time).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for clustering and projections.")] = 0,
    min_group_size: Annotated[
        int,
        typer.Option(
            "--min-group-size",
            min=2,
            help="Smallest group an insight reports (a failing slice, a cluster); low_performance needs twice "
            "this many held-out samples with a loss, domain_gap groups of twice this.",
        ),
    ] = 10,
    latent: Annotated[
        str | None,
        typer.Option(
            "--latent",
            help="Latent space for the map and every insight (a stored layer space or an @ls.latent_space name; "
            "default: the run's first).",
        ),
    ] = None,
) -> None:
    """Compute projections and every insight of a run; store them in the run and the catalog.

    Prints which insight types ran and which were skipped, and why (no class labels, no latent
    space, too few samples).
    """
    console = Console()
    steps = "PCA" + (" + UMAP" if umap else "") + " projections and the insight detectors"
    with console.status(f"analyzing run {run}: {steps}…"):
        found = api.analyze(
            workspace,
            run,
            types=types.split(",") if types else None,
            umap=umap,
            seed=seed,
            min_group_size=min_group_size,
            space=latent,
        )
    opened = Workspace(workspace, create=False).open_run(run)
    if found:
        print_insights(console, found, 20, opened.id, workspace)
    else:
        console.print("no insight: nothing significant was found by the detectors that ran")
    print_statuses(console, runs.load_statuses(opened) or [])
    where = f" --workspace {workspace}" if workspace else ""
    console.print(f"{len(found)} insight(s) stored; list them with `leapscope insights {run}{where}`")


def print_statuses(console: Console, statuses: list[runs.DetectorStatus]) -> None:
    """``ran: low_performance (0 found), ...`` then one ``skipped`` line per skipped detector with its reason."""
    ran = [f"{st.type} ({st.found} found)" for st in statuses if st.status == "ran"]
    if ran:
        console.print(Text.assemble(("ran: ", "bold"), ", ".join(ran)))
    for st in statuses:
        if st.status == "skipped":
            console.print(Text.assemble(("skipped: ", "yellow"), st.type, f" ({st.reason})"))


@app.command()
def insights(
    run: RunArg,
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the insights as JSON.")] = False,
) -> None:
    """Show the stored insights of a run (run `leapscope analyze` first)."""
    opened = Workspace(workspace, create=False).open_run(run)
    found = runs.load_insights(opened)
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in found], indent=2, default=str))
        return
    statuses = runs.load_statuses(opened)
    if found:
        print_insights(Console(), found, 100, opened.id, workspace)
        print_statuses(Console(), statuses or [])
    elif statuses is not None:
        Console().print("analyzed: no insight was found")
        print_statuses(Console(), statuses)
    else:
        Console().print(f"no insights stored; run `leapscope analyze {run}`")


@app.command("test")
def threshold_test(
    run: RunArg,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Column to average, e.g. metric_accuracy; a short name (accuracy, bce) stands for the one "
            "metric_<name> or loss_<name> column of the run (both: an error naming them). "
            "Without it, run the project's saved tests on the run."
        ),
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="Samples to average over: column op literal [and ...] with op == != < <= > >= in [..]; "
            "strings in quotes, e.g. 'digit_label == \"8\" and loss_cross_entropy > 0.5'. Parsed, never run as code.",
        ),
    ] = None,
    min_value: Annotated[float | None, typer.Option("--min", help="Fail when the mean is below.")] = None,
    max_value: Annotated[float | None, typer.Option("--max", help="Fail when the mean is above.")] = None,
    save: Annotated[
        str | None,
        typer.Option(
            help="Save the test under this name; it then runs on every new run of the project "
            "(its result on this run is recorded now)."
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Check a threshold on a run's samples, or (without --metric) every saved test of its project; exit 1 when one fails."""
    ws = Workspace(workspace, create=False)
    opened = ws.open_run(run)
    console = Console()
    if metric is None:
        given = [
            name
            for name, value in (("--filter", filter), ("--min", min_value), ("--max", max_value), ("--save", save))
            if value is not None
        ]
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)} need --metric (without --metric, `leapscope test RUN` runs the saved tests)",
                param_hint="--metric",
            )
        from leapscope.runs.tests import require_scores

        require_scores(opened)  # a failed run: its status and errors once, not one failure per saved test
        results = runs.run_saved_tests(ws, opened)
        if not results:
            console.print(
                f"project '{opened.row.project}' has no saved test; save one with "
                f"`leapscope test {opened.id} --metric METRIC --min VALUE --save NAME`"
            )
            raise typer.Exit(0)
        print_saved_tests(console, results)
        raise typer.Exit(0 if all(r.passed for r in results) else 1)
    # a short name (bce) is resolved against the run's columns by the API (runs.ThresholdTest.resolved)
    test = runs.ThresholdTest(metric=metric, filter=filter, min=min_value, max=max_value, name=save or "")
    # saving runs the test on this run and records its result there
    result = (runs.save_test(ws, opened.row.project, test, run=opened) if save else None) or runs.run_test(opened, test)
    console.print(
        Text.assemble(
            ("PASS" if result.passed else "FAIL", "green" if result.passed else "red"),
            " ",
            result.detail,
            f"  (saved as '{save}'; recorded on run {opened.id})" if save else "",
        )
    )
    raise typer.Exit(0 if result.passed else 1)
