"""Every example under examples/ passes `leapscope check` and evaluates (sample limits keep it fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from leapscope import api
from leapscope.store import Workspace
from tests.conftest import REPO

EXAMPLES = REPO / "examples"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leapscope", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if (p / "integration.py").exists()))
@pytest.mark.slow
def test_example_checks_and_evaluates(name, tmp_path):
    check = _cli("check", str(EXAMPLES / name), "--json", "--samples", "2")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert json.loads(check.stdout)["valid"] is True
    run = _cli("evaluate", str(EXAMPLES / name), "-w", str(tmp_path), "--max-samples", "30", "--workers", "1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    stored = Workspace(tmp_path).runs()[0]
    assert stored.status == "complete" and stored.row.counts["failed"] == 0


@pytest.mark.slow
def test_mnist_cnn_domain_shift_is_found(tmp_path):
    run = api.evaluate(EXAMPLES / "mnist-cnn-on-uci-digits", workspace=tmp_path, workers=1)
    accuracy = run.row.summary["validation"]["metric_accuracy"]
    assert 0.75 < accuracy < 0.9  # the MNIST model on UCI digits: ~82 %
    found = api.analyze(tmp_path, run.id, types=["low_performance"])
    assert any("digit_label == '9'" in (i.suggested_test or {}).get("filter", "") for i in found[:3])
