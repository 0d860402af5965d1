"""Threshold tests: "on samples matching FILTER, mean METRIC stays >= MIN (or <= MAX)".

A test can be run once on a run, or saved per project; saved tests are run on
every new run of the project and their results stored in the catalog.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.exceptions import LeapscopeError
from leapscope.store import Run, Workspace, parse_filter
from leapscope.store._schema import is_score_column

if TYPE_CHECKING:
    import pyarrow as pa

MAX_NAME_LENGTH = 200
"""Longest accepted test name and metric name (characters)."""

__all__ = ["TestResult", "ThresholdTest", "run_saved_tests", "run_test", "save_test", "saved_tests"]


@dataclass(frozen=True)
class ThresholdTest:
    """``filter`` selects samples: ``column op literal [and ...]`` over samples.parquet columns
    (``digit_label == "8" and loss_cross_entropy > 0.5``; see :func:`leapscope.store.parse_filter`;
    it is parsed, never evaluated as code); ``metric`` a column; at least one of ``min`` / ``max``
    (finite numbers)."""

    __test__ = False  # not a pytest class

    metric: str
    filter: str | None = None
    min: float | None = None
    max: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise LeapscopeError(f"test '{self.name or self.metric}': give --min and/or --max")

    def validate(self, schema: pa.Schema | None = None) -> None:
        """Check the name, the bounds and the filter (its columns and literal types too with ``schema``).

        Raises
        ------
        FilterError
            The filter is malformed, too long, names an unknown column or has a literal of the wrong type.
        LeapscopeError
            A name or metric over :data:`MAX_NAME_LENGTH` characters, a NaN/infinite bound, ``min > max``,
            or (with ``schema``) an unknown or non-numeric metric column.
        """
        label = (self.name or self.metric)[:60]
        for field, value in (("name", self.name), ("metric", self.metric)):
            if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
                size = len(value) if isinstance(value, str) else type(value).__name__
                raise LeapscopeError(
                    f"test '{label}': {field} must be a string of at most {MAX_NAME_LENGTH} characters (got {size})"
                )
        for field, bound in (("min", self.min), ("max", self.max)):
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound)
            ):
                raise LeapscopeError(f"test '{label}': {field} must be a finite number, got {bound!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise LeapscopeError(f"test '{label}': min {self.min} is above max {self.max}; no mean can pass")
        parse_filter(self.filter, schema)
        if schema is not None and self.metric not in schema.names:
            candidates = [c for c in schema.names if is_score_column(c)]
            raise LeapscopeError(
                f"test '{label}': the run has no column '{self.metric}'; metric and loss columns: {', '.join(candidates)}"
            )
        if schema is not None:
            import pyarrow as pa

            dtype = schema.field(self.metric).type
            if not (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)):
                raise LeapscopeError(
                    f"test '{label}': column '{self.metric}' holds {dtype} values, not numbers; give a metric_* or loss_* column"
                )

    def describe(self) -> str:
        """One line: ``mean METRIC >= MIN and <= MAX where FILTER``."""
        bounds = " and ".join(
            b
            for b in (
                f">= {self.min}" if self.min is not None else "",
                f"<= {self.max}" if self.max is not None else "",
            )
            if b
        )
        return f"mean {self.metric} {bounds}" + (f" where {self.filter}" if self.filter else "")


@dataclass(frozen=True)
class TestResult:
    """The outcome of one threshold test on one run: the mean (None when no sample matched) over ``n`` samples."""

    __test__ = False

    test: ThresholdTest
    passed: bool
    value: float | None
    n: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, the test as a nested dict."""
        return {**asdict(self), "test": asdict(self.test)}


def run_test(run: Run, test: ThresholdTest) -> TestResult:
    """Evaluate one threshold test on a run.

    The filter is parsed by :func:`leapscope.store.parse_filter` and applied as a pyarrow
    mask; nothing of it is run as code.

    Raises
    ------
    FilterError
        A malformed filter, an unknown filter column or a literal of the wrong type.
    LeapscopeError
        Unknown metric column (the message lists the metric and loss columns) or bad bounds.
    """
    table = run.samples
    test.validate(table.schema)
    mask = parse_filter(test.filter, table.schema).mask(table)
    values = np.asarray(table.column(test.metric).to_numpy(zero_copy_only=False), dtype=float)[mask]
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return TestResult(test, False, None, 0, f"no sample matches {test.filter!r}")
    value = float(values.mean())
    passed = (test.min is None or value >= test.min) and (test.max is None or value <= test.max)
    return TestResult(test, passed, value, len(values), f"{test.describe()}: {value:.4f} on {len(values)} samples")


def save_test(workspace: Workspace, project: str, test: ThresholdTest, *, run: Run | None = None) -> TestResult | None:
    """Save (or replace) a named test of an existing project; with ``run``, also run it there now.

    With ``run`` (a run of ``project``), the test is checked against the run's columns, run on it
    and its result recorded in the catalog at once, so the run it was saved from shows it
    (dashboard, ``GET /api/v1/projects/{project}/tests``). Replacing a test with a different spec
    drops the results of the old spec. Returns the result on ``run``, or None without one.

    Raises
    ------
    FilterError
        The filter is malformed (checked here, and against the columns when the test is run).
    LeapscopeError
        No name, a name over :data:`MAX_NAME_LENGTH` characters, non-finite bounds, a ``run`` of
        another project, or (with ``run``) an unknown or non-numeric metric column.
    StoreError
        No project of that name (it is not created).
    """
    if not test.name:
        raise LeapscopeError("a saved test needs a name (--save NAME)")
    if run is not None and run.row.project != project:
        raise LeapscopeError(
            f"save_test: run {run.id} belongs to project '{run.row.project}', not '{project}'; "
            f"pass a run of '{project}' or run=None"
        )
    test.validate(run.samples.schema if run is not None else None)
    result = run_test(run, test) if run is not None else None
    spec = asdict(test)
    previous = {row.name: row.spec for row in workspace.catalog.tests(project)}
    if test.name in previous and previous[test.name] != spec:
        workspace.catalog.delete_test(project, test.name)  # the old results measured another condition
    test_id = workspace.catalog.save_test(project, test.name, spec)
    if run is not None and result is not None:
        workspace.catalog.record_test_result(
            run.id, test_id, passed=result.passed, value=result.value, detail=result.detail
        )
    return result


def saved_tests(workspace: Workspace, project: str) -> list[tuple[int, ThresholdTest]]:
    """``(id, test)`` of every saved test of a project, by name (specs are loaded, not validated).

    Raises
    ------
    StoreError
        No project of that name.
    """
    return [(row.id, ThresholdTest(**row.spec)) for row in workspace.catalog.tests(project)]


def run_saved_tests(workspace: Workspace, run: Run) -> list[TestResult]:
    """Run every saved test of the run's project; store pass/fail in the catalog.

    A test whose spec no longer validates (e.g. a filter saved before filters were parsed)
    is reported as failing with the reason; it is never executed.
    """
    results = []
    for test_id, test in saved_tests(workspace, run.row.project):
        try:
            result = run_test(run, test)
        except LeapscopeError as exc:
            result = TestResult(test, False, None, 0, str(exc))
        results.append(result)
        workspace.catalog.record_test_result(
            run.id, test_id, passed=result.passed, value=result.value, detail=result.detail
        )
    return results
