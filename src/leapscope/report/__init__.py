"""A self-contained static HTML report of a run (no CDN: every plot is an inline PNG).

The page is rendered from ``templates/report.html.j2`` by Jinja2 with autoescape on, so
every string that comes from the run (project and version names, subset names, sample
ids, labels, metadata keys and values, metric and loss names, insight texts, error
messages) is HTML-escaped, and the embedded JSON block is escaped for script context.
"""

from __future__ import annotations

import base64
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leapscope import analysis
from leapscope.report._visuals import visual_to_payload
from leapscope.store import ERRORS_FILE, Run, atomic_path

__all__ = ["render_report", "write_report"]

TEMPLATE = "report.html.j2"
MAX_ERRORS = 10  # failed samples listed in the report; the rest are counted
MAX_MESSAGE = 300  # characters of an error message shown in the report


@dataclass(frozen=True)
class _Image:
    """An ``<img>``: ``src`` is always a ``data:image/png;base64,`` URI made here."""

    src: str
    alt: str = ""
    width: int | None = None


@dataclass(frozen=True)
class _Table:
    header: list[str]
    rows: list[list[str]]
    more: int = 0
    path: str = ""


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("leapscope.report", "templates"),
        autoescape=True,  # every {{ value }} is HTML-escaped; nothing from the run is ever a template
        undefined=jinja2.StrictUndefined,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "allow_nan": False}
    return env


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return _data_uri(buf.getvalue())


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "—" if v is None else str(v)


def _category(value: Any) -> str:
    """A metadata value as a chart category; a missing value (None, NaN, pd.NA) reads "—"."""
    import pandas as pd

    return "—" if value is None or bool(pd.isna(value)) else str(value)


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None and numpy scalars as Python ones (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _thumbs(ctx: Any, sample_rows: list[tuple[str, str]], visual: str | None, limit: int = 16) -> list[_Image] | None:
    if visual is None:
        return None
    out = []
    for subset, sample_id in sample_rows[:limit]:
        try:
            kind, payload = visual_to_payload(ctx.visuals(subset, sample_id)[visual])
        except Exception:  # noqa: BLE001 - a sample that cannot be drawn is left out of the report, not fatal
            continue
        if kind == "image/png":
            out.append(_Image(_data_uri(payload), f"{subset}/{sample_id}", 56))
    return out


def _errors(run: Run) -> _Table | None:
    errors = run.errors
    if not errors.num_rows:
        return None
    head = errors.slice(0, MAX_ERRORS).to_pylist()
    rows = []
    for e in head:
        message = str(e.get("message") or "")
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        rows.append([_cell(e.get("subset")), _cell(e.get("sample_id")), _cell(e.get("function")), message])
    return _Table(["subset", "sample", "function", "error"], rows, more=errors.num_rows - len(head), path=str(run.dir / ERRORS_FILE))


def _context(run: Run, *, top_insights: int, heatmap_method: str) -> dict[str, Any]:
    """The template's values: plain strings, numbers and inline PNGs (nothing is pre-escaped)."""
    import matplotlib.pyplot as plt

    df = run.to_pandas()
    summary = run.row.summary or {}
    metric_cols = [c for c in df.columns if c.startswith(("metric_", "loss_"))]
    ctx = analysis.RunContext(run)
    visual = next((n for n, v in ctx.loaded.integration.visualizers.items() if v.visualizer_type.value == "image"), None)

    rows = [[_cell(c) for c in [s, v.get("samples"), v.get("failed"), *[v.get(c) for c in metric_cols]]] for s, v in summary.items()]
    subsets = _Table(["subset", "samples", "failed", *metric_cols], rows)

    metadata_charts: list[_Image] = []
    meta = analysis.metadata_columns(run)
    categorical = [m for m in meta if df[m].nunique() <= 20 and df[m].dtype.kind not in "fc"]
    if categorical and metric_cols:
        column = next((c for c in metric_cols if c.startswith("metric_")), metric_cols[0])
        for m in categorical[:3]:
            frame = analysis.aggregate(run, column, by=["subset", m])
            fig, ax = plt.subplots(figsize=(7, 2.8))
            groups = list(frame.groupby("subset"))
            width = 0.8 / max(1, len(groups))
            values = sorted({_category(v) for v in frame[m]})
            for k, (subset, group) in enumerate(groups):
                index = [values.index(_category(v)) + k * width for v in group[m]]
                ax.bar(index, group["value"], width=width, label=subset)
            ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(values))], values)
            ax.set_ylim(max(0.0, float(frame["value"].min()) - 0.05), None)
            ax.set_title(f"{column} by {m}")
            ax.legend(fontsize=8)
            metadata_charts.append(_Image(_png(fig), f"{column} by {m}"))

    confusion = None
    try:
        labels, matrix = analysis.confusion_matrix(run, subset="validation" if "validation" in summary else None)
        fig, ax = plt.subplots(figsize=(4.6, 4))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("ground truth")
        for (i, j), v in np.ndenumerate(matrix):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > matrix.max() / 2 else "black")
        confusion = _Image(_png(fig), "confusion matrix")
    except Exception:  # noqa: BLE001 - runs without class labels have no confusion matrix
        pass

    population = None
    if run.latent_spaces and metric_cols:
        xy = analysis.projection(run, method="pca")
        loss = df[next((c for c in metric_cols if c.startswith("loss_")), metric_cols[0])].to_numpy(dtype=float)
        fig, ax = plt.subplots(figsize=(7, 5))
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=np.log10(np.clip(loss, 1e-6, None)), s=6, cmap="viridis")
        fig.colorbar(sc, label="log10 loss")
        ax.set_title("population map (PCA of the latent space), colored by loss")
        population = _Image(_png(fig), "population map")

    insights = []
    for insight in analysis.load_insights(run)[:top_insights]:
        samples = [(str(df.subset.iloc[r]), str(df.sample_id.iloc[r])) for r in insight.rows]
        test = insight.suggested_test
        suggested = None
        if test:
            bound = "≥ " + str(test["min"]) if "min" in test else "≤ " + str(test.get("max"))
            suggested = {"metric": str(test["metric"]), "bound": bound, "filter": str(test["filter"])}
        insights.append({"severity": f"{insight.severity:.2f}", "type": str(insight.type), "title": insight.title,
                         "explanation": insight.explanation, "test": suggested, "thumbs": _thumbs(ctx, samples, visual)})

    heatmaps = []
    if visual is not None:
        loss_col = next((c for c in metric_cols if c.startswith("loss_")), None)
        held_out = df[df.subset.isin(["validation", "test"])]
        worst = (held_out.sort_values(loss_col, ascending=False) if loss_col else held_out).head(4)
        for subset, sample_id in zip(worst.subset, worst.sample_id, strict=True):
            try:
                result, x = ctx.explain(subset, sample_id, method=heatmap_method)
                kind, payload = visual_to_payload(ctx.heatmap_visual(subset, sample_id, result, x))
            except Exception:  # noqa: BLE001 - a model without gradients still gets a report, without heatmaps
                continue
            if kind == "image/png":
                label = ctx.labels[result.target[0]] if ctx.labels else result.target[0]
                heatmaps.append({"image": _Image(_data_uri(payload), width=160), "subset": str(subset), "sample_id": str(sample_id),
                                 "method": heatmap_method, "label": str(label)})

    r = run.row
    samples_count = r.counts.get("samples") if r.counts else None
    info = {"id": r.id, "project": r.project, "version": r.version, "samples": "?" if samples_count is None else samples_count,
            "framework": str(run.manifest["model"]["framework"]), "generated": time.strftime("%Y-%m-%d %H:%M")}
    data = _json_safe({"run": r.id, "project": r.project, "version": r.version, "samples": samples_count, "summary": summary})
    return {"run": info, "data": data, "subsets": subsets, "metadata_charts": metadata_charts, "confusion": confusion,
            "population": population, "insights": insights, "heatmaps": heatmaps, "errors": _errors(run)}


def render_report(run: Run, *, top_insights: int = 8, heatmap_method: str = "gradcam") -> str:
    """The report of a complete run as one self-contained HTML document (str).

    Contents: run summary, metrics per subset and per metadata value, confusion
    matrix, the population map (PCA) colored by loss, the top insights with sample
    thumbnails and explanations, example heatmaps and the first failed samples. Every
    string from the run is HTML-escaped (Jinja2 autoescape); user strings drawn into the
    plots are plain text (matplotlib math parsing is off). The summary is embedded as
    JSON in ``<script type="application/json" id="leapscope-run">``, escaped for script
    context.

    Raises
    ------
    StoreError
        When the run's files are missing (from :meth:`Run.to_pandas` and friends).
    """
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context({"text.parse_math": False}):
        values = _context(run, top_insights=top_insights, heatmap_method=heatmap_method)
    return str(_environment().get_template(TEMPLATE).render(**values))


def write_report(run: Run, path: str | Path, *, top_insights: int = 8, heatmap_method: str = "gradcam") -> Path:
    """Write :func:`render_report` of a complete run to ``path`` (atomically); returns ``path``."""
    path = Path(path)
    document = render_report(run, top_insights=top_insights, heatmap_method=heatmap_method)
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path
