"""One sample of a stored run, re-encoded through its integration: visuals and heatmaps.

Runs store no raw inputs (they can be large); the integration re-encodes a sample
on demand, so visualizers and explanations see exactly what evaluate saw.
"""

from __future__ import annotations

import textwrap
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from leapscope.analysis import attribution
from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.integration import LoadedIntegration, call_user, load, load_subsets, resolve_model_source
from leapscope.integration._trust import require_trusted
from leapscope.integration._validate import fn_label, validate_visual
from leapscope.models import ModelWrapper, open_model
from leapscope.sdk._subset import Subset
from leapscope.sdk._visuals import (
    Graph,
    HorizontalBar,
    Image,
    ImageWithHeatmap,
    Text,
    Visual,
    heatmap_limits,
    image_to_uint8,
)
from leapscope.store import Run, Wiring, atomic_path
from leapscope.store._manifest import GT_SOURCE, INPUT_SOURCE, PREDICTION_SOURCE, source_key
from leapscope.store._schema import ERROR, KEY_COLUMNS, SUBSET, explanation_file

__all__ = ["RunContext"]


class RunContext:
    """A run plus its integration, subsets and model, loaded on first use."""

    def __init__(self, run: Run):
        self.run = run
        self.manifest = run.manifest

    @cached_property
    def loaded(self) -> LoadedIntegration:
        """The run's integration, loaded again from its folder (StoreError when it is gone).

        Raises :class:`~leapscope.exceptions.UntrustedIntegrationError` when that folder is not one this
        user checked or evaluated (:func:`~leapscope.integration._trust.require_trusted`): the manifest
        is a file, and a file never decides which code runs."""
        info = self.run.typed_manifest.integration
        root, entry = Path(info.root), Path(info.entry)
        if not entry.exists():
            raise StoreError(
                f"run {self.run.id}: its integration {entry} is gone; sample visuals need it to re-encode samples"
            )
        path = entry if entry.parent != root or entry.name != "integration.py" else root
        require_trusted(path, run_id=self.run.id)
        return load(path)

    @cached_property
    def subsets(self) -> dict[str, Subset]:
        """The integration's subsets by name (its preprocess function runs once)."""
        return {s.name: s for s in load_subsets(self.loaded.integration)}

    #: seconds the model took to load (``None`` until :attr:`model` is first used)
    model_load_seconds: float | None = None

    @cached_property
    def model(self) -> ModelWrapper:
        """The run's model: its recorded source if it still exists, else the integration's (loaded once per
        context, timed in :attr:`model_load_seconds`; never cached on disk)."""
        start = time.perf_counter()
        source = self.run.typed_manifest.model.source
        if source and Path(source).exists():
            wrapper = open_model(Path(source))
        else:
            wrapper = open_model(resolve_model_source(self.loaded))
        self.model_load_seconds = time.perf_counter() - start
        return wrapper

    @cached_property
    def wiring(self) -> Wiring:
        """The run's wiring (which encoder feeds each model input, which value each parameter gets)."""
        return Wiring.from_manifest(self.run.typed_manifest)

    @property
    def labels(self) -> list[str] | None:
        """Class names of the first labeled prediction, or None."""
        return self.run.typed_manifest.class_names

    def sample_key(self, subset: str, sample_id: str | int) -> Any:
        """The sample id in its original type (runs store ids as text)."""
        subsets = self.run.typed_manifest.subsets
        if subset not in subsets:
            raise StoreError(f"run {self.run.id} has no subset '{subset}'; subsets: {', '.join(subsets)}")
        return subsets[subset].sample_key(sample_id)

    def encode(self, subset: str, sample_id: str | int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Unbatched inputs and ground truths of one sample."""
        key = self.sample_key(subset, sample_id)
        data = self.subsets[subset]
        if key not in data:
            raise StoreError(f"subset '{subset}' has no sample id {sample_id!r}")
        integ = self.loaded.integration
        inputs = {
            n: np.asarray(call_user(f.function, key, data, name=fn_label(f), subset=subset, sample_id=key))
            for n, f in integ.input_encoders.items()
        }
        gts = {}
        if data.state.value != "unlabeled":
            gts = {
                n: np.asarray(call_user(f.function, key, data, name=fn_label(f), subset=subset, sample_id=key))
                for n, f in integ.gt_encoders.items()
            }
        return inputs, gts

    def model_inputs(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The model's batched inputs (1, ...) in its input order, from encoded inputs by name (as wired)."""
        return [inputs[name][None] for name in self._input_names()]

    def _input_names(self) -> list[str]:
        """The input encoder feeding each model input, in the model's input order."""
        return self.wiring.model_inputs([spec.name for spec in self.model.inputs])

    def visuals(self, subset: str, sample_id: str | int) -> dict[str, Visual]:
        """Every visualizer of the integration applied to this sample (as the wiring says)."""
        inputs, gts = self.encode(subset, sample_id)
        predictions = dict(zip(self._prediction_names(), self.model.predict(self.model_inputs(inputs)), strict=False))
        values = {source_key(INPUT_SOURCE, k): v for k, v in inputs.items()}
        values.update({source_key(GT_SOURCE, k): v for k, v in gts.items()})
        values.update({source_key(PREDICTION_SOURCE, k): v[0] for k, v in predictions.items()})
        out: dict[str, Visual] = {}
        for name, vis in self.loaded.integration.visualizers.items():
            arguments = self.wiring.arguments_of("visualizer", name, constants=True)
            if any(source not in values for source in arguments.values()):
                continue  # e.g. a ground truth on an unlabeled sample
            kwargs = {argument: values[source] for argument, source in arguments.items()}
            result = call_user(vis.function, name=fn_label(vis), subset=subset, sample_id=sample_id, **kwargs)
            out[name] = validate_visual(vis, result, subset=subset, sample_id=sample_id)
        return out

    def _prediction_names(self) -> list[str]:
        return [p.name for p in self.run.typed_manifest.predictions]

    def explain(
        self,
        subset: str,
        sample_id: str | int,
        *,
        method: str = "integrated_gradients",
        target: Any = None,
        layer: str | None = None,
        input_name: str | None = None,
        region: str | None = None,
        output: int | str | None = None,
    ) -> tuple[attribution.Attribution, np.ndarray]:
        """Attribution of one sample, and the unbatched explained input.

        ``target``: ``None`` (the predicted class; a dense output: its main class channel summed over the
        predicted-positive pixels), a class / channel index or label, ``element:i,j,...``, ``loss`` (the
        integration's only loss; an error listing them when there are several) or ``loss:NAME``. ``region``
        (dense outputs): ``positive``, ``all``, ``gt``, ``gt:NAME``, ``box:x0,y0,x1,y1`` or a mask file. A
        method that cannot apply raises (no fallback); see :func:`leapscope.runs.explain_samples`.
        """
        from leapscope.runs.explain import explain_samples

        (one,) = explain_samples(
            self,
            [(subset, sample_id)],
            method=method,
            target=target,
            region=region,
            layer=layer,
            input_name=input_name,
            output=output,
        )
        return one.attribution, one.x

    def heatmap_visual(
        self, subset: str, sample_id: str | int, result: attribution.Attribution, x: np.ndarray
    ) -> Visual:
        """The heatmap as a visual: over the image (at the image visualizer's size), on the text visualizer's
        tokens, as a curve over long 1-D inputs, or as bars named after a bar visualizer's labels."""
        heat = result.heatmap()[0]
        visuals = list(self.visuals(subset, sample_id).values())  # re-encodes and predicts: once per call
        if heat.ndim == 2:
            image = next((v for v in visuals if isinstance(v, Image)), None)
            picture = (
                image.to_uint8()
                if image is not None
                else image_to_uint8(np.moveaxis(x, 0, -1) if result.channel_axis == 1 else x)
            )
            if picture.shape[:2] != heat.shape:
                heat = attribution.upsample(heat[None], picture.shape[:2])[0]
            return ImageWithHeatmap(picture, heat)
        flat = heat.reshape(-1)
        text = next((v for v in visuals if isinstance(v, Text) and len(v.tokens) <= len(flat)), None)
        if text is not None:  # token positions: the visualizer's tokens are the first positions (padding last)
            return Text(text.tokens, heatmap=flat[: len(text.tokens)])
        if len(flat) > 64:  # byte positions: a curve over positions
            return Graph(flat, x_label="position", y_label=f"{result.method} attribution")
        # tabular features: reuse the labels of a bar visualizer that draws this input
        names = next(
            (v.labels for v in visuals if isinstance(v, HorizontalBar) and len(v.labels) == len(flat) and v.gt is None),
            None,
        )
        return HorizontalBar(flat, labels=names or [str(i) for i in range(len(flat))])


def _target_words(result: attribution.Attribution, labels: list[str]) -> str:
    target = result.target[0]
    return "the loss" if target < 0 else f"'{labels[target] if target < len(labels) else target}'"


def _prediction_map(
    model: ModelWrapper,
    prediction: np.ndarray,
    result: attribution.Attribution,
    labels: list[str] | None,
    axis: int | None,
) -> np.ndarray:
    """(H, W) map of the explained channel of an unbatched dense prediction ((C, H, W), (H, W, C) or (H, W)),
    with the channel axis found as the explain targets find it."""
    batched = np.asarray(prediction, dtype=np.float32)[None]
    found = attribution.dense_channel_axis(model, batched, labels, axis) if batched.ndim >= 3 else None
    channels = batched[:, None] if found is None else np.moveaxis(batched, found, 1)
    channel = min(max(0, result.target[0]), channels.shape[1] - 1)
    picture = channels[0, channel]
    return picture.reshape(-1, picture.shape[-1]) if picture.ndim > 2 else picture


def render_explanation_png(
    ctx: RunContext,
    subset: str,
    sample_id: str | int,
    result: attribution.Attribution,
    x: np.ndarray,
    path: Path,
    output: int | str | None = None,
) -> Path:
    """Write a PNG: the input, the heatmap over it (titled with what was explained, in words), and the
    prediction: bars of the top classes, or for a dense output the map of the explained channel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from leapscope.runs.explain import output_info

    visual = ctx.heatmap_visual(subset, sample_id, result, x)
    info = output_info(ctx, output)
    prediction = np.asarray(ctx.model.predict(ctx.model_inputs(ctx.encode(subset, sample_id)[0]))[info.index][0])
    probs = prediction.reshape(-1)
    labels = info.labels or [str(i) for i in range(len(probs))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    if isinstance(visual, ImageWithHeatmap):
        image = visual.image if visual.image.shape[-1] == 3 else visual.image[..., 0]
        axes[0].imshow(image, cmap=None if visual.image.shape[-1] == 3 else "gray")
        axes[1].imshow(image, cmap=None if visual.image.shape[-1] == 3 else "gray")
        low, high = heatmap_limits(visual.heatmap)  # a few extreme pixels must not wash out the rest
        axes[1].imshow(visual.heatmap, cmap="jet", alpha=0.5, vmin=low, vmax=high)
    elif isinstance(visual, Text):
        heat = np.asarray(visual.heatmap)
        axes[0].axis("off")
        lines = [" ".join(visual.tokens[i : i + 6]) for i in range(0, len(visual.tokens), 6)]
        axes[0].text(0, 1, "\n".join(lines), va="top", fontsize=9, transform=axes[0].transAxes)
        order = np.argsort(np.abs(heat))[-15:]
        axes[1].barh(
            [f"{visual.tokens[i]} ({i})" for i in order],
            heat[order],
            color=["tab:red" if v > 0 else "tab:blue" for v in heat[order]],
        )
    elif isinstance(visual, HorizontalBar):
        order = np.argsort(np.abs(visual.body))[-15:]
        axes[0].barh([visual.labels[i] for i in order], np.asarray(x).reshape(-1)[order], color="tab:gray")
        axes[0].set_xlabel("input value")
        axes[1].barh(
            [visual.labels[i] for i in order],
            visual.body[order],
            color=["tab:red" if v > 0 else "tab:blue" for v in visual.body[order]],
        )
        axes[1].tick_params(labelleft=False)
    else:
        axes[0].plot(np.asarray(x).reshape(-1), lw=0.6)
        axes[0].set_xlabel("position")
        axes[1].plot(np.asarray(visual.data).reshape(-1), lw=0.6, color="tab:red")  # type: ignore[attr-defined]
        axes[1].set_xlabel("position")
    axes[0].set_title(f"{subset} / {sample_id}")
    explained = result.descriptions[0] if result.descriptions else _target_words(result, labels)
    axes[1].set_title(
        textwrap.fill(f"{result.method} of {explained}" + (f" @ {result.layer}" if result.layer else ""), 60),
        fontsize=8,
    )
    dense = info.kind == "dense" or (info.kind is None and prediction.ndim >= 2)
    if dense and prediction.ndim >= 2:
        from leapscope.runs.explain import draw_channel_map

        channel = result.target[0] if result.target[0] >= 0 else 0
        name = labels[channel] if info.labels and channel < len(labels) else f"channel {channel}"
        picture = _prediction_map(ctx.model, prediction, result, info.labels, info.channel_axis)
        draw_channel_map(fig, axes[2], picture, f"prediction: {name}")  # with its scale: 0-1 for probabilities
    else:
        from leapscope.runs.explain import prediction_summary

        # the top classes (a binary sigmoid output: 'not L' = 1 - p and 'L' = p), the explained one in red
        bars = prediction_summary(prediction, info)["values"][::-1]
        axes[2].barh(
            [b["label"] or str(b["index"]) for b in bars],
            [b["value"] for b in bars],
            color=["tab:red" if b["index"] == result.target[0] else "tab:blue" for b in bars],
        )
        axes[2].set_title("prediction")
    if isinstance(visual, ImageWithHeatmap):
        for ax in axes[:2]:
            ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def explain_run(run: Run, method: str, subsets: list[str], *, batch_size: int = 64) -> Path:
    """Store (N, *heatmap) float32 heatmaps for every sample of ``subsets`` in ``explanations/<method>.npy``
    (row-aligned with samples.parquet; NaN for rows of other subsets or failed samples). Each sample's
    default target is explained: its predicted class, or a dense output's main class over its predicted-positive
    pixels."""
    ctx = RunContext(run)
    table = run.samples.select([*KEY_COLUMNS, ERROR]).to_pandas()
    chosen = table[table[SUBSET].isin(subsets) & table[ERROR].isna()]
    if chosen.empty:
        raise LeapscopeError(f"explain_run: run {run.id} has no successful samples in {subsets}")
    from leapscope.runs.explain import output_info

    info = output_info(ctx)
    heatmaps: np.ndarray | None = None
    for start in range(0, len(chosen), batch_size):
        part = chosen.iloc[start : start + batch_size]
        batch = [ctx.model_inputs(ctx.encode(s, i)[0]) for s, i in zip(part.subset, part.sample_id, strict=True)]
        arrays = [np.concatenate([b[k] for b in batch]) for k in range(len(batch[0]))]
        heat = attribution.explain(
            ctx.model, arrays, method=method, labels=info.labels, kind=info.kind, output_channel_axis=info.channel_axis
        ).heatmap()
        if heatmaps is None:
            heatmaps = np.full((len(table), *heat.shape[1:]), np.nan, np.float32)
        heatmaps[part.row.to_numpy()] = heat
    assert heatmaps is not None  # noqa: S101 - chosen is not empty
    path = run.file(explanation_file(method))  # never written through a link that leads out of the run
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, heatmaps)
    return path
