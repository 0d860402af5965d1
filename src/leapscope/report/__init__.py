"""A self-contained static HTML report of a run (no CDN: every plot is an inline PNG)."""

from __future__ import annotations

import base64
import html
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from leapscope import analysis
from leapscope.report._visuals import visual_to_payload
from leapscope.store import Run, atomic_path

__all__ = ["write_report"]

STYLE = """
body{font:14px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1f2430}
header{background:#1f2430;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#b8c0cc}
main{padding:20px 32px;max-width:1200px}section{background:#fff;border-radius:10px;padding:16px 20px;margin-bottom:18px;box-shadow:0 1px 2px #0001}
h2{font-size:17px;margin:0 0 10px}table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #e3e6eb;text-align:left}
th{color:#5b6475;font-weight:500}.insight{border-left:4px solid #bf616a;padding:6px 12px;margin:12px 0}.insight h3{margin:0 0 4px;font-size:15px}
.sev{color:#bf616a;font-weight:600}.thumbs img{image-rendering:pixelated;margin:2px;border-radius:3px;background:#000}
.grid{display:flex;flex-wrap:wrap;gap:16px}.muted{color:#6b7385}code{background:#eef0f4;padding:1px 4px;border-radius:3px}
"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(src: str, width: int | None = None, alt: str = "") -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}"' + (f' width="{width}"' if width else "") + ">"


def _table(rows: list[list[Any]], header: list[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return html.escape("—" if v is None else str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _thumbs(ctx: Any, sample_rows: list[tuple[str, str]], visual: str | None, limit: int = 16) -> str:
    if visual is None:
        return ""
    out = []
    for subset, sample_id in sample_rows[:limit]:
        try:
            kind, payload = visual_to_payload(ctx.visuals(subset, sample_id)[visual])
        except Exception:  # noqa: BLE001 - a sample that cannot be drawn is left out of the report, not fatal
            continue
        if kind == "image/png":
            out.append(_img("data:image/png;base64," + base64.b64encode(payload).decode(), 56, f"{subset}/{sample_id}"))
    return f'<div class="thumbs">{"".join(out)}</div>'


def write_report(run: Run, path: str | Path, *, top_insights: int = 8, heatmap_method: str = "gradcam") -> Path:
    """Write one self-contained HTML file for a complete run.

    Contents: run summary, metrics per subset and per metadata value, confusion
    matrix, the population map (PCA) colored by loss, the top insights with sample
    thumbnails and explanations, and example heatmaps.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    df = run.to_pandas()
    summary = run.row.summary or {}
    metric_cols = [c for c in df.columns if c.startswith(("metric_", "loss_"))]
    ctx = analysis.RunContext(run)
    visual = next((n for n, v in ctx.loaded.integration.visualizers.items() if v.visualizer_type.value == "image"), None)
    parts: list[str] = []

    rows = [[s, v.get("samples"), v.get("failed"), *[v.get(c) for c in metric_cols]] for s, v in summary.items()]
    parts.append(f"<section><h2>Metrics per subset</h2>{_table(rows, ['subset', 'samples', 'failed', *metric_cols])}</section>")

    meta = analysis.metadata_columns(run)
    categorical = [m for m in meta if df[m].nunique() <= 20 and df[m].dtype.kind not in "fc"]
    if categorical and metric_cols:
        column = next((c for c in metric_cols if c.startswith("metric_")), metric_cols[0])
        blocks = []
        for m in categorical[:3]:
            frame = analysis.aggregate(run, column, by=["subset", m])
            fig, ax = plt.subplots(figsize=(7, 2.8))
            groups = list(frame.groupby("subset"))
            width = 0.8 / max(1, len(groups))
            values = sorted(frame[m].astype(str).unique())
            for k, (subset, group) in enumerate(groups):
                index = [values.index(v) + k * width for v in group[m].astype(str)]
                ax.bar(index, group["value"], width=width, label=subset)
            ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(values))], values)
            ax.set_ylim(max(0.0, float(frame["value"].min()) - 0.05), None)
            ax.set_title(f"{column} by {m}")
            ax.legend(fontsize=8)
            blocks.append(_img(_png(fig), alt=f"{column} by {m}"))
        parts.append(f"<section><h2>Metrics per metadata value</h2><div class='grid'>{''.join(blocks)}</div></section>")

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
        parts.append(f"<section><h2>Confusion matrix (validation)</h2>{_img(_png(fig), alt='confusion matrix')}</section>")
    except Exception:  # noqa: BLE001 - runs without class labels have no confusion matrix
        pass

    if run.latent_spaces and metric_cols:
        xy = analysis.projection(run, method="pca")
        loss = df[next((c for c in metric_cols if c.startswith("loss_")), metric_cols[0])].to_numpy(dtype=float)
        fig, ax = plt.subplots(figsize=(7, 5))
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=np.log10(np.clip(loss, 1e-6, None)), s=6, cmap="viridis")
        fig.colorbar(sc, label="log10 loss")
        ax.set_title("population map (PCA of the latent space), colored by loss")
        parts.append(f"<section><h2>Population map</h2>{_img(_png(fig), alt='population map')}</section>")

    found = analysis.load_insights(run)
    items = []
    for insight in found[:top_insights]:
        samples = [(str(df.subset.iloc[r]), str(df.sample_id.iloc[r])) for r in insight.rows]
        test = insight.suggested_test
        test_html = f"<p class='muted'>suggested test: mean <code>{html.escape(test['metric'])}</code> {'≥ ' + str(test['min']) if 'min' in test else '≤ ' + str(test.get('max'))} where <code>{html.escape(test['filter'])}</code></p>" if test else ""
        items.append(
            f"<div class='insight'><h3><span class='sev'>{insight.severity:.2f}</span> {html.escape(insight.type)} · {html.escape(insight.title)}</h3>"
            f"<p>{html.escape(insight.explanation)}</p>{test_html}{_thumbs(ctx, samples, visual)}</div>"
        )
    insights_html = "".join(items) if items else "<p class='muted'>No insight stored: run <code>leapscope analyze</code> first, or nothing significant was found.</p>"
    parts.append(f"<section><h2>Top insights</h2>{insights_html}</section>")

    if visual is not None:
        loss_col = next((c for c in metric_cols if c.startswith("loss_")), None)
        held_out = df[df.subset.isin(["validation", "test"])]
        worst = (held_out.sort_values(loss_col, ascending=False) if loss_col else held_out).head(4)
        blocks = []
        for subset, sample_id in zip(worst.subset, worst.sample_id, strict=True):
            try:
                result, x = ctx.explain(subset, sample_id, method=heatmap_method)
                kind, payload = visual_to_payload(ctx.heatmap_visual(subset, sample_id, result, x))
            except Exception:  # noqa: BLE001 - a model without gradients still gets a report, without heatmaps
                continue
            if kind == "image/png":
                label = ctx.labels[result.target[0]] if ctx.labels else result.target[0]
                blocks.append(f"<figure>{_img('data:image/png;base64,' + base64.b64encode(payload).decode(), 160)}<figcaption>{subset}/{sample_id}: {heatmap_method} for '{label}'</figcaption></figure>")
        if blocks:
            parts.append(f"<section><h2>Example heatmaps (highest-loss held-out samples)</h2><div class='grid'>{''.join(blocks)}</div></section>")

    r = run.row
    header = (f"<header><h1>leapscope report · {html.escape(r.project)} / {html.escape(r.version)}</h1>"
              f"<p>run {html.escape(r.id)} · {r.counts.get('samples') if r.counts else '?'} samples · {html.escape(run.manifest['model']['framework'])} model · "
              f"generated {time.strftime('%Y-%m-%d %H:%M')}</p></header>")
    document = f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>leapscope report {html.escape(r.id)}</title><style>{STYLE}</style></head><body>{header}<main>{''.join(parts)}</main></body></html>"
    with atomic_path(path) as tmp:
        tmp.write_text(document)
    return path
