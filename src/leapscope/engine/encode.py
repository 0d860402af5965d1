"""Sample encoding, run in worker processes so user code cannot block the model loop.

The parent sets :data:`STATE` and then forks the workers, which inherit the
imported integration and its subsets (no second preprocess). Each task encodes one
batch of one subset and returns stacked arrays plus per-sample errors; a failing
sample never fails the batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leapscope._process import die_with_parent
from leapscope.exceptions import LeapscopeError
from leapscope.integration import call_user
from leapscope.integration._validate import ShapeTracker, fn_label, validate_encoded, validate_metadata
from leapscope.sdk._decorators import Decorated, Integration
from leapscope.sdk._runtime import use_secret
from leapscope.sdk._subset import DataState, Subset

__all__ = ["STATE", "EncodeState", "EncodedBatch", "encode_batch", "init_worker"]


@dataclass
class EncodeState:
    """What a worker needs: the integration, the subsets and the expected shapes."""

    integration: Integration
    subsets: dict[str, Subset]
    tracker: ShapeTracker
    metadata_types: dict[str, str] = field(default_factory=dict)


@dataclass
class EncodedBatch:
    """One encoded batch. ``ok`` are the positions that encoded; arrays stack those only."""

    subset: str
    sample_ids: list[Any]
    ok: list[int]
    inputs: dict[str, np.ndarray]
    gts: dict[str, np.ndarray]
    metadata: list[dict[str, Any]]
    errors: list[tuple[int, str, str]]
    input_hashes: list[str | None]


STATE: EncodeState | None = None


def init_worker(parent_pid: int, secret: str | None) -> None:
    """Initializer of an encoding worker: exit when the evaluating process dies; take the run's secret.

    ``parent_pid`` is ``os.getpid()`` of the parent before it forked (see
    :func:`leapscope._process.die_with_parent`); ``secret`` the run's ``AUTH_SECRET`` or None.
    """
    die_with_parent(parent_pid)
    use_secret(secret)


def _error_parts(exc: LeapscopeError) -> tuple[str, str]:
    function = getattr(exc, "function", None) or type(exc).__name__
    return str(function), str(exc)


def _encode_sample(
    state: EncodeState, subset: Subset, sample_id: Any, labels: dict[int, str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Inputs, ground truths (none for an unlabeled subset) and flat metadata of one sample, validated.

    ``labels`` maps ``id(fn)`` of each decorated function to its message label. Raises the
    :class:`LeapscopeError` of the first function that fails.
    """
    integration, where = state.integration, {"subset": subset.name, "sample_id": sample_id}

    def call(fn: Decorated) -> Any:
        return call_user(fn.function, sample_id, subset, name=labels[id(fn)], **where)

    inputs = {
        name: validate_encoded(enc, call(enc), dtype=enc.dtype, tracker=state.tracker, **where)
        for name, enc in integration.input_encoders.items()
    }
    labeled = subset.state is not DataState.UNLABELED
    gts = {
        name: validate_encoded(gt_enc, call(gt_enc), tracker=state.tracker, **where)
        for name, gt_enc in (integration.gt_encoders.items() if labeled else ())
    }
    metadata: dict[str, Any] = {}
    for meta in integration.metadata.values():
        metadata.update(validate_metadata(meta, call(meta), types=state.metadata_types, **where))
    return inputs, gts, metadata


def _input_hash(inputs: dict[str, np.ndarray]) -> str:
    digest = hashlib.blake2b(digest_size=8)  # exact-duplicate detection on encoded inputs
    for value in inputs.values():
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def encode_batch(subset_name: str, sample_ids: list[Any], fail_fast: bool = False) -> EncodedBatch:
    """Encode inputs, ground truths and metadata of ``sample_ids`` of one subset.

    A failing sample is recorded in ``errors`` (position, function, message) and left out of
    the stacked arrays; with ``fail_fast`` its :class:`LeapscopeError` is raised instead.
    """
    state = STATE
    if state is None:  # pragma: no cover - only reachable if a worker was not forked by engine.pool
        raise RuntimeError("encode_batch called without an EncodeState")
    integration, subset = state.integration, state.subsets[subset_name]
    inputs: dict[str, list[np.ndarray]] = {name: [] for name in integration.input_encoders}
    gts: dict[str, list[np.ndarray]] = {name: [] for name in integration.gt_encoders}
    metadata: list[dict[str, Any]] = []
    ok: list[int] = []
    errors: list[tuple[int, str, str]] = []
    hashes: list[str | None] = []
    labels = {id(fn): fn_label(fn) for fn in integration.parts()}  # once per batch, not per sample
    for position, sample_id in enumerate(sample_ids):
        try:
            row_inputs, row_gts, row_meta = _encode_sample(state, subset, sample_id, labels)
        except LeapscopeError as exc:
            if fail_fast:
                raise
            errors.append((position, *_error_parts(exc)))
            metadata.append({})
            hashes.append(None)
            continue
        ok.append(position)
        hashes.append(_input_hash(row_inputs))
        metadata.append(row_meta)
        for name, value in row_inputs.items():
            inputs[name].append(value)
        for name, value in row_gts.items():
            gts[name].append(value)
    return EncodedBatch(
        subset=subset_name,
        sample_ids=list(sample_ids),
        ok=ok,
        inputs={k: np.stack(v) for k, v in inputs.items() if v},
        gts={k: np.stack(v) for k, v in gts.items() if v},
        metadata=metadata,
        errors=errors,
        input_hashes=hashes,
    )
