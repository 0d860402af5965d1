"""The fast paths of evaluate (issue 15): cheap validation after the first samples, batch hashing, chunk writes.

A bad sample in a later batch (here batch 5, after the samples validated in full) must still be
caught, with the same message the full validation gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import leapscope as ls
from leapscope.engine import encode
from leapscope.engine.encode import FULL_VALIDATION_SAMPLES, EncodedBatch, EncodeState, encode_batch
from leapscope.integration import load, load_subsets
from leapscope.integration._validate import ShapeTracker

PREPROCESS_200 = """
rng = np.random.default_rng(0)
x = rng.normal(size=(200, 4)).astype(np.float32)
y = rng.integers(0, 3, size=200)
data = {"x": x, "y": y}
return [ls.Subset("training", list(range(160)), data), ls.Subset("validation", list(range(160, 200)), data)]
"""
BATCH = 16
BAD = 70  # in batch 5 (ids 64..79) of the training subset, after the samples validated in full
BAD_FEATURES = {
    "shape": "v = subset.data['x'][sample_id]\nreturn v[:3] if sample_id == 70 else v",
    "dtype": "v = subset.data['x'][sample_id]\nreturn v.astype(np.float64) if sample_id == 70 else v",
    "nan": "v = subset.data['x'][sample_id].copy()\nif sample_id == 70:\n    v[2] = np.nan\nreturn v",
    "inf": "v = subset.data['x'][sample_id].copy()\nif sample_id == 70:\n    v[0] = -np.inf\nreturn v",
    "list": "v = subset.data['x'][sample_id]\nreturn v.tolist() if sample_id == 70 else v",
}
EXPECTED = {
    "shape": "shape changed between samples",
    "dtype": "wrong dtype",
    "nan": "1 of 4 values are NaN/inf",
    "inf": "contains NaN or inf",
    "list": "an encoder must return a numpy array",
}


@pytest.fixture
def state_for(make_integration: Callable[..., Path]) -> Iterator[Callable[..., EncodeState]]:
    """``state_for(**overrides)``: a fresh :data:`encode.STATE` for the 200-sample integration (reset afterwards)."""
    folders: dict[str, Path] = {}

    def make(**overrides: str) -> EncodeState:
        key = repr(sorted(overrides.items()))
        if key not in folders:
            folders[key] = make_integration(preprocess=PREPROCESS_200, **overrides)
        integration = load(folders[key]).integration
        subsets = load_subsets(integration)
        encode.STATE = EncodeState(integration, {s.name: s for s in subsets}, ShapeTracker())
        return encode.STATE

    yield make
    encode.STATE = None


def _batches_up_to_fifth(fail_fast: bool = False) -> EncodedBatch:
    for start in range(0, 4 * BATCH, BATCH):
        encode_batch("training", list(range(start, start + BATCH)), fail_fast)
    return encode_batch("training", list(range(4 * BATCH, 5 * BATCH)), fail_fast)


def _full_validation_of_fifth(
    state_for: Callable[..., EncodeState], monkeypatch: pytest.MonkeyPatch, **overrides: str
) -> EncodedBatch:
    """Batch 5 after the same four batches, with every sample validated in full (no fast path)."""
    with monkeypatch.context() as patch:
        patch.setattr(encode, "FULL_VALIDATION_SAMPLES", 10**9)
        state_for(**overrides)
        fifth = _batches_up_to_fifth()
        assert encode.STATE is not None and encode.STATE.validated["training"] == 5 * BATCH - len(fifth.errors)
        return fifth


def _same_batch(a: EncodedBatch, b: EncodedBatch) -> None:
    assert a.ok == b.ok and a.errors == b.errors and a.metadata == b.metadata and a.input_hashes == b.input_hashes
    assert a.inputs.keys() == b.inputs.keys() and a.gts.keys() == b.gts.keys()
    for name in a.inputs:
        np.testing.assert_array_equal(a.inputs[name], b.inputs[name])
    for name in a.gts:
        np.testing.assert_array_equal(a.gts[name], b.gts[name])


def test_later_batches_skip_the_per_sample_validators(
    state_for: Callable[..., EncodeState], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first FULL_VALIDATION_SAMPLES samples of a subset run the full per-sample validators."""
    calls: list[Any] = []
    real = encode.validate_encoded

    def counting(fn: Any, value: Any, **kwargs: Any) -> np.ndarray:
        calls.append(kwargs["sample_id"])
        return real(fn, value, **kwargs)

    monkeypatch.setattr(encode, "validate_encoded", counting)
    state = state_for()
    fifth = _batches_up_to_fifth()
    assert len(fifth.ok) == BATCH and not fifth.errors
    assert state.validated["training"] == FULL_VALIDATION_SAMPLES == 2 * BATCH
    assert set(calls) == set(range(FULL_VALIDATION_SAMPLES))  # input and ground truth of each, none after


@pytest.mark.parametrize("case", sorted(BAD_FEATURES))
def test_a_bad_sample_in_batch_5_is_caught_with_the_full_message(
    state_for: Callable[..., EncodeState], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    state_for(features=BAD_FEATURES[case])
    fifth = _batches_up_to_fifth()
    position = BAD - 4 * BATCH
    assert [e[0] for e in fifth.errors] == [position] and position not in fifth.ok
    assert len(fifth.ok) == BATCH - 1 and fifth.inputs["features"].shape == (BATCH - 1, 4)
    assert fifth.input_hashes[position] is None and fifth.metadata[position] == {}
    function, message = fifth.errors[0][1:]
    assert function == "features (@input 'features')"
    assert EXPECTED[case] in message and "sample id 70" in message
    # the same batch validated sample by sample in full gives the same result, message included
    _same_batch(fifth, _full_validation_of_fifth(state_for, monkeypatch, features=BAD_FEATURES[case]))


def test_a_nan_ground_truth_and_a_changed_metadata_type_in_batch_5(
    state_for: Callable[..., EncodeState], monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = {
        "label": "y = np.eye(3, dtype=np.float32)[subset.data['y'][sample_id]]\nreturn y * np.nan if sample_id == 70 "
        "else y",
        "metadata": "return {'odd': bool(sample_id % 2), 'index': 'x' if sample_id == 75 else int(sample_id)}",
    }
    state_for(**overrides)
    fifth = _batches_up_to_fifth()
    assert [(p, f) for p, f, _ in fifth.errors] == [
        (6, "label (@ground_truth 'label')"),
        (11, "info (@metadata 'info')"),
    ]
    assert "contains NaN or inf" in fifth.errors[0][2] and "changed type" in fifth.errors[1][2]
    _same_batch(fifth, _full_validation_of_fifth(state_for, monkeypatch, **overrides))


def test_a_nan_input_is_the_first_error_even_when_a_later_function_raises(
    state_for: Callable[..., EncodeState], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full validation stops at the NaN input; the fast path (which checks NaN per batch) must report it too."""
    overrides = {
        "features": BAD_FEATURES["nan"],
        "metadata": "if sample_id == 70:\n    raise KeyError('no info')\nreturn {'odd': bool(sample_id % 2)}",
    }
    state_for(**overrides)
    fifth = _batches_up_to_fifth()
    assert [(p, f) for p, f, _ in fifth.errors] == [(6, "features (@input 'features')")]
    assert "NaN" in fifth.errors[0][2]
    _same_batch(fifth, _full_validation_of_fifth(state_for, monkeypatch, **overrides))


def test_fail_fast_raises_for_the_bad_sample_of_batch_5(state_for: Callable[..., EncodeState]) -> None:
    state_for(features=BAD_FEATURES["nan"])
    with pytest.raises(ls.LeapscopeError, match="contains NaN or inf") as info:
        _batches_up_to_fifth(fail_fast=True)
    assert "70" in str(info.value)


def test_input_hashes_are_those_of_each_sample_s_own_bytes(state_for: Callable[..., EncodeState]) -> None:
    """Hashes from the stacked batch equal blake2b-64 of each sample's array (stored runs stay comparable)."""
    state = state_for()
    fifth = _batches_up_to_fifth()
    subset = state.subsets["training"]
    for position, sample_id in enumerate(fifth.sample_ids):
        value = np.ascontiguousarray(subset.data["x"][sample_id])
        assert fifth.input_hashes[position] == hashlib.blake2b(value.tobytes(), digest_size=8).hexdigest()


def test_evaluate_reports_a_bad_sample_of_a_later_batch_in_errors_parquet(
    make_integration: Callable[..., Path], tmp_path: Path
) -> None:
    folder = make_integration(preprocess=PREPROCESS_200, features=BAD_FEATURES["nan"])
    run = ls.evaluate(folder, workspace=tmp_path / "ws", workers=0, batch_size=BATCH, chunk_size=48)
    errors = run.errors.to_pylist()
    assert [(e["subset"], e["sample_id"], e["function"]) for e in errors] == [
        ("training", "70", "features (@input 'features')")
    ]
    assert "contains NaN or inf" in errors[0]["message"] and "1 of 4 values are NaN/inf" in errors[0]["message"]
    table = run.samples
    assert table.num_rows == 200
    failed = [r for r, e in zip(table["sample_id"].to_pylist(), table["error"].to_pylist(), strict=True) if e]
    assert failed == ["70"]
    assert np.isnan(run.latent()[70]).all() and not np.isnan(np.delete(run.latent(), 70, axis=0)).any()


def test_a_chunk_part_lost_in_a_crash_is_evaluated_again(tmp_path: Path) -> None:
    """Parts are not fsynced one by one: progress.json records their size and digest, and a resume keeps only
    the chunks whose parts still match (here: one zero-filled as a crash can leave it, one missing)."""
    import pyarrow as pa

    from leapscope.store import RunWriter
    from leapscope.store._schema import latent_part, samples_part

    writer = RunWriter(tmp_path / "run")
    for index in range(3):
        table = pa.table({"row": np.arange(index * 2, index * 2 + 2), "subset": ["training"] * 2})
        writer.write_chunk(index, table, {"fc": np.ones((2, 3), np.float32)}, None, {"plan": "p", "dims": {"fc": 3}})
    progress = RunWriter(tmp_path / "run").progress()
    assert sorted(writer.intact_chunks(progress)) == ["0", "1", "2"]
    damaged = writer.parts / samples_part(1)
    damaged.write_bytes(b"\0" * damaged.stat().st_size)  # same size, content lost
    (writer.parts / latent_part("fc", 2)).unlink()
    assert sorted(writer.intact_chunks(progress)) == ["0"]
