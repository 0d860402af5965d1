"""The run format (store/_schema.py), the typed manifest and wiring (store/_manifest.py), the generated TS constants."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from leapscope.exceptions import CorruptStorageError, ValidationError
from leapscope.integration import _validate
from leapscope.sdk._decorators import Kind
from leapscope.store import _schema
from leapscope.store._manifest import Manifest, Wiring, WiringEdge, parse_source, source_key
from leapscope.store._typescript import typescript

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "web" / "src" / "generated" / "runFormat.ts"


def test_generated_typescript_is_up_to_date():
    """Drift check: regenerate with `python -m leapscope.store._typescript > web/src/generated/runFormat.ts`."""
    assert GENERATED.read_text(encoding="utf-8") == typescript()


def test_typescript_generator_command_prints_the_module():
    out = subprocess.run(
        [sys.executable, "-m", "leapscope.store._typescript"], capture_output=True, text=True, check=True
    )
    assert out.stdout == typescript()
    assert 'export const RESERVED_PREFIXES = ["gt_", "pred_", "loss_", "metric_"] as const;' in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "leapscope.store._typescript", "--json"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_integration_layer_copy_matches_the_schema():
    """integration/ sits below store/ and keeps its own copy for metadata validation; they must agree."""
    assert _validate.RESERVED_COLUMNS == _schema.RESERVED_COLUMNS
    assert _validate.RESERVED_PREFIXES == _schema.RESERVED_PREFIXES


def test_column_names():
    assert _schema.gt_column("label") == "gt_label"
    assert _schema.pred_column("classes") == "pred_classes"
    assert _schema.metric_column("iou") == "metric_iou"
    assert _schema.metric_column("stats", "precision") == "metric_stats_precision"
    assert _schema.loss_column("ce") == "loss_ce"
    assert _schema.label_column("pred_classes") == "pred_classes_label"
    assert _schema.score_column("pred_classes") == "pred_classes_score"
    assert (
        _schema.is_score_column("loss_ce")
        and _schema.is_score_column("metric_x")
        and not _schema.is_score_column("pred_x")
    )
    names = [
        "row",
        "subset",
        "sample_id",
        "input_hash",
        "error",
        "gt_label",
        "pred_classes",
        "loss_ce",
        "metric_acc",
        "digit",
        "brightness",
    ]
    assert _schema.metadata_columns(names) == ["digit", "brightness"]


def test_file_names():
    assert _schema.samples_part(3) == "samples-000003.parquet"
    assert _schema.latent_part("fc1", 12) == "latent-fc1-000012.npy"
    assert _schema.errors_part(0) == "errors-000000.parquet"
    assert _schema.latent_file("fc1") == "latent/fc1.npy"
    assert _schema.explanation_file("gradcam") == "explanations/gradcam.npy"
    # the cache name of projections written before the schema existed (sha256 of the sorted-JSON key)
    assert _schema.projection_key("fc1", "umap", 2, 0, {"n_neighbors": 15}) == (
        '{"k": 2, "method": "umap", "n_neighbors": 15, "seed": 0, "space": "fc1"}'
    )
    assert (
        _schema.projection_file("fc1", "pca", 2, 0)
        == "projections/fc1-pca-"
        + __import__("hashlib").sha256(b'{"k": 2, "method": "pca", "seed": 0, "space": "fc1"}').hexdigest()[:12]
        + ".npy"
    )
    assert (
        _schema.projection_file("fc1", "pca", 2, 0)
        .removeprefix("projections/")
        .startswith(_schema.projection_prefix("fc1", "pca"))
    )


def _manifest(**overrides):
    data = {
        "run_id": "r1",
        "project": "p",
        "version": "v1",
        "integration": {
            "root": "/x",
            "entry": "/x/integration.py",
            "code_hash": "abc",
            "name": "p",
            "parts": [
                {
                    "kind": "metric",
                    "name": "acc",
                    "function": "acc",
                    "params": ["g", "p"],
                    "direction": "higher",
                    "compute_insights": True,
                },
                {
                    "kind": "metric",
                    "name": "err",
                    "function": "err",
                    "params": ["g", "p"],
                    "direction": {"rate": "lower", "n": "higher"},
                },
                {"kind": "metric", "name": "dist", "function": "dist", "params": ["g", "p"], "direction": "lower"},
            ],
        },
        "wiring": [
            {"target": "model", "kind": "model", "argument": "b", "source": "input:second"},
            {"target": "model", "kind": "model", "argument": "a", "source": "input:first"},
            {"target": "acc", "kind": "metric", "argument": "g", "source": "gt:label"},
            {"target": "acc", "kind": "metric", "argument": "p", "source": "prediction:classes"},
            {"target": "acc", "kind": "metric", "argument": "k", "source": "constant:3"},
        ],
        "model": {
            "framework": "onnx",
            "inputs": [
                {"name": "a", "shape": [None, 4], "dtype": "float32", "layout": None},
                {"name": "b", "shape": None, "dtype": None, "layout": None},
            ],
            "outputs": [],
            "source": "/x/model.onnx",
        },
        "predictions": [{"name": "classes", "labels": ["x", "y"], "channel_dim": -1}],
        "subsets": {"training": {"count": 10, "total": 12, "id_type": "int"}},
        "latent_spaces": {"fc1": {"layer": "/fc1/Gemm", "pool": "mean"}},
        "config": {"batch_size": 64},
        "unlabeled_subsets": [],
    }
    data.update(overrides)
    return data


def test_manifest_round_trip_keeps_unknown_keys_and_order():
    data = _manifest(future_key={"x": 1})
    data["integration"]["parts"][0]["new_part_key"] = 5
    typed = Manifest.from_dict(data)
    assert json.dumps(typed.to_dict()) == json.dumps(data)
    assert typed.subsets["training"].sample_key("7") == 7
    assert typed.class_names == ["x", "y"]
    assert typed.model.input_names == ["a", "b"]


def test_metric_direction_from_the_typed_manifest():
    typed = Manifest.from_dict(_manifest())
    assert typed.metric_direction("metric_acc") == "higher"
    assert typed.metric_direction("metric_err_rate") == "lower"
    assert typed.metric_direction("metric_err_n") == "higher"
    assert typed.metric_direction("metric_dist") == "lower"
    assert typed.metric_direction("metric_unknown") == "higher"


def test_wiring_model_inputs_follow_the_model_slots_not_the_edge_order():
    typed = Manifest.from_dict(_manifest())
    wiring = Wiring.from_manifest(typed)
    assert wiring.model_inputs() == ["first", "second"]
    assert wiring.model_inputs(["b", "a"]) == ["second", "first"]
    assert Wiring.from_manifest(_manifest()).model_inputs() == ["first", "second"]  # from the plain dict too


def test_wiring_refuses_an_unfed_model_input():
    wiring = Wiring.from_edges([WiringEdge("model", "model", "a", "input:first")])
    with pytest.raises(ValidationError, match="does not feed every model input") as info:
        wiring.model_inputs(["a", "b"])
    assert "unfed: ['b']" in str(info.value)
    with pytest.raises(ValidationError, match="model's input order"):
        wiring.model_inputs()


def test_wiring_arguments_of_a_function():
    wiring = Wiring.from_manifest(_manifest())
    assert wiring.arguments_of("metric", "acc") == {"g": "gt:label", "p": "prediction:classes"}
    assert wiring.arguments_of("metric", "acc", constants=True)["k"] == "constant:3"
    assert wiring.arguments_of("loss", "acc") == {}

    decorated = SimpleNamespace(kind=Kind.METRIC, name="acc")  # what arguments_of reads of a Decorated
    assert wiring.arguments_of(decorated) == wiring.arguments_of("metric", "acc")
    assert source_key("gt", "label") == "gt:label" and parse_source("prediction:classes") == ("prediction", "classes")


def test_digits_manifest_round_trips(digits_run):
    """The manifest evaluate writes for the digits example reads back typed, unchanged byte for byte."""
    raw = (digits_run.dir / _schema.MANIFEST_FILE).read_text()
    data = json.loads(raw)
    typed = digits_run.typed_manifest
    assert json.dumps(typed.to_dict(), indent=2) == json.dumps(data, indent=2)
    assert typed.run_id == digits_run.id
    assert typed.wiring_of().model_inputs() == [
        parse_source(e["source"])[1] for e in data["wiring"] if e["kind"] == "model"
    ]
    assert set(typed.subsets) == {"training", "validation", "test"}
    for column in digits_run.samples.column_names:
        if column.startswith(_schema.METRIC_PREFIX):
            assert typed.metric_direction(column) in ("higher", "lower")


def test_a_manifest_missing_a_key_is_corrupt_storage(tmp_path):
    from leapscope.store import Workspace

    ws = Workspace(tmp_path / "ws")
    project = ws.catalog.project("p")
    version = ws.catalog.version(project, model_hash="m", code_hash="c")
    ws.catalog.create_run("r1", version, {}, {}, 1)
    run_dir = ws.run_dir("r1")
    run_dir.mkdir(parents=True)
    data = _manifest()
    del data["wiring"]
    (run_dir / _schema.MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(CorruptStorageError, match=r"manifest.json is not a run manifest.*'wiring'"):
        ws.open_run("r1").typed_manifest  # noqa: B018 - the property raises
