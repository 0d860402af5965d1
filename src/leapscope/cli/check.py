"""`leapscope check`: run an integration's integration test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from leapscope import api
from leapscope.cli._app import app
from leapscope.integration import CheckReport

_SYMBOL = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "absent": "[dim]—[/]"}


def _first_error(part: dict[str, Any]) -> str:
    error = part.get("error")
    if not error:
        return ""
    return str(error.get("message", ""))


def render_report(report: CheckReport, console: Console) -> None:
    """Print the status table and the wiring graph."""
    table = Table(title="integration test", title_justify="left", show_lines=False, expand=False)
    table.add_column("", width=1)
    table.add_column("part", style="bold", no_wrap=True)
    table.add_column("functions", overflow="fold", min_width=10, max_width=22)
    table.add_column("n", justify="right", no_wrap=True)  # samples checked
    table.add_column("error (below)", overflow="ellipsis", no_wrap=True, max_width=22)
    data = report.to_dict()  # secrets redacted
    for part in data["parts"]:
        mandatory = "" if part["mandatory"] else " [dim](optional)[/]"
        # a part with functions that passed on 0 samples never ran (an earlier part failed): not a ✓
        never_ran = part["status"] == "pass" and part["functions"] and not part["checked"]
        table.add_row(
            _SYMBOL["absent" if never_ran else part["status"]],
            part["part"] + mandatory,
            ", ".join(part["functions"]) or "[dim]none[/]",
            "—" if never_ran else str(part["checked"]),
            Text(
                "not run (an earlier part failed)"
                if never_ran
                else _first_error(part).split("\n")[0].rsplit(": ", 1)[-1]
            ),  # never markup
        )
    console.print(table)
    for part in data["parts"]:
        if part["status"] == "fail" and _first_error(part):
            console.print(Text.assemble(("✗ ", "red"), (part["part"], "bold"), ": ", _first_error(part)))
    subsets = ", ".join(f"{k} {v}" for k, v in data["subsets"].items()) or "none"
    console.print(
        f"subsets: {subsets}  ·  {report.samples_per_subset} samples checked per subset  ·  {report.seconds:.2f}s"
    )
    if data["predictions"]:
        console.print(Text.assemble(("predictions: ", "bold"), _predictions_line(data["predictions"])))
    if data["wiring"]:
        tree = Tree("[bold]wiring[/]")
        by_target: dict[tuple[str, str], list[str]] = {}
        kinds = {p["name"]: p["kind"] for p in data["predictions"]}
        for edge in data["wiring"]:
            kind = kinds.get(edge["source"].split(":", 1)[-1]) if edge["source"].startswith("prediction:") else None
            shown = f"{edge['argument']} ← {edge['source']}" + (f" ({kind})" if kind else "")
            by_target.setdefault((edge["kind"], edge["target"]), []).append(shown)
        for (kind, target), args in by_target.items():
            branch = tree.add(f"[cyan]{kind}[/] {target}")
            for arg in args:
                branch.add(arg)
        console.print(tree)
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    if report.valid:
        console.print("[bold green]valid[/]: every mandatory part passes")
    else:
        console.print("[bold red]invalid[/]: fix the parts marked ✗ (each error names the function, sample and fix)")


def _predictions_line(predictions: list[dict[str, Any]]) -> str:
    """``classes: class (inferred), one sample (10,) · mask: dense (declared), one sample (1, 128, 128)``."""
    parts = []
    for p in predictions:
        shape = "(" + ", ".join(str(s) for s in p["shape"]) + ("," if len(p["shape"]) == 1 else "") + ")"
        how = "declared" if p["declared"] else "inferred; declare kind= to change it"
        if p.get("note") and not p["declared"]:
            how = f"inferred, {p['note']}" if p["note"].startswith("from ") else f"{how}; {p['note']}"
        axis = p.get("class_axis")
        labels = p.get("labels") or []
        where = f", {len(labels)} labels on axis {axis}" if axis is not None and len(p["shape"]) > 1 else ""
        parts.append(f"{p['name']}: {p['kind']} ({how}), one sample {shape}{where}")
    return " · ".join(parts)


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="Integration folder (with leapscope.yaml) or .py file.")],
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Samples per subset in the real pass.")] = 3,
    model: Annotated[Path | None, typer.Option(help="Model file replacing the one the integration names.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable report.")] = False,
) -> None:
    """Run the integration test: validate every part on a few samples and trace the wiring.

    Exits 0 only when every mandatory part passes.
    """
    report = api.check(path, samples=samples, model=model)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        render_report(report, Console())
    raise typer.Exit(0 if report.valid else 1)
