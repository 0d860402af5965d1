"""HTML for the Python API's objects in a notebook: runs, check reports and insights.

Each function returns a self-contained HTML fragment (``_repr_html_`` style); text from runs
and integrations is escaped (see :mod:`._html`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leapscope.analysis import Insight
from leapscope.integration import CheckReport
from leapscope.notebook._html import card, esc, table
from leapscope.store import Run

__all__ = ["check_report_html", "insight_html", "insights_html", "run_html"]

_SYMBOL = {"pass": '<span class="pass">✓</span>', "fail": '<span class="fail">✗</span>', "absent": "—"}


def run_html(run: Run, *, app_url: str | None = None) -> str:
    """A run: status, size, timing, the per-subset summary (samples, failed, mean losses and metrics), links."""
    row = run.row
    summary = row.summary or {}
    columns = sorted({c for values in summary.values() for c in values if c not in ("samples", "failed")})
    rows = [[subset, s.get("samples"), s.get("failed"), *(s.get(c) for c in columns)] for subset, s in summary.items()]
    status = f'<span class="{"pass" if row.status == "complete" else "fail"}">{esc(row.status)}</span>'
    facts = [
        f"status {status}",
        f"project <b>{esc(row.project)}</b> / version <b>{esc(row.version)}</b>",
        f"{row.seconds:.1f} s" if row.seconds else "",
        f"latent spaces: {esc(', '.join(run.latent_spaces) or 'none')}",
    ]
    body = "<div>" + " · ".join(f for f in facts if f) + "</div>"
    if row.error:
        body += f'<div class="fail">{esc(row.error)}</div>'
    if rows:
        body += table(["subset", "samples", "failed", *columns], rows)
    links = [f"<code>{esc(run.dir)}</code>"]
    if app_url:
        base = app_url.rstrip("/")
        for page in ("map", "insights", "dashboards", "wiring"):
            links.append(f'<a href="{esc(base)}/#/runs/{esc(run.id)}/{page}" target="_blank">{page}</a>')
    body += '<div class="muted">' + " · ".join(links) + "</div>"
    return card(f"Run {run.id}", body)


def check_report_html(report: CheckReport) -> str:
    """The integration test: the status table (✓/✗/—, samples checked, first error) and the wiring."""
    data = report.to_dict()  # secrets redacted
    rows = []
    for part in data["parts"]:
        never_ran = part["status"] == "pass" and part["functions"] and not part["checked"]
        error = (part.get("error") or {}).get("message", "")
        rows.append(
            [
                _SYMBOL["absent" if never_ran else part["status"]],
                part["part"] + ("" if part["mandatory"] else " (optional)"),
                ", ".join(part["functions"]) or "none",
                "—" if never_ran else part["checked"],
                "not run (an earlier part failed)" if never_ran else error,
            ]
        )
    verdict = (
        '<div class="pass"><b>valid</b>: every mandatory part passes</div>'
        if data["valid"]
        else '<div class="fail"><b>invalid</b>: fix the parts marked ✗</div>'
    )
    subsets = ", ".join(f"{k} {v}" for k, v in data["subsets"].items()) or "none"
    body = verdict + table(["", "part", "functions", "n", "error"], rows, raw=[True])
    body += f'<div class="muted">subsets: {esc(subsets)} · {data["samples_per_subset"]} samples per subset</div>'
    if data["wiring"]:
        wiring = [[e["kind"], e["target"], e["argument"], e["source"]] for e in data["wiring"]]
        body += "<details><summary>wiring</summary>" + table(["kind", "target", "argument", "source"], wiring)
        body += "</details>"
    for warning in data["warnings"]:
        body += f'<div class="fail">warning: {esc(warning)}</div>'
    return card("Integration test", body)


def _statistics(stats: dict[str, Any]) -> str:
    scalars = [[k, v] for k, v in stats.items() if isinstance(v, int | float | str | bool) or v is None]
    return table(["statistic", "value"], scalars) if scalars else ""


def insight_html(insight: Insight, *, thumbnails: Sequence[str] = ()) -> str:
    """One insight: type, severity, subset, explanation, statistics, its samples (ids, and thumbnails when given),
    and the suggested regression test."""
    confidence = insight.statistics.get("confidence")
    head = (
        f"<div><code>{esc(insight.type)}</code> · severity <b>{insight.severity:.2f}</b>"
        + (f" · confidence {float(confidence):.2f}" if isinstance(confidence, int | float) else "")
        + f" · {esc(insight.subset)} · {len(insight.rows)} samples</div>"
    )
    body = head + f"<p>{esc(insight.explanation)}</p>"
    if thumbnails:
        body += "<div>" + "".join(thumbnails) + "</div>"
    ids = ", ".join(str(s) for s in insight.sample_ids[:12]) + (" …" if len(insight.sample_ids) > 12 else "")
    body += f'<div class="muted">samples: {esc(ids)}</div>'
    body += f"<details><summary>statistics</summary>{_statistics(insight.statistics)}</details>"
    test = insight.suggested_test
    if test and test.get("metric"):
        bound = f" ≥ {test['min']:.3g}" if test.get("min") is not None else ""
        bound += f" ≤ {test['max']:.3g}" if test.get("max") is not None else ""
        where = f" where <code>{esc(test['filter'])}</code>" if test.get("filter") else ""
        body += f'<div class="muted">suggested test: <code>{esc(test["metric"])}{esc(bound)}</code>{where}</div>'
    return card(insight.title, body)


def insights_html(insights: Sequence[Insight]) -> str:
    """A ranked table of insights (type, severity, subset, samples, title)."""
    if not insights:
        return card("Insights", '<div class="muted">no insight: nothing significant was found</div>')
    rows = [[i + 1, x.type, round(x.severity, 3), x.subset, len(x.rows), x.title] for i, x in enumerate(insights)]
    return card(f"{len(insights)} insights", table(["#", "type", "severity", "subset", "samples", "title"], rows))
