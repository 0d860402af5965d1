"""``leapscope evaluate`` prints the time the whole command took, heatmaps included (a 17 s run said "0.6s")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_evaluate_with_explain_reports_the_whole_time(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "leapscope", "evaluate", str(ROOT / "examples" / "digits"), "-w", str(tmp_path / "ws"),
         "--max-samples", "20", "--workers", "0", "--explain", "saliency"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    found = re.search(
        r"run id: \S+\s+\((\d+\.\d)s in all; the samples took (\d+\.\d)s, the saliency heatmaps", proc.stdout
    )
    assert found, proc.stdout[-1500:]
    total, samples = float(found[1]), float(found[2])
    assert samples <= total <= wall  # the command's own wall time, never the evaluation's alone
    assert (tmp_path / "ws" / "runs").is_dir()
