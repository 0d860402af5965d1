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
from leapscope.sdk._decorators import Integration
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


def encode_batch(subset_name: str, sample_ids: list[Any], fail_fast: bool = False) -> EncodedBatch:
    """Encode inputs, ground truths and metadata of ``sample_ids`` of one subset."""
    state = STATE
    if state is None:  # pragma: no cover - only reachable if a worker was not forked from evaluate
        raise RuntimeError("encode_batch called without an EncodeState")
    integration, subset = state.integration, state.subsets[subset_name]
    labeled = subset.state is not DataState.UNLABELED
    inputs: dict[str, list[np.ndarray]] = {name: [] for name in integration.input_encoders}
    gts: dict[str, list[np.ndarray]] = {name: [] for name in integration.gt_encoders} if labeled else {}
    metadata: list[dict[str, Any]] = []
    ok: list[int] = []
    errors: list[tuple[int, str, str]] = []
    hashes: list[str | None] = []
    labels = {id(fn): fn_label(fn) for fn in integration.parts()}  # once per batch, not per sample
    for position, sample_id in enumerate(sample_ids):
        row_inputs, row_gts, row_meta = {}, {}, {}
        try:
            for name, enc in integration.input_encoders.items():
                value = call_user(enc.function, sample_id, subset, name=labels[id(enc)], subset=subset_name, sample_id=sample_id)
                row_inputs[name] = validate_encoded(enc, value, subset=subset_name, sample_id=sample_id, dtype=enc.dtype, tracker=state.tracker)
            for name, gt_enc in integration.gt_encoders.items() if labeled else ():
                value = call_user(gt_enc.function, sample_id, subset, name=labels[id(gt_enc)], subset=subset_name, sample_id=sample_id)
                row_gts[name] = validate_encoded(gt_enc, value, subset=subset_name, sample_id=sample_id, tracker=state.tracker)
            for meta in integration.metadata.values():
                value = call_user(meta.function, sample_id, subset, name=labels[id(meta)], subset=subset_name, sample_id=sample_id)
                row_meta.update(validate_metadata(meta, value, subset=subset_name, sample_id=sample_id, types=state.metadata_types))
        except LeapscopeError as exc:
            if fail_fast:
                raise
            errors.append((position, *_error_parts(exc)))
            metadata.append({})
            hashes.append(None)
            continue
        ok.append(position)
        digest = hashlib.blake2b(digest_size=8)  # exact-duplicate detection on encoded inputs
        for value in row_inputs.values():
            digest.update(np.ascontiguousarray(value).tobytes())
        hashes.append(digest.hexdigest())
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
