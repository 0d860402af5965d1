"""The engine's pure parts one by one: config, plan, rows (no model, no processes; fast)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from leapscope.engine.config import EvaluateConfig, EvaluateOptions
from leapscope.engine.plan import batches, choose_subsets, make_plan
from leapscope.engine.rows import ChunkRows, latent_blocks, scalars, vectors
from leapscope.engine.scoring import argmax_labels, labels_for
from leapscope.exceptions import ValidationError
from leapscope.sdk import Subset


def test_the_stored_config_keeps_its_keys():
    # runs are resumed by comparing this dict with the catalog's: its keys must not change
    config = EvaluateConfig.from_arguments(
        subsets=[], max_samples=None, batch_size=8, chunk_size=16, latent=("fc",), model="m.onnx"
    )
    stored = config.to_dict()
    assert list(stored) == ["subsets", "max_samples", "batch_size", "chunk_size", "latent", "model"]
    assert stored["subsets"] is None and stored["latent"] == ["fc"] and stored["model"].endswith("/m.onnx")
    assert EvaluateConfig(**stored) == config
    assert EvaluateOptions(workers=0).n_workers == 0 and EvaluateOptions(workers=0).read_ahead == 2
    assert EvaluateOptions().n_workers >= 1


def test_plan_chunks_subsets_and_its_digest_follows_the_ids():
    train, val = Subset("training", list(range(10))), Subset("validation", ["a", "b", "c"])
    config = EvaluateConfig(chunk_size=4, batch_size=3, max_samples=9)
    plan = make_plan([train, val], config)
    assert [(s, len(ids)) for s, ids in plan.chunks] == [
        ("training", 4),
        ("training", 4),
        ("training", 1),
        ("validation", 3),
    ]
    assert plan.counts == {"training": 9, "validation": 3} and plan.total == 12
    assert plan.first_rows() == [0, 4, 8, 9, 12]
    assert [len(b) for b in batches(plan.chunks[0][1], plan.batch_size)] == [3, 1]
    assert make_plan([train, val], config).digest == plan.digest
    assert make_plan([train, Subset("validation", ["a", "b", "d"])], config).digest != plan.digest
    with pytest.raises(ValidationError, match="unknown subset") as info:
        choose_subsets([train, val], ["test"])
    assert "some of ['training', 'validation']" in str(info.value)
    assert choose_subsets([train, val], ["validation"]) == [val]


def test_vectors_and_scalars_are_null_where_a_sample_has_no_value():
    ok = np.array([0, 2])
    column = vectors(np.array([[1, 2], [3, 4]], np.float32), ok, 3)
    assert column.to_pylist() == [[1.0, 2.0], None, [3.0, 4.0]]
    assert scalars(np.array([0.5, np.nan]), ok, 3, np.array([True, False])).to_pylist() == [0.5, None, None]


def test_labels_of_predictions_and_ground_truths():
    labels = {"classes": ["a", "b", "c"]}
    assert labels_for(3, labels, prediction="classes") == ["a", "b", "c"]
    assert labels_for(4, labels, prediction="classes") is None
    assert labels_for(3, labels) == ["a", "b", "c"]  # a ground truth takes the labels of its length
    names, has_label = argmax_labels(np.array([[0, 1, 0], [0, 0, 0]], np.float32), labels["classes"])
    assert list(names) == ["b", "a"] and list(has_label) == [True, False]


def test_chunk_rows_fill_missing_columns_and_promote_mixed_types():
    rows = ChunkRows(["space"], first_row=0, labels={})
    rows.add({"a": pa.array([1, 2])}, 2)
    rows.add({"a": pa.array([0.5]), "b": pa.array(["x"])}, 1)  # int then float; b first seen mid-chunk
    table = rows.table()
    assert table.column("a").to_pylist() == [1, 2, 0.5] and table.column("b").to_pylist() == [None, None, "x"]
    assert rows.error_table() is None
    rows.latents["space"] += [np.ones((2, 3), np.float32), np.zeros((1, 0), np.float32)]  # 2nd batch: model failed
    dims: dict[str, int] = {}
    block = latent_blocks(rows, dims)["space"]
    assert dims == {"space": 3} and block.shape == (3, 3) and np.isnan(block[2]).all()
