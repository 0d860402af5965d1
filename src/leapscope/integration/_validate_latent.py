"""Validation of custom latent vectors (``@ls.latent_space``) and the integration-check step that runs them.

:func:`validate_latent` is shared by the integration check and evaluate: what passes ``leapscope
check`` passes evaluate. :func:`check_latent_spaces` calls every per-sample latent function on the
checked samples (batched ones, ``layer=`` / ``prediction=``, are checked against the model's
declared outputs and layers here, and on real batches at evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError, ValidationError
from leapscope.integration._usercode import call_user
from leapscope.integration._validate_base import _describe, fn_label
from leapscope.sdk._latent import LatentSpace
from leapscope.sdk._registry import Integration
from leapscope.sdk._subset import Subset

__all__ = ["check_latent_spaces", "validate_latent"]

PART = "latent spaces"


def validate_latent(
    fn: LatentSpace,
    value: Any,
    *,
    batch: int | None,
    subset: str | None,
    sample_id: Any,
    dims: dict[str, int] | None = None,
) -> np.ndarray:
    """A custom latent value as float32: (D,) for one sample (``batch`` None, any shape flattened), else
    (batch, D) (trailing axes flattened).

    ``dims`` (space name -> D) is read and updated, so every sample of a run has the same length.

    Raises
    ------
    ValidationError
        Not a numeric array, wrong batch size, empty, non-finite values, or another length than before
        (the message names the function, subset and sample).
    """
    label = fn_label(fn)
    form = "(sample_id, subset) -> 1-D np.ndarray" if batch is None else f"(batch) -> np.ndarray of shape ({batch}, D)"
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists
        raise ValidationError(
            f"the latent space function returned a value that is not an array ({exc})",
            function=label,
            subset=subset,
            sample_id=sample_id,
            expected=form,
            actual=type(value).__name__,
            fix="return a numeric np.ndarray",
        ) from exc
    if (
        not isinstance(value, np.ndarray | list | tuple)
        or not np.issubdtype(array.dtype, np.number)
        or array.dtype.kind == "c"
    ):
        raise ValidationError(
            "the latent space function must return a real numeric array",
            function=label,
            subset=subset,
            sample_id=sample_id,
            expected=form,
            actual=_describe(value),
            fix="return np.asarray(vector, dtype=np.float32)",
        )
    if batch is None:
        array = array.reshape(-1)
    else:
        if array.ndim == 0 or array.shape[0] != batch:
            raise ValidationError(
                "the batched latent space function must return one vector per sample of the batch",
                function=label,
                subset=subset,
                sample_id=sample_id,
                expected=form,
                actual=_describe(value),
                fix="keep the batch axis first: return an array of shape (B, D)",
            )
        array = array.reshape(batch, -1)
    length = array.shape[-1]
    if length == 0:
        raise ValidationError(
            "the latent space function returned an empty vector",
            function=label,
            subset=subset,
            sample_id=sample_id,
            expected="at least one value per sample",
            actual=_describe(value),
            fix="return a vector with D >= 1 values",
        )
    if not np.isfinite(array).all():
        raise ValidationError(
            f"the latent space function returned {int((~np.isfinite(array)).sum())} NaN or inf value(s)",
            function=label,
            subset=subset,
            sample_id=sample_id,
            expected="finite values",
            actual=_describe(value),
            fix="replace NaN/inf (e.g. np.nan_to_num) or fix the computation",
        )
    if dims is not None:
        known = dims.setdefault(fn.name, length)
        if known != length:
            raise ValidationError(
                "the latent space function returned vectors of different lengths",
                function=label,
                subset=subset,
                sample_id=sample_id,
                expected=f"{known} values per sample (as for the first sample)",
                actual=f"{length} values",
                fix="return the same length D for every sample (pad, pool or project)",
            )
    return array.astype(np.float32, copy=False)


def _declared(integration: Integration, fn: LatentSpace, predictor: Any) -> None:
    """A batched latent space names a declared prediction, or a layer the model has."""
    if fn.prediction is not None:
        names = [p.name for p in integration.predictions] or [o.name for o in getattr(predictor, "outputs", [])]
        if names and fn.prediction not in names:
            raise ValidationError(
                f"the latent space reads prediction '{fn.prediction}', which the model does not have",
                function=fn_label(fn),
                argument="prediction",
                expected=f"one of {', '.join(names)}",
                actual=repr(fn.prediction),
                fix="name a prediction declared in @ls.load_model(predictions=[...])",
            )
    if fn.layer is not None and hasattr(predictor, "resolve_layers"):
        try:
            predictor.resolve_layers([fn.layer])
        except LeapscopeError as exc:
            raise ValidationError(
                f"the latent space reads layer '{fn.layer}': {exc}",
                function=fn_label(fn),
                argument="layer",
                fix="name a layer of the model (see `leapscope layers`)",
            ) from exc


def check_latent_spaces(
    integration: Integration, parts: Any, predictor: Any, subsets: Sequence[Subset], samples: int
) -> None:
    """Integration-check step: each ``@ls.latent_space`` called/validated; failures go to ``parts`` (part
    "latent spaces")."""
    if not integration.latent_spaces:
        return
    dims: dict[str, int] = {}
    for fn in integration.latent_spaces.values():
        with parts.guard(PART):
            _declared(integration, fn, predictor)
            if fn.source != "sample":
                parts.ok(PART)
                continue
            for subset in subsets:
                for sample_id in subset.sample_ids[:samples]:
                    value = call_user(
                        fn.function, sample_id, subset, name=fn_label(fn), subset=subset.name, sample_id=sample_id
                    )
                    validate_latent(fn, value, batch=None, subset=subset.name, sample_id=sample_id, dims=dims)
                    parts.ok(PART)
