"""A decorator-style Tensorleap integration whose load_model uses tf.keras.models.load_model on an .h5 file."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.integration.tensorleap import fixtures

SCRIPT = """
import json, sys
from leapscope import api
folder, workspace = sys.argv[1], sys.argv[2]
report = api.check(folder, samples=2)
run = api.evaluate(folder, workspace=workspace, workers=0)
table = run.samples.to_pandas()
import keras, tensorflow
print(json.dumps({"valid": report.valid, "report": report.to_dict(), "rows": len(table),
                  "errors": int(table["error"].notna().sum()), "backend": keras.backend.backend(),
                  "columns": sorted(table.columns)}))
"""


@pytest.mark.slow
def test_tf_keras_h5_model_runs_on_the_torch_backend(tmp_path):
    # `make install` installs leapscope[tensorflow]; not imported here: it would pick Keras' backend
    assert importlib.util.find_spec("tensorflow") is not None, "tensorflow missing: pip install 'leapscope[tensorflow]'"
    h5 = fixtures.save_keras_h5(tmp_path / "model.h5")
    folder = fixtures.write_decorator_keras(tmp_path / "tl_keras", h5)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder), str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["valid"], result["report"]
    assert result["backend"] == "torch"
    assert result["rows"] == 140 and result["errors"] == 0
    assert {"metric_scores_accuracy", "loss_ce", "info_digit"} <= set(result["columns"])
    assert "retrying with compile=False" in proc.stderr  # the .h5 names a loss function the loader does not have
