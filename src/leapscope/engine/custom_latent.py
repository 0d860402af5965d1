"""Custom latent spaces (``@ls.latent_space``) during evaluation: computed per batch next to the model's.

A custom space is listed in :attr:`Setup.spaces <leapscope.engine.setup.Setup>` (and the manifest's
``latent_spaces``) with the layer ``custom:<function>``; the scorer leaves those out of the model's
forward pass and asks :class:`CustomLatents` for them. Vectors are validated by
:func:`leapscope.integration._validate_latent.validate_latent` (float, finite, one length D per run):
a failure is a per-sample error (NaN vector, the sample is an error row) unless ``fail_fast``.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError, ValidationError
from leapscope.integration import call_user
from leapscope.integration._validate import fn_label
from leapscope.integration._validate_latent import validate_latent
from leapscope.sdk._latent import LatentSpace
from leapscope.sdk._registry import Integration

if typing.TYPE_CHECKING:
    from leapscope.engine.encode import EncodedBatch
    from leapscope.engine.setup import Setup

__all__ = ["CUSTOM_LAYER", "CustomLatents", "custom_spaces", "is_custom"]

#: prefix of the "layer" of a custom latent space in Setup.spaces and manifest.json
CUSTOM_LAYER = "custom:"

#: position in the batch -> [(function, message)] (as in :mod:`leapscope.engine.scoring`)
Errors = dict[int, list[tuple[str, str]]]


def is_custom(layer: str) -> bool:
    """Whether a Setup.spaces layer names a custom latent space rather than a model layer."""
    return layer.startswith(CUSTOM_LAYER)


def custom_spaces(integration: Integration, model_spaces: dict[str, str]) -> dict[str, str]:
    """Space name -> ``custom:<function>`` of every ``@ls.latent_space`` of ``integration``.

    Raises
    ------
    ValidationError
        A custom space is named like a model latent space of the same run.
    """
    out = {}
    for name, fn in integration.latent_spaces.items():
        if name in model_spaces:
            raise ValidationError(
                f"latent space name '{name}' is also the name of the model layer space stored by this run",
                function=fn_label(fn),
                fix="give @ls.latent_space another name",
            )
        out[name] = f"{CUSTOM_LAYER}{fn.__name__}"
    return out


class CustomLatents:
    """Computes the custom latent spaces of one run's batches (see the module docstring)."""

    def __init__(self, setup: Setup, fail_fast: bool):
        self.functions: list[LatentSpace] = list(setup.loaded.integration.latent_spaces.values())
        self.subsets = {s.name: s for s in setup.all_subsets}
        self.wrapper, self.model_inputs, self.fail_fast = setup.wrapper, setup.model_inputs, fail_fast
        self.dims: dict[str, int] = {}

    def compute(
        self, batch: EncodedBatch, predictions: dict[str, np.ndarray], keep: np.ndarray, errors: Errors
    ) -> dict[str, np.ndarray]:
        """Space -> (len(batch.ok), D) float32 of every custom space (NaN rows where it failed).

        ``predictions`` (name -> (len(ok), ...)) are the model outputs of the encoded samples, ``keep``
        ((len(ok),) bool) those that are finite; prediction-based spaces see only those.
        """
        out: dict[str, np.ndarray] = {}
        if not self.functions or not batch.ok:
            return out
        for fn in self.functions:
            values = self._one(fn, batch, predictions, keep, errors)
            if values is not None:
                out[fn.name] = values
        return out

    def _fail(self, exc: LeapscopeError, positions: list[int], errors: Errors, fn: LatentSpace) -> None:
        if self.fail_fast:
            raise exc
        for i in positions:
            errors[i].append((fn_label(fn), str(exc)))

    def _one(
        self,
        fn: LatentSpace,
        batch: EncodedBatch,
        predictions: dict[str, np.ndarray],
        keep: np.ndarray,
        errors: Errors,
    ) -> np.ndarray | None:
        ok = list(batch.ok)
        if fn.source == "sample":
            return self._per_sample(fn, batch, errors)
        rows = np.arange(len(ok))
        try:
            if fn.source == "prediction":
                if fn.prediction not in predictions:
                    return None  # the model failed on this batch: its samples are error rows already
                rows = np.flatnonzero(keep)
                argument = predictions[str(fn.prediction)][rows]
            else:
                inputs = [batch.inputs[name] for name in self.model_inputs]
                argument = self.wrapper.activations(inputs, [str(fn.layer)])[str(fn.layer)]
            if len(rows) == 0:
                return None
            value = call_user(functools.partial(fn.function, argument), name=fn_label(fn), subset=batch.subset)
            vectors = validate_latent(fn, value, batch=len(rows), subset=batch.subset, sample_id=None, dims=self.dims)
        except LeapscopeError as exc:
            self._fail(exc, [ok[i] for i in rows], errors, fn)
            return None
        block = np.full((len(ok), vectors.shape[1]), np.nan, np.float32)
        block[rows] = vectors
        return block

    def _per_sample(self, fn: LatentSpace, batch: EncodedBatch, errors: Errors) -> np.ndarray | None:
        subset = self.subsets[batch.subset]
        vectors: list[np.ndarray | None] = []
        for i in batch.ok:
            sample_id: Any = batch.sample_ids[i]
            try:
                value = call_user(
                    fn.function, sample_id, subset, name=fn_label(fn), subset=batch.subset, sample_id=sample_id
                )
                vectors.append(
                    validate_latent(fn, value, batch=None, subset=batch.subset, sample_id=sample_id, dims=self.dims)
                )
            except LeapscopeError as exc:
                self._fail(exc, [i], errors, fn)
                vectors.append(None)
        dim = self.dims.get(fn.name)
        if dim is None:
            return None
        return np.stack([v if v is not None else np.full(dim, np.nan, np.float32) for v in vectors])
