"""Score one encoded batch: the model's predictions and latent vectors, then every loss and metric (batched).

A failure is a per-sample error, never a failed batch: a model error marks every sample
of the batch, a non-finite prediction marks its sample (it gets no prediction, label,
loss or metric), and a loss or metric that fails on the batch is called again one sample
at a time to find the failing ones. With ``fail_fast`` the first error is raised instead.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from leapscope.engine.custom_latent import CustomLatents, is_custom
from leapscope.engine.encode import EncodedBatch
from leapscope.engine.setup import Setup
from leapscope.exceptions import LeapscopeError, ValidationError
from leapscope.integration import call_user, prediction_names
from leapscope.integration._validate import fn_label, validate_per_sample, validate_predictions
from leapscope.sdk._decorators import Decorated
from leapscope.sdk._parts import class_axis, class_names, infer_kind
from leapscope.store._manifest import GT_SOURCE, INPUT_SOURCE, PREDICTION_SOURCE, parse_source, source_key
from leapscope.store._schema import (
    COUNT_SUFFIX,
    MEAN_SUFFIX,
    POSITIVE_SUFFIX,
    gt_column,
    label_column,
    loss_column,
    metric_column,
    pred_column,
    value_column,
)

__all__ = [
    "MAX_VALUE_COLUMNS",
    "Errors",
    "KindInfo",
    "ScoredBatch",
    "Scorer",
    "argmax_labels",
    "dense_summary",
    "labels_for",
    "summary_columns",
]

logger = logging.getLogger(__name__)

#: a regression output with more values per sample gets ``_value_<i>`` columns for the first this many only
MAX_VALUE_COLUMNS = 4

#: position in the batch -> [(function, message)], in the order the errors happened
Errors = dict[int, list[tuple[str, str]]]
#: errors of a function called on a batch: (index among the scored samples, function, message)
_Fails = list[tuple[int, str, str]]


@dataclass
class ScoredBatch:
    """What the model, the losses and the metrics made of one encoded batch.

    ``ok`` are the positions (int64) that encoded, ``scored`` those among them with a
    finite prediction. ``latents`` (space -> (len(ok), D)) are aligned with ``ok``;
    ``predictions`` (name -> (len(scored), ...)) and ``scores`` (column -> (len(scored),))
    with ``scored``. ``errors`` holds every sample's errors, by position. ``summaries``
    (column -> (len(scored),) float64 or object strings, aligned with ``scored``) are the
    per-kind summary columns of predictions and ground truths (see :func:`summary_columns`).
    """

    batch: EncodedBatch
    ok: np.ndarray
    scored: np.ndarray
    predictions: dict[str, np.ndarray]
    latents: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    errors: Errors
    summaries: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Samples in the batch (encoded or not)."""
        return len(self.batch.sample_ids)


class Scorer:
    """Predicts and scores encoded batches of one run (see the module docstring)."""

    def __init__(self, setup: Setup, fail_fast: bool):
        self.integration, self.wrapper, self.model_inputs = setup.loaded.integration, setup.wrapper, setup.model_inputs
        self.spaces, self.fail_fast = setup.spaces, fail_fast
        #: @ls.latent_space spaces are computed by engine/custom_latent.py, not read from a model layer
        self.model_spaces = {s: layer for s, layer in self.spaces.items() if not is_custom(layer)}
        self.custom = CustomLatents(setup, fail_fast)
        #: (key -> column name, function, {parameter: source}) of every loss, then every metric
        self.scores = [
            (functools.partial(column, name), fn, setup.wiring.arguments_of(fn))
            for column, group in ((loss_column, self.integration.losses), (metric_column, self.integration.metrics))
            for name, fn in group.items()
        ]
        self.predictions = prediction_names(self.integration, setup.wrapper)
        declared = {p.name: p for p in self.integration.predictions}
        #: prediction name -> (kind or None until the first batch shows its shape, labels, channel_dim)
        self.kinds = {
            name: KindInfo(
                setup.kinds.get(name) or (declared[name].kind if name in declared else None),
                declared[name].labels if name in declared else None,
                setup.class_axes.get(name, declared[name].channel_dim if name in declared else None),
            )
            for name in self.predictions
        }
        #: prediction name -> its class labels (predictions of kind ``class`` that declare labels only: the
        #: argmax label columns; a dense map's or multi-label output's labels are no classes to argmax)
        self.labels = {
            name: list(info.labels) for name, info in self.kinds.items() if info.labels and info.kind in (None, "class")
        }
        #: ground truth name -> the prediction a loss or metric compares it with (its summaries follow that kind)
        self.gt_pairs = _gt_pairs(setup.wiring.edges)
        loader = self.integration.model_loader
        self.model_label = fn_label(loader) if loader is not None else "model"

    def score(self, batch: EncodedBatch) -> ScoredBatch:
        """Predict ``batch`` and call every loss and metric on its samples with a finite prediction."""
        errors: Errors = collections.defaultdict(list)
        for position, function, message in batch.errors:
            errors[position].append((function, message))
        ok = np.asarray(batch.ok, dtype=np.int64)
        preds, latents = self._predict(batch, errors)
        keep = self._finite(batch, preds, errors)
        latents.update(self.custom.compute(batch, preds, keep, errors))
        arrays = {source_key(INPUT_SOURCE, k): v for k, v in batch.inputs.items()}
        arrays.update({source_key(GT_SOURCE, k): v for k, v in batch.gts.items()})
        scored = ok
        if not keep.all():  # copy the arrays of the finite samples only when some are not
            scored = ok[keep]
            preds = {k: v[keep] for k, v in preds.items()} if keep.any() else {}
            arrays = {k: v[keep] for k, v in arrays.items()}
        arrays.update({source_key(PREDICTION_SOURCE, k): v for k, v in preds.items()})
        result = ScoredBatch(batch, ok, scored, preds, latents, {}, errors)
        if preds:
            self._losses_and_metrics(result, arrays)
            result.summaries = self._summaries(preds, arrays)
        return result

    def _summaries(self, preds: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The per-kind summary columns of the predictions and of the ground truths paired with them."""
        out: dict[str, np.ndarray] = {}
        for name, values in preds.items():
            info = self.kinds.get(name) or KindInfo(None)
            if info.kind is None:  # not resolved by the integration test: infer it from the first batch
                info = self.kinds[name] = info._replace(
                    kind=infer_kind(tuple(values.shape[1:]), info.labels, info.channel_dim)
                )
            out.update(summary_columns(pred_column(name), info, values))
        for gt, prediction in self.gt_pairs.items():
            gt_values = arrays.get(source_key(GT_SOURCE, gt))
            paired = self.kinds.get(prediction)
            if gt_values is not None and paired is not None and paired.kind is not None:
                out.update(summary_columns(gt_column(gt), paired, gt_values, ground_truth=True))
        return out

    def _predict(self, batch: EncodedBatch, errors: Errors) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Predictions (name -> (len(ok), ...)) and latent vectors of the encoded samples; empty on a model error."""
        if not batch.ok:
            return {}, {}
        inputs = [batch.inputs[name] for name in self.model_inputs]
        latents: dict[str, np.ndarray] = {}
        try:
            if self.model_spaces:
                outputs, acts = self.wrapper.predict_with_latent(inputs, list(self.model_spaces.values()))
                latents = {space: acts[layer] for space, layer in self.model_spaces.items()}
            else:
                outputs = self.wrapper.predict(inputs)
            return dict(zip(self.predictions, outputs, strict=True)), latents
        except LeapscopeError as exc:
            if self.fail_fast:
                raise
            for i in batch.ok:
                errors[i].append(("model", str(exc)))
            return {}, {}

    def _finite(self, batch: EncodedBatch, preds: dict[str, np.ndarray], errors: Errors) -> np.ndarray:
        """Mask (len(ok),) of the samples whose predictions are finite; a NaN/inf prediction is a model error."""
        keep = np.ones(len(batch.ok), bool)
        if not preds:
            return keep
        ok_ids = [batch.sample_ids[i] for i in batch.ok]
        bad = validate_predictions(self.model_label, preds, subset=batch.subset, sample_ids=ok_ids)
        for i in sorted(bad):
            if self.fail_fast:
                raise bad[i]
            errors[batch.ok[i]].append((self.model_label, str(bad[i])))
            keep[i] = False
        return keep

    def _losses_and_metrics(self, result: ScoredBatch, arrays: dict[str, np.ndarray]) -> None:
        """Fill ``result.scores`` (``loss_<name>[_<key>]``, ``metric_<name>[_<key>]``) and the errors of failures."""
        subset = result.batch.subset
        scored_ids = [result.batch.sample_ids[int(i)] for i in result.scored]
        for column, fn, sources in self.scores:
            try:
                values, fails = call_batched(fn, sources, arrays, subset, scored_ids)
            except LeapscopeError as exc:
                if self.fail_fast:
                    raise
                values, fails = None, [(0, fn_label(fn), str(exc))]
            for i, function, message in fails:
                if self.fail_fast:
                    raise ValidationError(message, function=function, subset=subset, sample_id=scored_ids[i])
                result.errors[int(result.scored[i])].append((function, message))
            for key, arr in (values or {}).items():
                result.scores[column(key)] = arr


#: the functions already reported as working only per sample (one warning per process)
_WARNED_PER_SAMPLE: set[str] = set()


def call_batched(
    fn: Decorated, sources: dict[str, str], arrays: dict[str, np.ndarray], subset: str, sample_ids: Sequence[Any]
) -> tuple[dict[str, np.ndarray] | None, _Fails]:
    """Call a metric or loss on a batch of ``len(sample_ids)`` samples; on failure find the failing ones one by one.

    ``sources`` maps the function's parameters to wiring sources (``input:x``, ``gt:y``,
    ``prediction:z``; see :meth:`leapscope.store.Wiring.arguments_of`), ``arrays`` those sources
    to batched arrays. Returns (key -> (batch,) values, or None when the function is not stored
    per sample or an argument is missing; the per-sample errors (index, function, message)).
    """
    batch = len(sample_ids)
    if any(src not in arrays for src in sources.values()):
        return None, []  # e.g. a ground truth on an unlabeled subset
    kwargs = {param: arrays[src] for param, src in sources.items()}
    try:
        value = call_user(functools.partial(fn.function, **kwargs), name=fn_label(fn), subset=subset)
        result = validate_per_sample(fn, value, batch=batch, subset=subset, sample_id=None)
    except LeapscopeError as exc:
        if batch == 1:
            raise
        values, fails = _call_per_sample(fn, kwargs, batch, subset, sample_ids)
        if not fails and fn_label(fn) not in _WARNED_PER_SAMPLE:
            # right values, but the function mixes the samples of a batch (e.g. .mean(axis=0)): say so once
            _WARNED_PER_SAMPLE.add(fn_label(fn))
            logger.warning(
                "%s fails on a batch of %d samples but works on each sample alone, so leapscope calls it once per "
                "sample (slower): %s; fix: return one value per sample, reducing over every axis but the first "
                "(e.g. .mean(axis=tuple(range(1, x.ndim))))",
                fn_label(fn),
                batch,
                str(exc).splitlines()[0],
            )
        return values, fails
    if isinstance(result, list):  # confusion-matrix elements are not stored per sample
        return None, []
    return result, []


def _call_per_sample(
    fn: Decorated, kwargs: dict[str, np.ndarray], batch: int, subset: str, sample_ids: Sequence[Any]
) -> tuple[dict[str, np.ndarray] | None, _Fails]:
    columns: dict[str, np.ndarray] = {}
    errors: _Fails = []
    for i in range(batch):
        one = {k: v[i : i + 1] for k, v in kwargs.items()}
        try:
            value = call_user(
                functools.partial(fn.function, **one), name=fn_label(fn), subset=subset, sample_id=sample_ids[i]
            )
            result = validate_per_sample(fn, value, batch=1, subset=subset, sample_id=sample_ids[i])
        except LeapscopeError as exc:
            errors.append((i, fn_label(fn), str(exc)))
            continue
        if isinstance(result, list):
            return None, []
        for key, arr in result.items():
            columns.setdefault(key, np.full(batch, np.nan, np.float32))[i] = arr[0]
    return columns, errors


def labels_for(per_sample: int, labels: dict[str, list[str]], prediction: str | None = None) -> list[str] | None:
    """The class labels of a vector with ``per_sample`` values: those of ``prediction``, or for a ground truth
    (``prediction`` None) the first declared labels of that length; None when none fit."""
    if prediction is not None:
        found = labels.get(prediction)
    else:
        found = next((lab for lab in labels.values() if len(lab) == per_sample), None)
    if found is None or per_sample != len(found):
        return None
    return found


def argmax_labels(flat: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, C) scores -> (n,) label names (object) of the arg-max and (n,) bool: the row has a label (not all 0).

    One score and one label (a binary sigmoid output, or its 0/1 ground truth): ``label`` where the score
    is above 0.5 (probabilities) / 0 (logits), else ``not label`` (:func:`~leapscope.sdk._parts.class_names`);
    every row has a label.
    """
    if flat.shape[1] == 1 and len(labels) == 1:
        negative, positive = class_names(labels)
        on = flat[:, 0] > _positive_threshold(flat)
        return np.where(on, positive, negative).astype(object), np.ones(len(flat), bool)
    names = np.asarray(labels, dtype=object)[flat.argmax(1)]
    return names, np.asarray(flat.any(axis=1))


class KindInfo(NamedTuple):
    """A prediction's kind (``class``, ``multilabel``, ``dense``, ``boxes``, ``regression``; None: not yet
    known), its declared labels and its channel axis (of one unbatched sample)."""

    kind: str | None
    labels: list[str] | None = None
    #: None: found from the shape (:func:`leapscope.sdk._parts.class_axis`)
    channel_dim: int | None = None


def _gt_pairs(edges: Sequence[Any]) -> dict[str, str]:
    """Ground truth name -> the first prediction passed with it to the same loss or metric."""
    by_target: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for e in edges:
        if e.kind in ("loss", "metric"):
            by_target.setdefault((e.kind, e.target), []).append(parse_source(e.source))
    pairs: dict[str, str] = {}
    for sources in by_target.values():
        preds = [name for kind, name in sources if kind == PREDICTION_SOURCE]
        for kind, name in sources:
            if kind == GT_SOURCE and preds:
                pairs.setdefault(name, preds[0])
    return pairs


def _positive_threshold(values: np.ndarray) -> float:
    """0.5 for probabilities (every value in [0, 1]), else 0.0 (logits)."""
    return 0.5 if values.size and float(values.min()) >= 0.0 and float(values.max()) <= 1.0 else 0.0


def dense_summary(
    values: np.ndarray, labels: list[str] | None, channel_dim: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample of a dense map (B, ...): (fraction of positive positions, mean of the main channel), float64 (B,).

    One channel (a (1, H, W) / (H, W) map, or any map with no labels and no channel axis longer than 1):
    positive = value > 0.5 for probabilities in [0, 1] (> 0 for logits), main channel = the map. Several
    channels on ``channel_dim`` (C = ``len(labels)`` or the axis size; None: :func:`class_axis`): channel 0
    is the background, positive = the position's arg-max channel is not 0, main channel = channel 1.
    """
    n, sample = len(values), tuple(values.shape[1:])
    ndim = len(sample)
    found = class_axis(sample, labels, channel_dim)
    axis = found % ndim if ndim and -ndim <= found < ndim else None
    channels = sample[axis] if axis is not None else 1
    single = channels == 1 or (not labels and (1 in sample or ndim < 3))
    values = np.asarray(values)  # no float64 copy: a batch of 640 x 640 maps is large; accumulate in float64
    if single:
        flat = values.reshape(n, -1)
        positive = (flat > _positive_threshold(flat)).mean(1, dtype=np.float64)
        return positive, flat.mean(1, dtype=np.float64)
    assert axis is not None  # noqa: S101 - channels > 1 needs a channel axis
    moved = np.moveaxis(values, axis + 1, -1).reshape(n, -1, channels)
    return (moved.argmax(-1) != 0).mean(1, dtype=np.float64), moved[..., 1].mean(1, dtype=np.float64)


def summary_columns(
    column: str, info: KindInfo | tuple[Any, ...], values: np.ndarray, *, ground_truth: bool = False
) -> dict[str, np.ndarray]:
    """Column -> (B,) summary values of one prediction (or, with ``ground_truth``, its paired ground truth).

    ``column`` is ``pred_<name>`` / ``gt_<name>``; ``values`` the batch (B, ...). By kind:

    - ``class``: nothing here (the arg-max ``_label`` and its ``_score`` are written with the vector).
    - ``multilabel``: ``<column>_label``, the labels whose score is above 0.5 (> 0 for logits), joined by ","
      (``""`` when none; label indices when the labels do not fit).
    - ``dense``: ``<column>_positive`` and, for predictions, ``<column>_mean`` (:func:`dense_summary`).
    - ``regression``: ``<column>_value`` (one value per sample) or ``<column>_value_<i>`` for the first
      :data:`MAX_VALUE_COLUMNS` values.
    - ``boxes``: ``<column>_count``, the boxes (rows of (N, 4+)) that are not all zero (padding).
    """
    kind, labels, channel_dim = KindInfo(*info)
    n = len(values)
    if kind == "regression":
        flat = np.asarray(values, np.float64).reshape(n, -1)
        if flat.shape[1] == 1:
            return {value_column(column): flat[:, 0]}
        return {value_column(column, i): flat[:, i] for i in range(min(flat.shape[1], MAX_VALUE_COLUMNS))}
    if kind == "multilabel":
        flat = np.asarray(values, np.float64).reshape(n, -1)
        names = list(labels) if labels and len(labels) == flat.shape[1] else [str(i) for i in range(flat.shape[1])]
        on = flat > _positive_threshold(flat)
        joined = np.array([",".join(names[j] for j in np.flatnonzero(row)) for row in on], dtype=object)
        return {label_column(column): joined}
    if kind == "dense":
        positive, mean = dense_summary(values, labels, channel_dim)
        return {column + POSITIVE_SUFFIX: positive} | ({} if ground_truth else {column + MEAN_SUFFIX: mean})
    if kind == "boxes" and not ground_truth and values.ndim == 3:
        return {column + COUNT_SUFFIX: np.asarray(values, np.float64).any(axis=2).sum(1).astype(np.float64)}
    return {}
