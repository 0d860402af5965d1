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
from leapscope.integration._validate_fast import fast_metadata, non_finite_rows
from leapscope.sdk._decorators import Decorated, Integration
from leapscope.sdk._runtime import _secrets, use_secret
from leapscope.sdk._subset import DataState, Subset

__all__ = ["FULL_VALIDATION_SAMPLES", "STATE", "EncodeState", "EncodedBatch", "encode_batch", "init_worker"]

#: samples of each subset validated in full (per process) before its batches take the fast path
FULL_VALIDATION_SAMPLES = 32


@dataclass
class EncodeState:
    """What a worker needs: the integration, the subsets and the expected shapes.

    ``metadata_types`` (column -> type name) and ``validated`` (subset -> samples validated in full
    in this process) grow as batches are encoded; ``labels`` caches each function's message label.
    """

    integration: Integration
    subsets: dict[str, Subset]
    tracker: ShapeTracker
    metadata_types: dict[str, str] = field(default_factory=dict)
    validated: dict[str, int] = field(default_factory=dict)
    labels: dict[int, str] | None = None


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
    """Inputs, ground truths (none for an unlabeled subset) and flat metadata of one sample, validated in full.

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


class _FastSample:
    """Encodes one sample with the cheap checks of :mod:`leapscope.integration._validate_fast` (one batch's worth
    of constants computed once); any value they are not sure about goes through the full validators."""

    def __init__(self, state: EncodeState, subset: Subset, labels: dict[int, str]):
        self.state, self.subset, self.name = state, subset, subset.name  # Subset.name is a property: read once
        integration = state.integration
        labeled = subset.state is not DataState.UNLABELED
        encoders: list[tuple[Decorated, np.dtype[Any]]] = [
            (fn, np.dtype(fn.dtype)) for fn in integration.input_encoders.values()
        ]
        encoders += [(fn, np.dtype("float32")) for fn in (integration.gt_encoders.values() if labeled else ())]
        #: (encoder, its function, message label, dtype, reference shape) of every input, then every ground truth
        self.arrays = [(fn, fn.function, labels[id(fn)], dtype, self._shape(fn)) for fn, dtype in encoders]
        self.metadata = [(fn, fn.function, labels[id(fn)]) for fn in integration.metadata.values()]
        self.redacting = bool(_secrets())

    def _shape(self, fn: Decorated) -> tuple[int, ...] | None:
        seen = self.state.tracker.first.get((fn.name, fn.kind))
        return None if seen is None else seen[0]

    def encode(self, sample_id: Any) -> tuple[list[np.ndarray], dict[str, Any]]:
        """The sample's arrays (inputs then ground truths, in :attr:`arrays` order) and metadata columns.

        Raises the :class:`LeapscopeError` of the first function that fails, as :func:`_encode_sample` would;
        NaN/inf is left to the batch check (:func:`_drop_non_finite`).
        """
        state, subset, name = self.state, self.subset, self.name
        values: list[np.ndarray] = []
        try:
            for fn, function, label, dtype, shape in self.arrays:
                value = call_user(function, sample_id, subset, name=label, subset=name, sample_id=sample_id)
                if not (type(value) is np.ndarray and value.dtype == dtype and value.shape == shape):
                    value = validate_encoded(
                        fn, value, subset=name, sample_id=sample_id, dtype=str(dtype), tracker=state.tracker
                    )
                values.append(value)
            metadata: dict[str, Any] = {}
            for meta, function, label in self.metadata:
                raw = call_user(function, sample_id, subset, name=label, subset=name, sample_id=sample_id)
                columns = fast_metadata(meta, raw, state.metadata_types, self.redacting)
                if columns is None:
                    columns = validate_metadata(meta, raw, subset=name, sample_id=sample_id, types=state.metadata_types)
                metadata.update(columns)
        except LeapscopeError:
            self.check_finite(values, sample_id)  # a NaN in an earlier array is the sample's first error
            raise
        return values, metadata

    def check_finite(self, values: list[np.ndarray], sample_id: Any) -> None:
        """Run the full validator on ``values`` (a prefix of :attr:`arrays`): raises for the first non-finite one."""
        for (fn, _, _, dtype, _), value in zip(self.arrays, values, strict=False):
            validate_encoded(fn, value, subset=self.name, sample_id=sample_id, dtype=str(dtype))


def _input_hashes(inputs: list[np.ndarray], n: int) -> list[str]:
    """blake2b-64 of each sample's encoded inputs (their bytes, input after input): exact-duplicate detection.

    ``inputs`` are stacked ``(n, ...)`` C-contiguous arrays, so row ``i`` holds exactly the bytes of sample ``i``'s
    array: the digests equal those of hashing each sample's own arrays.
    """
    rows = [np.ascontiguousarray(a).reshape(n, -1).view(np.uint8) for a in inputs]
    out = []
    for i in range(n):
        digest = hashlib.blake2b(digest_size=8)
        for r in rows:
            digest.update(r[i].data)
        out.append(digest.hexdigest())
    return out


def _full_batch(
    state: EncodeState, subset: Subset, sample_ids: list[Any], labels: dict[int, str], fail_fast: bool
) -> tuple[list[int], list[list[np.ndarray]], list[dict[str, Any]], list[tuple[int, str, str]]]:
    """Every sample validated in full (the first batch of a subset, and fail-fast runs)."""
    integration = state.integration
    ok: list[int] = []
    arrays: list[list[np.ndarray]] = []
    metadata: list[dict[str, Any]] = []
    errors: list[tuple[int, str, str]] = []
    for position, sample_id in enumerate(sample_ids):
        try:
            row_inputs, row_gts, row_meta = _encode_sample(state, subset, sample_id, labels)
        except LeapscopeError as exc:
            if fail_fast:
                raise
            errors.append((position, *_error_parts(exc)))
            metadata.append({})
            continue
        ok.append(position)
        metadata.append(row_meta)
        values = [row_inputs[name] for name in integration.input_encoders]
        values += [row_gts[name] for name in integration.gt_encoders if name in row_gts]
        arrays.append(values)
    return ok, arrays, metadata, errors


def _fast_batch(
    state: EncodeState, subset: Subset, sample_ids: list[Any], labels: dict[int, str]
) -> tuple[list[int], list[list[np.ndarray]], list[dict[str, Any]], list[tuple[int, str, str]], _FastSample]:
    """Every sample with the cheap checks (see :class:`_FastSample`); NaN/inf is checked after stacking."""
    fast = _FastSample(state, subset, labels)
    ok: list[int] = []
    arrays: list[list[np.ndarray]] = []
    metadata: list[dict[str, Any]] = []
    errors: list[tuple[int, str, str]] = []
    for position, sample_id in enumerate(sample_ids):
        try:
            values, row_meta = fast.encode(sample_id)
        except LeapscopeError as exc:
            errors.append((position, *_error_parts(exc)))
            metadata.append({})
            continue
        ok.append(position)
        metadata.append(row_meta)
        arrays.append(values)
    return ok, arrays, metadata, errors, fast


def encode_batch(subset_name: str, sample_ids: list[Any], fail_fast: bool = False) -> EncodedBatch:
    """Encode inputs, ground truths and metadata of ``sample_ids`` of one subset.

    A failing sample is recorded in ``errors`` (position, function, message) and left out of
    the stacked arrays; with ``fail_fast`` its :class:`LeapscopeError` is raised instead.

    Validation: the first batch of each subset (per process) and every batch of a fail-fast run
    are validated sample by sample in full. Later batches take the fast path: per sample only the
    cheap invariants (plain ndarray, the validated dtype and shape, metadata of the types already
    seen), anything else through the full validators; NaN/inf with one ``np.isfinite`` per
    stacked array, the flagged samples then validated in full. Either way a bad sample gets the
    same error message.
    """
    state = STATE
    if state is None:  # pragma: no cover - only reachable if a worker was not forked by engine.pool
        raise RuntimeError("encode_batch called without an EncodeState")
    integration, subset = state.integration, state.subsets[subset_name]
    labels = state.labels
    if labels is None:
        labels = state.labels = {id(fn): fn_label(fn) for fn in integration.parts()}
    fast: _FastSample | None = None
    if fail_fast or state.validated.get(subset_name, 0) < FULL_VALIDATION_SAMPLES:
        ok, arrays, metadata, errors = _full_batch(state, subset, sample_ids, labels, fail_fast)
        state.validated[subset_name] = state.validated.get(subset_name, 0) + len(ok)
    else:
        ok, arrays, metadata, errors, fast = _fast_batch(state, subset, sample_ids, labels)
    n_inputs = len(integration.input_encoders)
    gt_names = list(integration.gt_encoders) if subset.state is not DataState.UNLABELED else []
    stacked = [np.stack([values[k] for values in arrays]) for k in range(n_inputs + len(gt_names))] if arrays else []
    if fast is not None and stacked:
        ok, stacked = _drop_non_finite(fast, sample_ids, ok, stacked, metadata, errors)
    hashes: list[str | None] = [None] * len(sample_ids)
    if ok:
        for position, digest in zip(ok, _input_hashes(stacked[:n_inputs], len(ok)), strict=True):
            hashes[position] = digest
    return EncodedBatch(
        subset=subset_name,
        sample_ids=list(sample_ids),
        ok=ok,
        inputs=dict(zip(integration.input_encoders, stacked[:n_inputs], strict=True)) if ok else {},
        gts=dict(zip(gt_names, stacked[n_inputs:], strict=True)) if ok else {},
        metadata=metadata,
        errors=sorted(errors),
        input_hashes=hashes,
    )


def _drop_non_finite(
    fast: _FastSample,
    sample_ids: list[Any],
    ok: list[int],
    stacked: list[np.ndarray],
    metadata: list[dict[str, Any]],
    errors: list[tuple[int, str, str]],
) -> tuple[list[int], list[np.ndarray]]:
    """Find the samples holding NaN/inf (one vectorised check per stacked array), validate them in full to get
    their error, and drop them from ``ok`` and the stacks (``metadata`` and ``errors`` are updated in place)."""
    flagged = sorted({int(i) for arr in stacked for i in non_finite_rows(arr)})
    if not flagged:
        return ok, stacked
    for i in flagged:
        position = ok[i]
        try:
            fast.check_finite([arr[i] for arr in stacked], sample_ids[position])
        except LeapscopeError as exc:
            errors.append((position, *_error_parts(exc)))
            metadata[position] = {}
    keep = np.ones(len(ok), bool)
    keep[flagged] = False
    return [p for p, k in zip(ok, keep, strict=True) if k], [arr[keep] for arr in stacked]
