"""The integration test on small real integrations, one broken part at a time."""

from __future__ import annotations

import pytest

from leapscope.exceptions import IntegrationDefinitionError, IntegrationLoadError
from leapscope.integration import load


def test_valid_integration_passes_with_wiring(make_integration, run_check):
    report = run_check(make_integration())
    assert report.valid, report.to_dict()
    assert report.subsets == {"training": 30, "validation": 10}
    wiring = {(e.target, e.argument, e.source) for e in report.wiring}
    assert wiring == {
        ("model", "input", "input:features"),
        ("ce", "label", "gt:label"),
        ("ce", "classes", "prediction:classes"),
        ("accuracy", "label", "gt:label"),
        ("accuracy", "classes", "prediction:classes"),
        ("bars", "classes", "prediction:classes"),
    }
    assert report.part("integration test").checked == 6  # 3 samples x 2 subsets


def _error(report, part):
    result = report.part(part)
    assert result.status == "fail", report.to_dict()
    assert not report.valid
    return result.error


def test_float64_encoder(make_integration, run_check):
    err = _error(
        run_check(make_integration(features="return subset.data['x'][sample_id].astype(np.float64)")), "input encoders"
    )
    assert err["function"] == "features (@input 'features')"
    assert err["subset"] == "training" and err["sample_id"] == 0
    assert err["expected"] == "dtype float32" and "float64" in err["actual"]
    assert "astype(np.float32)" in err["fix"]


def test_shape_changes_between_samples(make_integration, run_check):
    folder = make_integration(features="x = subset.data['x'][sample_id]\nreturn x if sample_id != 1 else x[:3]")
    err = _error(run_check(folder), "input encoders")
    assert err["sample_id"] == 1 and err["problem"] == "shape changed between samples"
    assert "shape (4,) (as for sample id 0 of subset 'training')" in err["expected"]
    assert err["actual"] == "shape (3,)"


def test_nan_in_encoder(make_integration, run_check):
    err = _error(
        run_check(make_integration(label="y = np.eye(3, dtype=np.float32)[0]\ny[1] = np.nan\nreturn y")),
        "ground truths",
    )
    assert err["problem"] == "contains NaN or inf" and "1 of 3 values" in err["actual"]


def test_nested_metadata(make_integration, run_check):
    err = _error(run_check(make_integration(metadata="return {'shape': {'h': 1}}")), "metadata")
    assert err["problem"] == "metadata must be flat"
    assert "key 'shape' holds dict" in err["actual"] and "shape_<part>" in err["fix"]


def test_metadata_type_change(make_integration, run_check):
    err = _error(run_check(make_integration(metadata="return 'x' if sample_id == 2 else 1")), "metadata")
    assert err["problem"] == "metadata column 'info' changed type" and err["sample_id"] == 2


def test_wrong_visualizer_return_type(make_integration, run_check):
    err = _error(run_check(make_integration(visualizer="return ls.Text(['a'])")), "visualizers")
    assert err["expected"] == "ls.HorizontalBar" and err["actual"] == "Text"
    assert err["function"] == "bars (@visualizer 'bars')"


def test_metric_returning_a_scalar(make_integration, run_check):
    err = _error(
        run_check(make_integration(metric="return float((label.argmax(1) == classes.argmax(1)).mean())")), "metrics"
    )
    assert "returned a scalar" in err["problem"] and err["expected"] == "np.ndarray of shape (1,)"
    assert "do not reduce over the batch" in err["fix"]
    report = run_check(make_integration(metric="return float((label.argmax(1) == classes.argmax(1)).mean())"))
    assert report.part("integration test").status == "fail"


def test_duplicate_names_fail_at_load(make_integration):
    folder = make_integration(extra="@ls.metric('accuracy')\ndef accuracy2(label, classes):\n    return label[:, 0]\n")
    with pytest.raises(
        IntegrationDefinitionError,
        match=r"two metric functions are named 'accuracy': 'accuracy' \(.*integration.py:\d+\) and 'accuracy2'",
    ):
        load(folder)


def test_missing_training_subset(make_integration, run_check):
    folder = make_integration(preprocess="return [ls.Subset('validation', [0, 1], None)]")
    err = _error(run_check(folder), "preprocess")
    assert err["problem"] == "missing the training subset"
    assert "['validation']" in err["actual"]


def test_exception_inside_an_encoder_at_one_sample(make_integration, run_check):
    folder = make_integration(
        features="if sample_id == 31:\n    raise KeyError('no file for 31')\nreturn subset.data['x'][sample_id]"
    )
    err = _error(run_check(folder), "input encoders")
    assert err["error"] == "UserCodeError" and err["function"] == "features (@input 'features')"
    assert err["subset"] == "validation" and err["sample_id"] == 31
    assert "raised KeyError: 'no file for 31'" in err["problem"]
    source = (folder / "integration.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if "raise KeyError" in text)
    assert f"{folder / 'integration.py'}:{line})" in err["problem"]  # the user's line, not our internals


def test_metric_not_called_in_test(make_integration, run_check):
    folder = make_integration(
        test="x = features(sample_id, subset)\ny = label(sample_id, subset)\np = model()(x)\nce(y, p)\nbars(p)"
    )
    err = _error(run_check(folder), "metrics")
    assert "never called in the integration test" in err["problem"]


def test_arithmetic_in_test_names_the_line(make_integration, run_check):
    folder = make_integration(
        test="x = features(sample_id, subset)\ny = label(sample_id, subset)\np = model()(x)\nce(y, p)\naccuracy(y, p * 2)\nbars(p)"
    )
    err = _error(run_check(folder), "integration test")
    assert err["error"] == "TracingError"
    assert "'*' on the value of 'prediction:classes'" in err["message"]
    assert (
        f"{folder / 'integration.py'}:" in err["message"]
        and "move this computation into a decorated function" in err["message"]
    )


def test_numpy_call_in_test_is_refused(make_integration, run_check):
    folder = make_integration(
        test="x = features(sample_id, subset)\ny = label(sample_id, subset)\np = model()(x)\nce(y, np.clip(p, 0, 1))\naccuracy(y, p)\nbars(p)"
    )
    err = _error(run_check(folder), "integration test")
    assert "numpy.clip" in err["message"]


def test_model_never_called(make_integration, run_check):
    folder = make_integration(test="features(sample_id, subset)")
    assert _error(run_check(folder), "integration test")["problem"] == "the integration test never calls the model"


def test_unlabeled_subset_skips_ground_truth(make_integration, run_check):
    extra = """
@ls.unlabeled_preprocess
def unlabeled():
    rng = np.random.default_rng(1)
    return ls.Subset("unlabeled", ["u0", "u1"], {"x": {"u0": rng.normal(size=4).astype(np.float32), "u1": rng.normal(size=4).astype(np.float32)}})
"""
    features = "return subset.data['x'][sample_id]"
    metadata = "return {'odd': str(sample_id).endswith('1')}"
    report = run_check(make_integration(extra=extra, features=features, metadata=metadata))
    assert report.valid, report.to_dict()
    assert report.subsets["unlabeled"] == 2


def test_import_error_names_the_users_line(tmp_path):
    (tmp_path / "integration.py").write_text("import leapscope as ls\n\nx = 1 / 0\n")
    with pytest.raises(IntegrationLoadError, match=r"ZeroDivisionError: division by zero at .*integration.py:3"):
        load(tmp_path)


def test_missing_entry_suggests_init(tmp_path):
    with pytest.raises(IntegrationLoadError, match="leapscope init"):
        load(tmp_path)


def test_config_names_entry_and_refuses_unknown_keys(tmp_path):
    (tmp_path / "leapscope.yaml").write_text("entry: other.py\nmodle: x.onnx\n")
    with pytest.raises(IntegrationLoadError, match=r"unknown key\(s\) \['modle'\]"):
        load(tmp_path)


def test_two_loads_do_not_mix(make_integration):
    a = load(make_integration())
    b = load(make_integration(extra="@ls.metric('extra')\ndef extra(classes):\n    return classes[:, 0]\n"))
    assert set(a.integration.metrics) == {"accuracy"}
    assert set(b.integration.metrics) == {"accuracy", "extra"}


def test_future_annotations_resolve(make_integration, run_check):
    extra = "@ls.visualizer('annotated')\ndef annotated(classes: np.ndarray) -> ls.HorizontalBar:\n    return ls.HorizontalBar(classes, ['a', 'b', 'c'])\n"
    test = "x = features(sample_id, subset)\ny = label(sample_id, subset)\np = model()(x)\nce(y, p)\naccuracy(y, p)\nbars(p)\nannotated(p)"
    report = run_check(make_integration(extra=extra, test=test))
    assert report.valid, report.to_dict()
