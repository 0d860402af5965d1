"""Threshold tests: "on samples matching FILTER, mean METRIC stays >= MIN (or <= MAX)".

A test can be run once on a run, or saved per project; saved tests are run on
every new run of the project and their results stored in the catalog.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.exceptions import LeapscopeError
from leapscope.store import Run, Workspace, parse_filter
from leapscope.store._schema import LOSS_PREFIX, METRIC_PREFIX, is_score_column

if TYPE_CHECKING:
    import pyarrow as pa

MAX_NAME_LENGTH = 200
"""Longest accepted test name and metric name (characters)."""

__all__ = ["TestResult", "ThresholdTest", "require_scores", "run_saved_tests", "run_test", "save_test", "saved_tests"]


def _is_utf8(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (a lone surrogate cannot: JSON, SQLite and the terminal refuse it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class ThresholdTest:
    """``filter`` selects samples: ``column op literal [and ...]`` over samples.parquet columns
    (``digit_label == "8" and loss_cross_entropy > 0.5``; see :func:`leapscope.store.parse_filter`;
    it is parsed, never evaluated as code); ``metric`` a ``metric_*`` / ``loss_*`` column (a short name
    such as ``accuracy`` or ``bce`` stands for the run's one ``metric_<name>`` or ``loss_<name>`` column,
    see :meth:`resolved`); at least one of ``min`` / ``max`` (finite numbers)."""

    __test__ = False  # not a pytest class

    metric: str
    filter: str | None = None
    min: float | None = None
    max: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise LeapscopeError(
                f"test '{self.name or self.metric}': no bound; give 'min' and/or 'max' (a finite number; "
                "`leapscope test`: --min / --max)"
            )

    def resolved(self, columns: Sequence[str]) -> ThresholdTest:
        """A copy whose short metric name (``bce``) is replaced by the run's one ``metric_bce`` or
        ``loss_bce`` column (``columns``: the run's columns); unchanged when the metric is already a
        ``metric_*`` / ``loss_*`` name or no column matches (:meth:`validate` then says so).

        Raises
        ------
        LeapscopeError
            Both ``metric_<name>`` and ``loss_<name>`` exist (the message lists both).
        """
        metric = self.metric
        if not isinstance(metric, str) or is_score_column(metric):
            return self
        matches = [prefix + metric for prefix in (METRIC_PREFIX, LOSS_PREFIX) if prefix + metric in columns]
        if len(matches) > 1:
            raise LeapscopeError(
                f"test '{(self.name or metric)[:60]}': metric {metric!r} is ambiguous: the run has both "
                f"{' and '.join(matches)}; fix: give one of them in full (e.g. {matches[1]})"
            )
        return replace(self, metric=matches[0]) if matches else self

    def validate(self, schema: pa.Schema | None = None) -> None:
        """Check the name, the bounds and the filter (its columns and literal types too with ``schema``).

        Raises
        ------
        FilterError
            The filter is malformed, too long, names an unknown column or has a literal of the wrong type.
        LeapscopeError
            A name or metric over :data:`MAX_NAME_LENGTH` characters or holding a control character or lone
            surrogate, a metric that is not a ``metric_*`` / ``loss_*`` column, a NaN/infinite bound,
            ``min > max``, or (with ``schema``) an unknown, ambiguous or non-numeric metric column (a short
            name is checked as the column :meth:`resolved` finds).
        """
        label = (self.name or self.metric)[:60]
        for field, value in (("name", self.name), ("metric", self.metric)):
            if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
                size = len(value) if isinstance(value, str) else type(value).__name__
                raise LeapscopeError(
                    f"test '{label}': {field} must be a string of at most {MAX_NAME_LENGTH} characters (got {size})"
                )
            if not value.isprintable() or not _is_utf8(value):
                raise LeapscopeError(
                    f"test {value.encode('utf-8', 'backslashreplace').decode()[:60]!r}: {field} holds a control "
                    "character or a lone surrogate (an unpaired \\ud800-\\udfff escape, or bytes that are not "
                    "UTF-8), which cannot be stored; fix: give it as plain UTF-8 text"
                )
        for field, bound in (("min", self.min), ("max", self.max)):
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound)
            ):
                raise LeapscopeError(f"test '{label}': {field} must be a finite number, got {bound!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise LeapscopeError(f"test '{label}': min {self.min} is above max {self.max}; no mean can pass")
        parse_filter(self.filter, schema)
        # a short name (bce) is checked as the column it stands for (ambiguous: LeapscopeError)
        metric = self.resolved(schema.names).metric if schema is not None else self.metric
        if schema is not None and metric not in schema.names:
            candidates = [c for c in schema.names if is_score_column(c)]
            short = "" if is_score_column(metric) else f" (nor {_full_names(metric)})"
            raise LeapscopeError(
                f"test '{label}': the run has no column '{metric}'{short}; metric and loss columns: "
                + (", ".join(candidates) or "none")
            )
        if schema is not None:
            import pyarrow as pa

            dtype = schema.field(metric).type
            if not (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)):
                raise LeapscopeError(
                    f"test '{label}': column '{metric}' holds {dtype} values, not numbers; give a metric_* or loss_* column"
                )
        if not is_score_column(metric):
            candidates = [c for c in schema.names if is_score_column(c)] if schema is not None else []
            raise LeapscopeError(
                f"test '{label}': metric {metric!r} is not a metric_* or loss_* column; fix: give one of "
                + (
                    ", ".join(candidates)
                    if candidates
                    else f"the run's metric_* / loss_* columns in full ({_full_names(metric)}), or save the test "
                    "with a run (run=...) so that a short name is looked up among its columns"
                )
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


def _full_names(metric: str) -> str:
    """``metric_<name> or loss_<name>``: the columns a short metric name stands for."""
    return f"{METRIC_PREFIX}{metric} or {LOSS_PREFIX}{metric}"


def require_scores(run: Run, label: str = "") -> None:
    """Refuse a run that is not complete: it has no metric or loss values to test (a failed run's samples
    hold only their errors). ``label`` names the test in the message.

    Raises
    ------
    LeapscopeError
        The run is failed or still running: its status, why (the first sample error) and where to see the rest.
    """
    row = run.row
    if row.status == "complete":
        return
    workspace = run.dir.parent.parent
    where = f"test '{label[:60]}': " if label else ""
    if row.status == "running":
        raise LeapscopeError(
            f"{where}run {run.id} is still running, so it has no metric or loss values to test yet; fix: wait for "
            f"it to complete (`leapscope runs -w {workspace}` shows its status), or, when its process has stopped, "
            f"continue it with `leapscope evaluate <integration folder> -w {workspace} --resume {run.id}`"
        )
    counts = row.counts or {}
    if counts.get("samples") and counts.get("failed") == counts.get("samples"):
        what = f"every one of its {counts['samples']} samples failed"
    else:
        what = row.error or "it stopped before its samples were written"
    first = _first_error(run)
    raise LeapscopeError(
        f"{where}run {run.id} {row.status} ({what}{first}), so it has no metric or loss values to test. "
        f"See why: `leapscope runs -w {workspace}` lists it as {row.status}; every sample's error is in "
        f"{run.dir / 'errors.parquet'} (in Python: ls.open_run({str(workspace)!r}, {run.id!r}).errors). "
        "Fix: correct the failing part (`leapscope check <integration folder>` shows it), evaluate again, "
        "and test the new run"
    )


def _first_error(run: Run) -> str:
    """``; the first: 'model' on training sample 402: ...`` from the run's errors, or ``""`` when it has none."""
    try:
        errors = run.errors
    except LeapscopeError:  # a damaged errors.parquet: the status alone still says what happened
        return ""
    if errors.num_rows == 0 or not {"function", "subset", "sample_id", "message"} <= set(errors.column_names):
        return ""
    first = errors.slice(0, 1).to_pylist()[0]
    message = (str(first["message"] or "").strip().splitlines() or [""])[0][:300]
    if str(first["function"]) in message:  # the message already names the function, subset and sample
        return f"; the first: {message}"
    return f"; the first: '{first['function']}' on {first['subset']} sample {first['sample_id']}: {message}"


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

    A short metric name (``bce``) is resolved to the run's ``metric_bce`` or ``loss_bce`` column
    (:meth:`ThresholdTest.resolved`); the result holds the resolved test.

    Raises
    ------
    FilterError
        A malformed filter, an unknown filter column or a literal of the wrong type.
    LeapscopeError
        A run that is not complete (its status and first error, see :func:`require_scores`), an unknown or
        ambiguous metric column (the message lists the metric and loss columns) or bad bounds.
    """
    require_scores(run, test.name or test.metric)
    table = run.samples
    test = test.resolved(table.schema.names)
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

    With ``run`` (a run of ``project``), a short metric name is resolved against the run's columns (the
    full column name is saved), the test is checked against those columns, run on it
    and its result recorded in the catalog at once, so the run it was saved from shows it
    (dashboard, ``GET /api/v1/projects/{project}/tests``). Replacing a test with a different spec
    drops the results of the old spec. Returns the result on ``run``, or None without one.

    Raises
    ------
    FilterError
        The filter is malformed (checked here, and against the columns when the test is run).
    LeapscopeError
        No name, a name over :data:`MAX_NAME_LENGTH` characters, non-finite bounds, a ``run`` of
        another project, or (with ``run``) a run that is not complete or an unknown, ambiguous or
        non-numeric metric column.
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
    if run is not None:
        require_scores(run, test.name)
        test = test.resolved(run.samples.schema.names)
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
