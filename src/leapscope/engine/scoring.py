"""Score one encoded batch: the model's predictions and latent vectors, then every loss and metric (batched).

A failure is a per-sample error, never a failed batch: a model error marks every sample
of the batch, a non-finite prediction marks its sample (it gets no prediction, label,
loss or metric), and a loss or metric that fails on the batch is called again one sample
at a time to find the failing ones. With ``fail_fast`` the first error is raised instead.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leapscope.engine.encode import EncodedBatch
from leapscope.engine.setup import Setup
from leapscope.exceptions import LeapscopeError, ValidationError
from leapscope.integration import call_user, prediction_names
from leapscope.integration._validate import fn_label, validate_per_sample, validate_predictions
from leapscope.sdk._decorators import Decorated
from leapscope.store._manifest import GT_SOURCE, INPUT_SOURCE, PREDICTION_SOURCE, source_key
from leapscope.store._schema import loss_column, metric_column

__all__ = ["Errors", "ScoredBatch", "Scorer", "argmax_labels", "labels_for"]

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
    with ``scored``. ``errors`` holds every sample's errors, by position.
    """

    batch: EncodedBatch
    ok: np.ndarray
    scored: np.ndarray
    predictions: dict[str, np.ndarray]
    latents: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    errors: Errors

    @property
    def size(self) -> int:
        """Samples in the batch (encoded or not)."""
        return len(self.batch.sample_ids)


class Scorer:
    """Predicts and scores encoded batches of one run (see the module docstring)."""

    def __init__(self, setup: Setup, fail_fast: bool):
        self.integration, self.wrapper, self.model_inputs = setup.loaded.integration, setup.wrapper, setup.model_inputs
        self.spaces, self.fail_fast = setup.spaces, fail_fast
        #: (key -> column name, function, {parameter: source}) of every loss, then every metric
        self.scores = [
            (functools.partial(column, name), fn, setup.wiring.arguments_of(fn))
            for column, group in ((loss_column, self.integration.losses), (metric_column, self.integration.metrics))
            for name, fn in group.items()
        ]
        self.predictions = prediction_names(self.integration, setup.wrapper)
        #: prediction name -> its class labels (predictions that declare labels only)
        self.labels = {p.name: p.labels for p in self.integration.predictions if p.labels}
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
        return result

    def _predict(self, batch: EncodedBatch, errors: Errors) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Predictions (name -> (len(ok), ...)) and latent vectors of the encoded samples; empty on a model error."""
        if not batch.ok:
            return {}, {}
        inputs = [batch.inputs[name] for name in self.model_inputs]
        latents: dict[str, np.ndarray] = {}
        try:
            if self.spaces:
                outputs, acts = self.wrapper.predict_with_latent(inputs, list(self.spaces.values()))
                latents = {space: acts[layer] for space, layer in self.spaces.items()}
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
    except LeapscopeError:
        if batch == 1:
            raise
        return _call_per_sample(fn, kwargs, batch, subset, sample_ids)
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
    """(n, C) scores -> (n,) label names (object) of the arg-max and (n,) bool: the row has a label (not all 0)."""
    names = np.asarray(labels, dtype=object)[flat.argmax(1)]
    return names, np.asarray(flat.any(axis=1))
