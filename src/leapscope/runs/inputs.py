"""Assemble the detectors' :class:`~leapscope.analysis.insights.AnalysisInput` from a stored run."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from leapscope.analysis.insights import AnalysisInput
from leapscope.exceptions import StoreError
from leapscope.runs.columns import class_labels, first_label_column, metadata_columns, metric_direction
from leapscope.store import Run
from leapscope.store._schema import GT_PREFIX, INPUT_HASH, LOSS_PREFIX, METRIC_PREFIX, SAMPLE_ID, SUBSET, pred_column

__all__ = ["analysis_input", "as_probabilities"]


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """(N, K) rows that are already probabilities (in [0, 1], summing to 1) stay; raw scores (logits) get a softmax."""
    if len(scores) == 0 or (scores.min() >= 0 and scores.max() <= 1 and np.allclose(scores.sum(axis=1), 1, atol=1e-3)):
        return scores
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


def _floats(table: pa.Table, name: str | None) -> np.ndarray | None:
    if name is None:
        return None
    return np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=np.float64)


def _loss(run: Run, metric: np.ndarray | None, metric_name: str | None) -> tuple[str, np.ndarray]:
    """The first loss column, else ``1 - metric``."""
    loss_cols = [n for n in run.samples.column_names if n.startswith(LOSS_PREFIX)]
    if loss_cols:
        loss = _floats(run.samples, loss_cols[0])
        assert loss is not None  # noqa: S101 - a name was given
        return loss_cols[0], loss
    if metric is not None:
        return f"1 - {metric_name}", 1.0 - metric
    raise StoreError(f"run {run.id} has no loss or metric column to analyze")


def _probabilities(run: Run, prediction: str, k: int) -> np.ndarray | None:
    """(N, K) float32 class probabilities of a labeled prediction (NaN rows for failed samples)."""
    table = run.samples
    if pred_column(prediction) not in table.column_names:
        return None
    column = table[pred_column(prediction)]
    pred_probs = np.full((table.num_rows, k), np.nan, np.float32)
    valid = np.asarray(column.is_valid())
    flat = (
        np.asarray(column.drop_null().combine_chunks().flatten(), dtype=np.float32)
        if valid.any()
        else np.zeros(0, np.float32)
    )
    if k == 2 and flat.size == int(valid.sum()):  # one sigmoid score of a binary class ("not x", "x")
        p = flat if not flat.size or (flat.min() >= 0.0 and flat.max() <= 1.0) else 1.0 / (1.0 + np.exp(-flat))
        pred_probs[valid] = np.stack([1.0 - p, p], 1)
        return pred_probs
    pred_probs[valid] = as_probabilities(flat.reshape(-1, k))
    return pred_probs


def _given_labels(run: Run, class_names: list[str]) -> np.ndarray:
    """(N,) int64 index of each sample's ground-truth class name, -1 if none."""
    gt_label = first_label_column(run, GT_PREFIX)
    if not gt_label:
        return np.full(run.samples.num_rows, -1, np.int64)
    index = {name: i for i, name in enumerate(class_names)}
    return np.array([index.get(v, -1) if v is not None else -1 for v in run.samples[gt_label].to_pylist()], np.int64)


def analysis_input(run: Run, space: str | None = None) -> AnalysisInput:
    """Assemble the detectors' input from a run (loss, metric, labels, probabilities, metadata).

    The metric is the first ``metric_*`` column where higher is better; the loss the first
    ``loss_*`` column (else ``1 - metric``). A run without latent vectors gets a (N, 0) latent.

    Raises
    ------
    StoreError
        The run has neither a loss nor a metric column.
    """
    table = run.samples
    names = table.column_names
    metric_cols = [n for n in names if n.startswith(METRIC_PREFIX) and metric_direction(run, n) == "higher"]
    metric_name = metric_cols[0] if metric_cols else None
    metric = _floats(table, metric_name)
    loss_name, loss = _loss(run, metric, metric_name)
    labeled = class_labels(run)
    class_names = labeled[1] if labeled else []
    pred_probs = _probabilities(run, labeled[0], len(class_names)) if labeled else None
    labels = _given_labels(run, class_names) if labeled else np.full(table.num_rows, -1, np.int64)
    try:
        latent = np.asarray(run.latent(space), dtype=np.float32)
        latent_name: str | None = space or run.latent_spaces[0]
    except StoreError:
        latent = np.zeros((table.num_rows, 0), np.float32)
        latent_name = None
    return AnalysisInput(
        subset=np.asarray(table[SUBSET].to_pylist(), dtype=object),
        sample_id=np.asarray(table[SAMPLE_ID].to_pylist(), dtype=object),
        latent=latent,
        loss=loss,
        loss_name=loss_name,
        metric=metric,
        metric_name=metric_name,
        labels=labels,
        pred_probs=pred_probs,
        class_names=class_names,
        metadata=table.select(metadata_columns(run)).to_pandas(),
        input_hash=np.asarray(table[INPUT_HASH].to_pylist(), dtype=object) if INPUT_HASH in names else None,
        latent_name=latent_name,
    )
