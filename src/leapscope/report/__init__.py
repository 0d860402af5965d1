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

from leapscope.report._visuals import visual_to_payload
from leapscope.runs import (
    RunContext,
    aggregate,
    confusion_matrix,
    confusion_reason,
    load_insights,
    load_statuses,
    metadata_columns,
    projection,
)
from leapscope.store import Run, atomic_path
from leapscope.store._schema import (
    ERRORS_FILE,
    FUNCTION,
    LOSS_PREFIX,
    MESSAGE,
    METRIC_PREFIX,
    SAMPLE_ID,
    SUBSET,
    is_score_column,
)

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
    env.filters["plural"] = counted
    return env


def counted(n: Any, noun: str) -> str:
    """``1 sample``, ``2 samples``, ``? samples`` (unknown count): ``n`` and ``noun`` in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _natural(values: Any) -> list[str]:
    """Category labels in a sensible order: numerically when every one is a number ("2" before "10"), else as text."""
    labels = list(dict.fromkeys(values))
    try:
        return sorted(labels, key=float)
    except (TypeError, ValueError):
        return sorted(labels)


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
        except Exception:  # noqa: BLE001, S112 - a sample that cannot be drawn is left out of the report, not fatal
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
        message = str(e.get(MESSAGE) or "")
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        rows.append([_cell(e.get(SUBSET)), _cell(e.get(SAMPLE_ID)), _cell(e.get(FUNCTION)), message])
    return _Table(
        ["subset", "sample", "function", "error"],
        rows,
        more=errors.num_rows - len(head),
        path=str(run.dir / ERRORS_FILE),
    )


def _metadata_charts(run: Run, df: Any, metric_cols: list[str]) -> list[_Image]:
    """The first metric (or loss) per subset and value of up to 3 categorical metadata columns, as bar charts."""
    import matplotlib.pyplot as plt

    charts: list[_Image] = []
    meta = metadata_columns(run)
    categorical = [m for m in meta if df[m].nunique() <= 20 and df[m].dtype.kind not in "fc"]
    if not categorical or not metric_cols:
        return charts
    column = next((c for c in metric_cols if c.startswith(METRIC_PREFIX)), metric_cols[0])
    for m in categorical[:3]:
        frame = aggregate(run, column, by=[SUBSET, m])
        fig, ax = plt.subplots(figsize=(7, 2.8))
        order = list(dict.fromkeys(df[SUBSET]))  # subsets in run order (training, validation, test), not by name
        groups = sorted(frame.groupby(SUBSET), key=lambda g: order.index(g[0]) if g[0] in order else len(order))
        width = 0.8 / max(1, len(groups))
        values = _natural(_category(v) for v in frame[m])
        for k, (subset, group) in enumerate(groups):
            index = [values.index(_category(v)) + k * width for v in group[m]]
            ax.bar(index, group["value"], width=width, label=subset)
        ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(values))], values)
        ax.set_ylim(max(0.0, float(frame["value"].min()) - 0.05), None)
        ax.set_title(f"{column} by {m}")
        ax.legend(fontsize=8)
        charts.append(_Image(_png(fig), f"{column} by {m}"))
    return charts


def _confusion(run: Run, summary: dict[str, Any]) -> _Image | None:
    """The confusion matrix (of the validation subset when there is one); None for runs without class labels."""
    import matplotlib.pyplot as plt

    if confusion_reason(run) is not None:  # dense, regression, multi-label runs: no confusion matrix
        return None
    try:
        labels, matrix = confusion_matrix(run, subset="validation" if "validation" in summary else None)
        fig, ax = plt.subplots(figsize=(4.6, 4))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("ground truth")
        for (i, j), v in np.ndenumerate(matrix):
            if v:
                ax.text(
                    j,
                    i,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > matrix.max() / 2 else "black",
                )
        return _Image(_png(fig), "confusion matrix")
    except Exception:  # noqa: BLE001 - runs without class labels have no confusion matrix
        return None


def _population(run: Run, df: Any, metric_cols: list[str]) -> _Image | None:
    """The PCA map of the first latent space colored by the first loss (or metric); None without latent or scores."""
    import matplotlib.pyplot as plt

    if not run.latent_spaces or not metric_cols:
        return None
    xy = projection(run, method="pca")
    loss = df[next((c for c in metric_cols if c.startswith(LOSS_PREFIX)), metric_cols[0])].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(7, 5))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=np.log10(np.clip(loss, 1e-6, None)), s=6, cmap="viridis")
    fig.colorbar(sc, label="log10 loss")
    ax.set_title("population map (PCA of the latent space), colored by loss")
    return _Image(_png(fig), "population map")


def _insights(run: Run, df: Any, ctx: Any, visual: str | None, top_insights: int) -> list[dict[str, Any]]:
    """The ``top_insights`` stored insights, each with its suggested test and sample thumbnails."""
    insights = []
    for insight in load_insights(run)[:top_insights]:
        samples = [(str(df[SUBSET].iloc[r]), str(df[SAMPLE_ID].iloc[r])) for r in insight.rows]
        test = insight.suggested_test
        suggested = None
        if test:
            bound = "≥ " + str(test["min"]) if "min" in test else "≤ " + str(test.get("max"))
            suggested = {"metric": str(test["metric"]), "bound": bound, "filter": str(test["filter"])}
        insights.append(
            {
                "severity": f"{insight.severity:.2f}",
                "type": str(insight.type),
                "title": insight.title,
                "explanation": insight.explanation,
                "test": suggested,
                "thumbs": _thumbs(ctx, samples, visual),
            }
        )
    return insights


def _heatmaps(df: Any, ctx: Any, visual: str | None, metric_cols: list[str], method: str) -> list[dict[str, Any]]:
    """Heatmaps of the 4 held-out samples with the highest loss (none without an image visualizer or gradients)."""
    heatmaps: list[dict[str, Any]] = []
    if visual is None:
        return heatmaps
    loss_col = next((c for c in metric_cols if c.startswith(LOSS_PREFIX)), None)
    held_out = df[df[SUBSET].isin(["validation", "test"])]
    worst = (held_out.sort_values(loss_col, ascending=False) if loss_col else held_out).head(4)
    methods = list(dict.fromkeys([method, *_FALLBACK_METHODS]))
    for subset, sample_id in zip(worst[SUBSET], worst[SAMPLE_ID], strict=True):
        for used in methods:  # e.g. Grad-CAM needs a spatial layer: a dense/conv-only run falls back to gradients
            try:
                result, x = ctx.explain(subset, sample_id, method=used)
                kind, payload = visual_to_payload(ctx.heatmap_visual(subset, sample_id, result, x))
                break
            except Exception:  # noqa: BLE001, S112 - a model without gradients still gets a report, without heatmaps
                continue
        else:
            continue
        methods = [used]  # the method that worked, for the other samples too
        if kind == "image/png":
            label = _target_label(result, ctx.labels)
            heatmaps.append(
                {
                    "image": _Image(_data_uri(payload), width=160),
                    "subset": str(subset),
                    "sample_id": str(sample_id),
                    "method": used,
                    "label": str(label),
                }
            )
    return heatmaps


#: methods tried, in order, when the report's heatmap method does not apply to a run
_FALLBACK_METHODS = ("integrated_gradients", "saliency", "occlusion")


def _target_label(result: Any, labels: list[str] | None) -> str:
    """What a heatmap explains: the attribution's own description (dense targets, losses), else the class name."""
    descriptions = getattr(result, "descriptions", None) or []
    if descriptions:
        return str(descriptions[0])
    target = result.target[0]
    if labels and isinstance(target, int) and 0 <= target < len(labels):
        return labels[target]
    return str(target)


def _context(run: Run, *, top_insights: int, heatmap_method: str) -> dict[str, Any]:
    """The template's values: plain strings, numbers and inline PNGs (nothing is pre-escaped)."""
    df = run.to_pandas()
    summary = run.row.summary or {}
    metric_cols = [c for c in df.columns if is_score_column(c)]
    ctx = RunContext(run)
    visual = next(
        (n for n, v in ctx.loaded.integration.visualizers.items() if v.visualizer_type.value == "image"), None
    )

    rows = [
        [_cell(c) for c in [s, v.get("samples"), v.get("failed"), *[v.get(c) for c in metric_cols]]]
        for s, v in summary.items()
    ]
    r = run.row
    samples_count = r.counts.get("samples") if r.counts else None
    info = {
        "id": r.id,
        "project": r.project,
        "version": r.version,
        "samples": "?" if samples_count is None else samples_count,
        "framework": run.typed_manifest.model.framework,
        "generated": time.strftime("%Y-%m-%d %H:%M"),
    }
    data = _json_safe(
        {"run": r.id, "project": r.project, "version": r.version, "samples": samples_count, "summary": summary}
    )
    return {
        "run": info,
        "data": data,
        "subsets": _Table(["subset", "samples", "failed", *metric_cols], rows),
        "metadata_charts": _metadata_charts(run, df, metric_cols),
        "confusion": _confusion(run, summary),
        "population": _population(run, df, metric_cols),
        "insights": _insights(run, df, ctx, visual, top_insights),
        "statuses": [st.describe() for st in load_statuses(run) or []],
        "heatmaps": _heatmaps(df, ctx, visual, metric_cols, heatmap_method),
        "errors": _errors(run),
    }


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
