"""Threshold tests: "on samples matching FILTER, mean METRIC stays >= MIN (or <= MAX)".

A test can be run once on a run, or saved per project; saved tests are run on
every new run of the project and their results stored in the catalog.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError
from leapscope.store import Run, Workspace

__all__ = ["TestResult", "ThresholdTest", "run_saved_tests", "run_test", "save_test", "saved_tests"]


@dataclass(frozen=True)
class ThresholdTest:
    """``filter`` is a pandas query over samples.parquet columns (``digit_label == "8"``);
    ``metric`` a column; at least one of ``min`` / ``max``."""

    __test__ = False  # not a pytest class

    metric: str
    filter: str | None = None
    min: float | None = None
    max: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise LeapscopeError(f"test '{self.name or self.metric}': give --min and/or --max")

    def describe(self) -> str:
        bounds = " and ".join(b for b in (f">= {self.min}" if self.min is not None else "", f"<= {self.max}" if self.max is not None else "") if b)
        return f"mean {self.metric} {bounds}" + (f" where {self.filter}" if self.filter else "")


@dataclass(frozen=True)
class TestResult:
    __test__ = False

    test: ThresholdTest
    passed: bool
    value: float | None
    n: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "test": asdict(self.test)}


def run_test(run: Run, test: ThresholdTest) -> TestResult:
    """Evaluate one threshold test on a run.

    Raises
    ------
    LeapscopeError
        Unknown metric column or a filter pandas cannot parse (the message lists the columns).
    """
    df = run.to_pandas()
    if test.metric not in df.columns:
        candidates = [c for c in df.columns if c.startswith(("metric_", "loss_"))]
        raise LeapscopeError(f"test: run {run.id} has no column '{test.metric}'; metric and loss columns: {', '.join(candidates)}")
    if test.filter:
        try:
            df = df.query(test.filter)
        except Exception as exc:
            raise LeapscopeError(
                f"test: cannot apply filter {test.filter!r}: {type(exc).__name__}: {exc}; columns: {', '.join(df.columns)}"
            ) from exc
    values = df[test.metric].astype(float).to_numpy()
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return TestResult(test, False, None, 0, f"no sample matches {test.filter!r}")
    value = float(values.mean())
    passed = (test.min is None or value >= test.min) and (test.max is None or value <= test.max)
    return TestResult(test, passed, value, len(values), f"{test.describe()}: {value:.4f} on {len(values)} samples")


def save_test(workspace: Workspace, project: str, test: ThresholdTest) -> None:
    """Save (or replace) a named test of a project."""
    if not test.name:
        raise LeapscopeError("a saved test needs a name (--save NAME)")
    proj = workspace.catalog.project(project)
    with workspace.catalog.connect() as db:
        db.execute(
            "INSERT INTO tests (project_id, name, spec) VALUES (?, ?, ?) ON CONFLICT(project_id, name) DO UPDATE SET spec = excluded.spec",
            (proj.id, test.name, json.dumps(asdict(test))),
        )


def saved_tests(workspace: Workspace, project: str) -> list[tuple[int, ThresholdTest]]:
    proj = workspace.catalog.project(project)
    with workspace.catalog.connect() as db:
        rows = db.execute("SELECT id, spec FROM tests WHERE project_id = ? ORDER BY name", (proj.id,)).fetchall()
    return [(int(r["id"]), ThresholdTest(**json.loads(r["spec"]))) for r in rows]


def run_saved_tests(workspace: Workspace, run: Run) -> list[TestResult]:
    """Run every saved test of the run's project; store pass/fail in the catalog."""
    results = []
    for test_id, test in saved_tests(workspace, run.row.project):
        try:
            result = run_test(run, test)
        except LeapscopeError as exc:
            result = TestResult(test, False, None, 0, str(exc))
        results.append(result)
        with workspace.catalog.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO test_results (run_id, test_id, passed, value, detail) VALUES (?, ?, ?, ?, ?)",
                (run.id, test_id, int(result.passed), result.value, result.detail),
            )
    return results
