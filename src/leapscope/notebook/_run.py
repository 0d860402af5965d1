"""A run in a notebook: the stored :class:`~leapscope.store.Run` plus ``sample()``, ``map()`` and ``insights()``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

import numpy as np

from leapscope.analysis import Insight
from leapscope.exceptions import LeapscopeError
from leapscope.notebook._display import insight_html, insights_html, run_html
from leapscope.notebook._html import card, esc, image_tag, table
from leapscope.report._visuals import visual_to_payload
from leapscope.store import Run

__all__ = ["InsightList", "NotebookRun", "SampleView", "as_notebook_run"]

#: which app a run's links point to (set by :func:`leapscope.notebook.launch`)
APP_URLS: dict[str, str] = {}


def _app_url(run: Run) -> str | None:
    return APP_URLS.get(str(run.dir.parent.parent)) or next(iter(APP_URLS.values()), None)


class NotebookRun(Run):
    """A stored run that displays itself in a notebook (what :func:`leapscope.open_run` and
    :func:`leapscope.evaluate` return). Everything of :class:`~leapscope.store.Run` is here too
    (``samples``, ``to_pandas()``, ``latent()``, ``sql()``, ``manifest``)."""

    def _repr_html_(self) -> str:
        return run_html(self, app_url=_app_url(self))

    @cached_property
    def context(self) -> Any:
        """The run's integration and model, loaded on first use (``leapscope.runs.RunContext``)."""
        from leapscope.runs import RunContext

        return RunContext(self)

    def sample(self, sample_id: str | int, subset: str | None = None) -> SampleView:
        """One sample: its stored record, its visuals (``.show()``) and heatmaps (``.explain()``).

        Raises
        ------
        StoreError
            No such sample, or the id is in several subsets and ``subset`` is not given.
        """
        from leapscope.runs.similar import row_of

        row = row_of(self, str(sample_id), subset)
        record = self.samples.slice(row, 1).to_pylist()[0]
        return SampleView(self, record)

    def insights(self) -> InsightList:
        """The insights stored by the last ``analyze`` of this run, ranked (empty when none are stored)."""
        from leapscope.runs import load_insights

        return InsightList(load_insights(self), run=self)

    def map(
        self,
        color: str | None = None,
        *,
        method: str = "pca",
        space: str | None = None,
        size: str | None = None,
        seed: int = 0,
    ) -> Any:
        """An interactive Plotly scatter of a latent-space projection, one point per sample.

        Parameters
        ----------
        color : column of samples.parquet, optional
            E.g. ``"loss_ce"``, ``"subset"``, a metadata column; default the subset. Samples whose value is
            missing (None / NaN) are shown too: as their own ``"missing"`` group for a categorical column
            (text, bool), in grey with a ``"missing"`` legend entry for a numeric one.
        method : ``"pca"``, ``"umap"`` or ``"tsne"``
            Projection (cached in the run folder; see :func:`leapscope.runs.projection`).
        space : latent space, default the first stored one.
        size : numeric column, optional
            Marker size by this column (scaled to 4-14 px).

        Returns
        -------
        plotly.graph_objects.Figure

        Raises
        ------
        LeapscopeError
            Plotly is missing (``pip install 'leapscope[notebook]'``), the run has no latent space,
            or ``color``/``size`` is not a column.
        """
        try:
            import plotly.express as px
        except ImportError as exc:
            raise LeapscopeError("run.map needs plotly: pip install 'leapscope[notebook]'") from exc
        from leapscope.runs import projection

        if not self.latent_spaces:
            raise LeapscopeError(f"run.map: run {self.id} has no latent space stored; evaluate with --latent LAYER")
        xy = projection(self, space=space, method=method, seed=seed)  # type: ignore[arg-type]
        df = self.to_pandas()
        color = color or "subset"
        for name in (color, size):
            if name is not None and name not in df.columns:
                raise LeapscopeError(f"run.map: no column {name!r}; columns: {', '.join(map(str, df.columns))}")
        df = df.assign(x=xy[:, 0], y=xy[:, 1])
        sizes = None
        if size is not None:
            values = df[size].astype(float)
            span = float(values.max() - values.min()) or 1.0
            sizes = 4 + 10 * (values - values.min()) / span
        missing = df[color].isna().to_numpy()
        numeric = _is_numeric(df[color])
        groups: dict[str, Any] = {}
        if missing.any() and not numeric:
            # a categorical colour: the missing values are one more group (grey, listed last), never dropped
            label = _missing_label(df[color])
            present = list(dict.fromkeys(df[color][~missing]))
            df[color] = df[color].astype(object).where(~missing, label)
            groups = {"category_orders": {color: [*present, label]}, "color_discrete_map": {label: _MISSING_GREY}}
        shown = df[~missing] if numeric and missing.any() else df
        fig = px.scatter(
            shown,
            x="x",
            y="y",
            color=color,
            size=None if sizes is None else sizes[shown.index],
            **groups,
            hover_data=["subset", "sample_id"],
            title=f"{method.upper()} of {space or self.latent_spaces[0]} · run {self.id}",
            labels={"x": f"{method} 1", "y": f"{method} 2"},
        )
        fig.update_traces(marker={"size": 6} if sizes is None else {})
        if numeric and missing.any():
            # a numeric colour has no value for these samples: a neutral grey trace with a legend entry
            rows = df[missing]
            fig.add_scatter(
                x=rows["x"],
                y=rows["y"],
                mode="markers",
                name=f"{color} missing",
                showlegend=True,
                marker={"color": _MISSING_GREY, "size": 6 if sizes is None else sizes[rows.index].fillna(4)},
                customdata=np.stack([rows["subset"].astype(str), rows["sample_id"].astype(str)], axis=1),
                hovertemplate="subset=%{customdata[0]}<br>sample_id=%{customdata[1]}<br>" + color + "=missing"
                "<extra></extra>",
            )
            fig.update_layout(legend={"orientation": "h", "y": -0.15})
        return fig


#: the colour of samples whose numeric colour value is missing
_MISSING_GREY = "rgba(150,150,150,0.7)"


def _is_numeric(values: Any) -> bool:
    """Whether a colour column is a number scale (ints and floats; bools and text are categories)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(values.dtype)) and not pd.api.types.is_bool_dtype(values.dtype)


def _missing_label(values: Any) -> str:
    """``"missing"``, or ``"(missing)"`` when the column already has a ``"missing"`` value."""
    return "(missing)" if (values.astype(str) == "missing").any() else "missing"


def as_notebook_run(run: Run) -> NotebookRun:
    """The same stored run as a :class:`NotebookRun` (no file is read)."""
    return run if isinstance(run, NotebookRun) else NotebookRun(run.dir, run.row)


def _bars_html(payload: dict[str, Any], limit: int = 10) -> str:
    """The largest values of a bar chart as CSS bars (label, bar, value; ground truth marked)."""
    body = np.asarray(payload["body"], dtype=np.float64).reshape(-1)
    labels = payload.get("labels") or [str(i) for i in range(len(body))]
    gt = payload.get("gt")
    top = np.argsort(-np.abs(body))[:limit]
    span = float(np.abs(body[top]).max()) or 1.0
    rows = []
    for i in top:
        width = int(120 * abs(body[i]) / span)
        mark = " ◀ gt" if gt is not None and len(gt) == len(body) and float(gt[i]) > 0.5 else ""
        bar = f'<span style="display:inline-block;height:9px;width:{width}px;background:#4e79a7"></span>'
        rows.append(f"<tr><td>{esc(labels[i])}</td><td>{bar}</td><td class='num'>{body[i]:.3g}{esc(mark)}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def _text_html(payload: dict[str, Any], limit: int = 300) -> str:
    """Tokens, tinted by their heatmap value when there is one (red positive, blue negative)."""
    tokens = [str(t) for t in payload.get("tokens", [])][:limit]
    heat = payload.get("heatmap")
    if heat is None:
        return f"<p>{esc(' '.join(tokens))}</p>"
    values = np.asarray(heat[: len(tokens)], dtype=np.float64)
    span = float(np.abs(values).max()) or 1.0
    spans = []
    for token, value in zip(tokens, values, strict=False):
        alpha = min(1.0, abs(value) / span)
        color = f"rgba(214,39,40,{alpha:.2f})" if value > 0 else f"rgba(31,119,180,{alpha:.2f})"
        spans.append(f'<span style="background:{color}">{esc(token)}</span>')
    return "<p>" + " ".join(spans) + "</p>"


def _graph_html(payload: dict[str, Any], width: int = 320, height: int = 80) -> str:
    """A curve as an inline SVG polyline."""
    data = np.asarray(payload.get("data", []), dtype=np.float64).reshape(-1)
    if data.size < 2 or not np.isfinite(data).all():
        return '<div class="muted">no curve</div>'
    low, span = float(data.min()), float(np.ptp(data)) or 1.0
    xs = np.linspace(0, width, data.size)
    ys = height - (data - low) / span * height
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return (
        f'<svg width="{width}" height="{height}"><polyline fill="none" stroke="#d62728" points="{points}"/></svg>'
        f'<div class="muted">{esc(payload.get("x_label", ""))} → {esc(payload.get("y_label", ""))}</div>'
    )


_CHARTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "horizontal_bar": _bars_html,
    "text": _text_html,
    "graph": _graph_html,
}


def _visual_html(name: str, visual: Any) -> str:
    """One visual: a picture inline, a chart drawn in HTML, anything else as its JSON (cut)."""
    kind, payload = visual_to_payload(visual)
    if kind == "image/png":
        picture = image_tag(payload, title=name)
        return f"<figure style='display:inline-block;margin:4px'>{picture}<figcaption>{esc(name)}</figcaption></figure>"
    draw = _CHARTS.get(str(payload.get("type")))
    inner = (
        draw(payload) if draw else f"<pre style='max-height:12em;overflow:auto'>{esc(json.dumps(payload)[:2000])}</pre>"
    )
    return f"<div style='display:inline-block;vertical-align:top;margin:4px'><b>{esc(name)}</b>{inner}</div>"


class SampleView:
    """One sample of a run: ``record`` (its samples.parquet row), ``show()`` (visuals and values) and
    ``explain()`` (a heatmap). Visuals re-encode the sample through the run's integration."""

    def __init__(self, run: NotebookRun, record: dict[str, Any]):
        self.run, self.record = run, record
        self.subset, self.sample_id = str(record["subset"]), str(record["sample_id"])

    def __repr__(self) -> str:
        return f"<Sample {self.subset}/{self.sample_id} of run {self.run.id}>"

    def visuals(self) -> dict[str, Any]:
        """Every visualizer's output for this sample (``leapscope`` visual objects, by visualizer name)."""
        return dict(self.run.context.visuals(self.subset, self.sample_id))

    def _values_table(self) -> str:
        rows = [[k, v] for k, v in self.record.items() if not isinstance(v, list | dict | bytes)]
        return table(["column", "value"], rows)

    def _repr_html_(self) -> str:
        try:
            pictures = "".join(_visual_html(n, v) for n, v in self.visuals().items())
        except LeapscopeError as exc:  # e.g. the integration folder is gone: the stored values still show
            pictures = f'<div class="fail">visuals unavailable: {esc(exc)}</div>'
        return card(f"Sample {self.sample_id} ({self.subset})", f"<div>{pictures}</div>{self._values_table()}")

    def show(self) -> SampleView:
        """Display the visuals and stored values in the notebook (and return the sample)."""
        from IPython.display import HTML, display

        display(HTML(self._repr_html_()))
        return self

    def explain(self, method: str = "integrated_gradients", *, target: Any = None, layer: str | None = None) -> Heatmap:
        """An attribution heatmap of this sample (see ``leapscope explain`` for methods and targets)."""
        result, x = self.run.context.explain(self.subset, self.sample_id, method=method, target=target, layer=layer)
        visual = self.run.context.heatmap_visual(self.subset, self.sample_id, result, x)
        return Heatmap(self, result, visual)


class Heatmap:
    """An explanation of one sample: ``attribution`` (values shaped like the input) and its picture."""

    def __init__(self, sample: SampleView, attribution: Any, visual: Any):
        self.sample, self.attribution, self.visual = sample, attribution, visual

    @property
    def values(self) -> np.ndarray:
        """The heatmap, float32, the explained input's shape without the channel axis."""
        return np.asarray(self.attribution.heatmap()[0], dtype=np.float32)

    def _repr_html_(self) -> str:
        method = getattr(self.attribution, "method", "attribution")
        return card(
            f"{method} · sample {self.sample.sample_id} ({self.sample.subset})", _visual_html(method, self.visual)
        )


class InsightList(list[Insight]):
    """Insights, ranked; displays as a table plus the top insights with sample thumbnails."""

    def __init__(self, insights: Iterable[Insight] = (), *, run: Run | None = None, cards: int = 3):
        super().__init__(insights)
        self.run, self.cards = run, cards

    def _thumbnails(self, insight: Insight, limit: int = 6) -> list[str]:
        if self.run is None:
            return []
        nrun = as_notebook_run(self.run)
        subsets = insight.subset.split("|")
        out: list[str] = []
        for row, sample_id in zip(insight.rows[:limit], insight.sample_ids[:limit], strict=False):
            record = nrun.samples.slice(row, 1).to_pylist()[0]
            subset = str(record["subset"]) if record["subset"] in subsets or len(subsets) == 1 else subsets[0]
            try:
                visuals = nrun.context.visuals(subset, sample_id)
            except LeapscopeError:
                return out
            picture = next((v for v in visuals.values() if visual_to_payload(v)[0] == "image/png"), None)
            if picture is None:
                return out
            out.append(image_tag(visual_to_payload(picture)[1], title=f"{subset}/{sample_id}", width=72))
        return out

    def _repr_html_(self) -> str:
        parts = [insights_html(self)]
        parts += [insight_html(x, thumbnails=self._thumbnails(x)) for x in self[: self.cards]]
        return "".join(parts)
