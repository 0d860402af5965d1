"""store/_run.py: RunWriter chunks -> finalize -> Run reads; resume from progress.json; idempotent finalize."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from leapscope.exceptions import CorruptStorageError, StoreError
from leapscope.store import RunWriter, Workspace, summarize
from leapscope.store import _schema as fmt


def _chunk(first_row: int, n: int, subset: str, *, failing: int | None = None) -> tuple[pa.Table, pa.Table | None]:
    rows = list(range(first_row, first_row + n))
    errors = [None] * n
    error_table = None
    if failing is not None:
        errors[failing] = "metric: boom"
        error_table = pa.Table.from_pylist(
            [
                {
                    fmt.ROW: rows[failing],
                    fmt.SUBSET: subset,
                    fmt.SAMPLE_ID: str(rows[failing]),
                    fmt.FUNCTION: "metric",
                    fmt.MESSAGE: "boom",
                }
            ]
        )
    table = pa.table(
        {
            fmt.ROW: pa.array(rows, pa.int64()),
            fmt.SUBSET: pa.array([subset] * n),
            fmt.SAMPLE_ID: pa.array([str(r) for r in rows]),
            fmt.metric_column("acc"): pa.array([float(r % 2) for r in rows]),
            fmt.loss_column("ce"): pa.array([0.5] * n),
            fmt.ERROR: pa.array(errors, pa.string()),
        }
    )
    return table, error_table


@pytest.fixture
def workspace_run(tmp_path):
    """A catalog row and an empty run folder with a manifest: ``(workspace, run_id)``."""
    ws = Workspace(tmp_path / "ws")
    version = ws.catalog.version(ws.catalog.project("p"), model_hash="m", code_hash="c")
    ws.catalog.create_run("r1", version, {}, {}, 1)
    run_dir = ws.run_dir("r1")
    run_dir.mkdir(parents=True)
    (run_dir / fmt.MANIFEST_FILE).write_text(json.dumps({"latent_spaces": {"fc1": {"layer": "fc1", "pool": "mean"}}}))
    return ws, "r1"


def _write(
    writer: RunWriter, index: int, first_row: int, n: int, subset: str, failing: int | None = None
) -> np.ndarray:
    samples, errors = _chunk(first_row, n, subset, failing=failing)
    latent = np.arange(n * 3, dtype=np.float32).reshape(n, 3) + first_row
    writer.write_chunk(index, samples, {"fc1": latent}, errors, {"plan": "abc", "dims": {"fc1": 3}})
    return latent


def test_chunks_finalize_and_read_back(workspace_run):
    ws, run_id = workspace_run
    run_dir = ws.run_dir(run_id)
    writer = RunWriter(run_dir)
    a = _write(writer, 0, 0, 4, "training", failing=1)
    b = _write(writer, 1, 4, 3, "validation")
    assert sorted(p.name for p in (run_dir / fmt.PARTS_DIR).iterdir()) == sorted(
        [
            fmt.samples_part(0),
            fmt.samples_part(1),
            fmt.latent_part("fc1", 0),
            fmt.latent_part("fc1", 1),
            fmt.errors_part(0),
        ]
    )
    record = writer.finalize(2, ["fc1"], "abc")
    assert record == {"rows": 7, "failed": 1, "chunks": 2, "spaces": ["fc1"], "plan": "abc"}
    assert not (run_dir / fmt.PARTS_DIR).exists() and not (run_dir / fmt.PROGRESS_FILE).exists()
    assert json.loads((run_dir / fmt.COMMIT_FILE).read_text()) == record

    ws.catalog.update_run(run_id, status="complete")
    run = ws.open_run(run_id)
    assert run.num_rows == 7
    assert run.samples[fmt.ROW].to_pylist() == list(range(7))
    assert run.samples[fmt.SUBSET].to_pylist() == ["training"] * 4 + ["validation"] * 3
    np.testing.assert_array_equal(run.latent("fc1"), np.concatenate([a, b]))
    assert run.errors.to_pylist() == [
        {"row": 1, "subset": "training", "sample_id": "1", "function": "metric", "message": "boom"}
    ]
    assert run.sql("SELECT count(*) AS n FROM samples WHERE subset = ?", ["validation"])["n"].to_pylist() == [3]
    summary = summarize(run_dir / fmt.SAMPLES_FILE)
    assert list(summary) == ["training", "validation"]
    assert summary["training"] == {"samples": 4, "failed": 1, "metric_acc": 0.5, "loss_ce": 0.5}


def test_progress_is_the_resume_point(workspace_run):
    ws, run_id = workspace_run
    run_dir = ws.run_dir(run_id)
    assert RunWriter(run_dir).progress() == {"chunks": {}}
    _write(RunWriter(run_dir), 0, 0, 4, "training", failing=2)
    # a new process (a new writer) sees the durable chunk, the plan digest and the latent dims
    progress = RunWriter(run_dir).progress()
    files = progress["chunks"]["0"].pop("files")  # [size, digest] of each part: checked on resume
    assert set(files) == {fmt.samples_part(0), fmt.latent_part("fc1", 0), fmt.errors_part(0)}
    assert progress == {"chunks": {"0": {"rows": 4, "errors": 1}}, "plan": "abc", "dims": {"fc1": 3}}
    with pytest.raises(
        StoreError,
        match=r"cannot be finalized: chunks \['samples-000001.parquet', 'latent-fc1-000001.npy'\] are missing",
    ):
        RunWriter(run_dir).finalize(2, ["fc1"], "abc")
    _write(RunWriter(run_dir), 1, 4, 2, "training")
    assert RunWriter(run_dir).finalize(2, ["fc1"], "abc")["rows"] == 6


def test_finalize_is_idempotent(workspace_run):
    ws, run_id = workspace_run
    run_dir = ws.run_dir(run_id)
    writer = RunWriter(run_dir)
    _write(writer, 0, 0, 2, "training")
    first = writer.finalize(1, ["fc1"], "abc")
    # killed after the commit was durable: the next resume only cleans up and returns the same record
    (run_dir / fmt.PARTS_DIR).mkdir()
    (run_dir / fmt.PARTS_DIR / ("x" + ".tmp")).write_text("left by a killed write")
    assert RunWriter(run_dir).committed() == first
    assert RunWriter(run_dir).finalize(1, ["fc1"], "abc") == first
    assert not (run_dir / fmt.PARTS_DIR).exists()


def test_damaged_progress_is_corrupt_storage(workspace_run):
    ws, run_id = workspace_run
    run_dir = ws.run_dir(run_id)
    (run_dir / fmt.PROGRESS_FILE).write_text("{not json")
    with pytest.raises(CorruptStorageError, match=r"progress.json is not valid JSON.*evaluate again without --resume"):
        RunWriter(run_dir).progress()


def test_a_running_run_has_no_samples_yet(workspace_run):
    ws, run_id = workspace_run
    with pytest.raises(StoreError, match=r"run r1 is running: its artifacts are written when it completes"):
        ws.open_run(run_id).samples_path  # noqa: B018 - the property raises
