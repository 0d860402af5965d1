"""One sample of a stored run, re-encoded through its integration: visuals and heatmaps.

Runs store no raw inputs (they can be large); the integration re-encodes a sample
on demand, so visualizers and explanations see exactly what evaluate saw.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from leapscope.analysis import attribution
from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.integration import LoadedIntegration, call_user, load, load_subsets, resolve_model_source
from leapscope.integration._validate import fn_label, validate_visual
from leapscope.models import ModelWrapper
from leapscope.models import load as load_model
from leapscope.sdk._subset import Subset
from leapscope.sdk._visuals import Graph, HorizontalBar, Image, ImageWithHeatmap, Text, Visual, image_to_uint8
from leapscope.store import Run, atomic_path

__all__ = ["RunContext"]


class RunContext:
    """A run plus its integration, subsets and model, loaded on first use."""

    def __init__(self, run: Run):
        self.run = run
        self.manifest = run.manifest

    @cached_property
    def loaded(self) -> LoadedIntegration:
        root = Path(self.manifest["integration"]["root"])
        entry = Path(self.manifest["integration"]["entry"])
        if not entry.exists():
            raise StoreError(f"run {self.run.id}: its integration {entry} is gone; sample visuals need it to re-encode samples")
        return load(entry if entry.parent != root or entry.name != "integration.py" else root)

    @cached_property
    def subsets(self) -> dict[str, Subset]:
        return {s.name: s for s in load_subsets(self.loaded.integration)}

    @cached_property
    def model(self) -> ModelWrapper:
        source = self.manifest["model"].get("source")
        if source and Path(source).exists():
            return load_model(Path(source))
        return load_model(resolve_model_source(self.loaded))

    @property
    def labels(self) -> list[str] | None:
        labeled = [p for p in self.manifest["predictions"] if p.get("labels")]
        return labeled[0]["labels"] if labeled else None

    def sample_key(self, subset: str, sample_id: str | int) -> Any:
        """The sample id in its original type (runs store ids as text)."""
        info = self.manifest["subsets"].get(subset)
        if info is None:
            raise StoreError(f"run {self.run.id} has no subset '{subset}'; subsets: {', '.join(self.manifest['subsets'])}")
        return int(sample_id) if info["id_type"] == "int" else str(sample_id)

    def encode(self, subset: str, sample_id: str | int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Unbatched inputs and ground truths of one sample."""
        key = self.sample_key(subset, sample_id)
        data = self.subsets[subset]
        if key not in data:
            raise StoreError(f"subset '{subset}' has no sample id {sample_id!r}")
        integ = self.loaded.integration
        inputs = {n: np.asarray(call_user(f.function, key, data, name=fn_label(f), subset=subset, sample_id=key)) for n, f in integ.input_encoders.items()}
        gts = {}
        if data.state.value != "unlabeled":
            gts = {n: np.asarray(call_user(f.function, key, data, name=fn_label(f), subset=subset, sample_id=key)) for n, f in integ.gt_encoders.items()}
        return inputs, gts

    def model_inputs(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        slots = {e["argument"]: e["source"].split(":", 1)[1] for e in self.manifest["wiring"] if e["kind"] == "model"}
        return [inputs[slots[spec.name]][None] for spec in self.model.inputs]

    def visuals(self, subset: str, sample_id: str | int) -> dict[str, Visual]:
        """Every visualizer of the integration applied to this sample (as the wiring says)."""
        inputs, gts = self.encode(subset, sample_id)
        predictions = dict(zip(self._prediction_names(), self.model.predict(self.model_inputs(inputs)), strict=False))
        values = {f"input:{k}": v for k, v in inputs.items()}
        values.update({f"gt:{k}": v for k, v in gts.items()})
        values.update({f"prediction:{k}": v[0] for k, v in predictions.items()})
        out: dict[str, Visual] = {}
        for name, vis in self.loaded.integration.visualizers.items():
            edges = [e for e in self.manifest["wiring"] if e["kind"] == "visualizer" and e["target"] == name]
            if any(e["source"] not in values for e in edges):
                continue  # e.g. a ground truth on an unlabeled sample
            kwargs = {e["argument"]: values[e["source"]] for e in edges}
            result = call_user(vis.function, name=fn_label(vis), subset=subset, sample_id=sample_id, **kwargs)
            out[name] = validate_visual(vis, result, subset=subset, sample_id=sample_id)
        return out

    def _prediction_names(self) -> list[str]:
        return [p["name"] for p in self.manifest["predictions"]]

    def explain(self, subset: str, sample_id: str | int, *, method: str = "integrated_gradients", target: Any = None,
                layer: str | None = None, input_name: str | None = None) -> tuple[attribution.Attribution, np.ndarray]:
        """Attribution of one sample, and the unbatched explained input.

        ``target="loss"`` explains what raised the integration's (first) loss: built-in
        losses are differentiated in torch; a custom numpy loss is explained by occlusion.
        """
        inputs, gts = self.encode(subset, sample_id)
        arrays = self.model_inputs(inputs)
        names = [e["source"].split(":", 1)[1] for e in self.manifest["wiring"] if e["kind"] == "model"]
        index = names.index(input_name) if input_name else 0
        if isinstance(target, str) and target.isdigit() and (self.labels is None or target not in self.labels):
            target = int(target)
        options: dict[str, Any] = {}
        if target == "loss":
            options = self._loss_target(gts)
            if not isinstance(options["loss"], str):
                method = "occlusion"
        result = attribution.explain(self.model, arrays, method=method, target=target, layer=layer, labels=self.labels,  # type: ignore[arg-type]
                                     input_index=index, **options)
        return result, arrays[index][0]

    def _loss_target(self, gts: dict[str, np.ndarray]) -> dict[str, Any]:
        from leapscope.sdk._builtins import _LOSSES

        losses = self.loaded.integration.losses
        if not losses or not gts:
            raise LeapscopeError("explain: target='loss' needs a loss and a ground truth (this sample or integration has none)")
        name, fn = next(iter(losses.items()))
        edge = next((e for e in self.manifest["wiring"] if e["kind"] == "loss" and e["target"] == name and e["source"].startswith("gt:")), None)
        gt = gts[edge["source"].split(":", 1)[1]] if edge else next(iter(gts.values()))
        builtin = next((key for key, value in _LOSSES.items() if value is fn.function), None)
        if builtin is not None:
            return {"ground_truth": gt[None], "loss": builtin}
        # a custom numpy loss: call it with the wired argument order (ground truth first, prediction second)
        params = [e["argument"] for e in self.manifest["wiring"] if e["kind"] == "loss" and e["target"] == name]
        gt_first = not params or next(e for e in self.manifest["wiring"] if e["kind"] == "loss" and e["target"] == name)["source"].startswith("gt:")
        function = fn.function

        def numpy_loss(g: np.ndarray, p: np.ndarray) -> np.ndarray:
            return np.asarray(function(g, p) if gt_first else function(p, g), dtype=np.float32)

        numpy_loss.__name__ = name
        return {"ground_truth": gt[None], "loss": numpy_loss}

    def heatmap_visual(self, subset: str, sample_id: str | int, result: attribution.Attribution, x: np.ndarray) -> Visual:
        """The heatmap as a visual: over the image (at the image visualizer's size), on the text visualizer's
        tokens, as a curve over long 1-D inputs, or as bars named after a bar visualizer's labels."""
        heat = result.heatmap()[0]
        visuals = list(self.visuals(subset, sample_id).values())  # re-encodes and predicts: once per call
        if heat.ndim == 2:
            image = next((v for v in visuals if isinstance(v, Image)), None)
            picture = image.to_uint8() if image is not None else image_to_uint8(np.moveaxis(x, 0, -1) if result.channel_axis == 1 else x)
            if picture.shape[:2] != heat.shape:
                heat = attribution._upsample(heat[None], picture.shape[:2])[0]
            return ImageWithHeatmap(picture, heat)
        flat = heat.reshape(-1)
        text = next((v for v in visuals if isinstance(v, Text) and len(v.tokens) <= len(flat)), None)
        if text is not None:  # token positions: the visualizer's tokens are the first positions (padding last)
            return Text(text.tokens, heatmap=flat[: len(text.tokens)])
        if len(flat) > 64:  # byte positions: a curve over positions
            return Graph(flat, x_label="position", y_label=f"{result.method} attribution")
        # tabular features: reuse the labels of a bar visualizer that draws this input
        names = next((v.labels for v in visuals if isinstance(v, HorizontalBar) and len(v.labels) == len(flat) and v.gt is None), None)
        return HorizontalBar(flat, labels=names or [str(i) for i in range(len(flat))])


def render_explanation_png(ctx: RunContext, subset: str, sample_id: str | int, result: attribution.Attribution, x: np.ndarray, path: Path) -> Path:
    """Write a PNG: the input, the heatmap over it, and the prediction bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    visual = ctx.heatmap_visual(subset, sample_id, result, x)
    probs = ctx.model.predict(ctx.model_inputs(ctx.encode(subset, sample_id)[0]))[0][0].reshape(-1)
    labels = ctx.labels or [str(i) for i in range(len(probs))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    if isinstance(visual, ImageWithHeatmap):
        image = visual.image if visual.image.shape[-1] == 3 else visual.image[..., 0]
        axes[0].imshow(image, cmap=None if visual.image.shape[-1] == 3 else "gray")
        axes[1].imshow(image, cmap=None if visual.image.shape[-1] == 3 else "gray")
        axes[1].imshow(visual.heatmap, cmap="jet", alpha=0.5)
    elif isinstance(visual, Text):
        heat = np.asarray(visual.heatmap)
        axes[0].axis("off")
        lines = [" ".join(visual.tokens[i : i + 6]) for i in range(0, len(visual.tokens), 6)]
        axes[0].text(0, 1, "\n".join(lines), va="top", fontsize=9, transform=axes[0].transAxes)
        order = np.argsort(np.abs(heat))[-15:]
        axes[1].barh([f"{visual.tokens[i]} ({i})" for i in order], heat[order], color=["tab:red" if v > 0 else "tab:blue" for v in heat[order]])
    elif isinstance(visual, HorizontalBar):
        order = np.argsort(np.abs(visual.body))[-15:]
        axes[0].barh([visual.labels[i] for i in order], np.asarray(x).reshape(-1)[order], color="tab:gray")
        axes[0].set_xlabel("input value")
        axes[1].barh([visual.labels[i] for i in order], visual.body[order], color=["tab:red" if v > 0 else "tab:blue" for v in visual.body[order]])
        axes[1].tick_params(labelleft=False)
    else:
        axes[0].plot(np.asarray(x).reshape(-1), lw=0.6)
        axes[0].set_xlabel("position")
        axes[1].plot(np.asarray(visual.data).reshape(-1), lw=0.6, color="tab:red")  # type: ignore[attr-defined]
        axes[1].set_xlabel("position")
    axes[0].set_title(f"{subset} / {sample_id}")
    target = "the loss" if result.target[0] < 0 else (labels[result.target[0]] if result.target[0] < len(labels) else result.target[0])
    axes[1].set_title(f"{result.method} for '{target}'" + (f" @ {result.layer}" if result.layer else ""))
    top = np.argsort(-probs)[:10][::-1]
    axes[2].barh([labels[i] for i in top], probs[top], color=["tab:red" if i == result.target[0] else "tab:blue" for i in top])
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
    (row-aligned with samples.parquet; NaN for rows of other subsets or failed samples)."""
    ctx = RunContext(run)
    table = run.samples.select(["row", "subset", "sample_id", "error"]).to_pandas()
    chosen = table[table.subset.isin(subsets) & table.error.isna()]
    if chosen.empty:
        raise LeapscopeError(f"explain_run: run {run.id} has no successful samples in {subsets}")
    heatmaps: np.ndarray | None = None
    for start in range(0, len(chosen), batch_size):
        part = chosen.iloc[start : start + batch_size]
        batch = [ctx.model_inputs(ctx.encode(s, i)[0]) for s, i in zip(part.subset, part.sample_id, strict=True)]
        arrays = [np.concatenate([b[k] for b in batch]) for k in range(len(batch[0]))]
        heat = attribution.explain(ctx.model, arrays, method=method, labels=ctx.labels).heatmap()  # type: ignore[arg-type]
        if heatmaps is None:
            heatmaps = np.full((len(table), *heat.shape[1:]), np.nan, np.float32)
        heatmaps[part.row.to_numpy()] = heat
    assert heatmaps is not None  # noqa: S101 - chosen is not empty
    path = run.dir / "explanations" / f"{method}.npy"
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, heatmaps)
    return path
