"""Analyze a stored run: assemble the detectors' input, run the registered detectors, store the insights.

Results are written under the run folder (``insights.json``) atomically, and into the
catalog's ``insights`` table.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leapscope.analysis.clustering import latent_clusters
from leapscope.analysis.insights import AnalysisInput, DetectOptions, Detector, Insight, detectors
from leapscope.analysis.insights.record import INSIGHT_TYPES
from leapscope.analysis.projections import latent_note
from leapscope.exceptions import CorruptStorageError
from leapscope.runs.dismissals import dismissed_pairs
from leapscope.runs.inputs import analysis_input
from leapscope.store import Run, Workspace, write_json
from leapscope.store._files import read_json_file
from leapscope.store._schema import INSIGHTS_FILE

__all__ = [
    "INSIGHTS_FILE",
    "AnalyzeConfig",
    "DetectorStatus",
    "analyze",
    "load_insights",
    "load_statuses",
    "read_insights_file",
    "skip_reason",
]


@dataclass(frozen=True)
class AnalyzeConfig:
    """How :func:`analyze` runs.

    Attributes
    ----------
    types : sequence of str or None
        Insight types to look for (default: every registered one, see
        :func:`leapscope.analysis.insights.detector_names`).
    seed : int
        Makes clustering and every detector deterministic.
    min_samples : int
        The smallest group reported, default 10 (``analyze --min-group-size``; ``domain_gap`` uses
        twice this, ``low_performance`` needs a scope of twice this).
    space : str or None
        The latent space (default: the run's first).
    """

    types: Sequence[str] | None = None
    seed: int = 0
    min_samples: int = 10
    space: str | None = None


def analyze(
    run: Run, config: AnalyzeConfig | None = None, *, workspace: Workspace | None = None, **options: Any
) -> list[Insight]:
    """Find every insight type on a run; store them (insights.json + catalog); return them ranked.

    ``options`` are :class:`AnalyzeConfig` fields (``types=``, ``seed=``, ``min_samples=``,
    ``space=``); they override those of ``config``. ``workspace`` defaults to the one holding
    the run.

    Raises
    ------
    LeapscopeError
        Unknown insight type.
    TypeError
        An option that is not an :class:`AnalyzeConfig` field.
    """
    config = dataclasses.replace(config or AnalyzeConfig(), **options)
    chosen = detectors(list(config.types) if config.types else None)
    data = analysis_input(run, config.space)
    data.dismissed = dismissed_pairs(workspace or Workspace(run.dir.parents[1]), run.row.project)  # "not a duplicate"
    clusters = latent_clusters(data.latent, seed=config.seed) if data.has_latent else np.full(data.n, -1)
    space_name = config.space or (run.latent_spaces[0] if run.latent_spaces else "")
    note = latent_note(data.latent, space_name) if data.has_latent else None
    constant = note if note is not None and " is constant:" in note else None
    detect = DetectOptions(clusters=clusters, seed=config.seed, min_samples=config.min_samples)
    found: list[Insight] = []
    timings: dict[str, float] = {}
    statuses: list[DetectorStatus] = []
    for detector in chosen:
        start = time.perf_counter()
        reason = skip_reason(detector, data, detect, constant_latent=constant)
        new: list[Insight] = [] if reason else detector.detect(data, detect)
        found += new
        timings[detector.name] = round(time.perf_counter() - start, 3)
        statuses.append(DetectorStatus(detector.name, "skipped" if reason else "ran", reason, len(new)))
    found.sort(key=lambda i: -i.severity)
    write_json(
        run.dir / INSIGHTS_FILE,
        {
            "run_id": run.id,
            "seed": config.seed,
            "min_samples": config.min_samples,
            "timings": timings,
            "detectors": [dataclasses.asdict(st) for st in statuses],
            "latent_note": note,
            "clusters": clusters.tolist(),
            "insights": [i.to_dict() for i in found],
        },
    )
    (workspace or Workspace(run.dir.parents[1])).catalog.save_insights(run.id, [i.to_dict() for i in found])
    return found


@dataclass(frozen=True)
class DetectorStatus:
    """What one insight detector did in the last :func:`analyze` of a run.

    ``status`` is ``"ran"`` or ``"skipped"``; ``reason`` says why it was skipped (None when it ran);
    ``found`` is the number of insights it reported.
    """

    type: str
    status: str
    reason: str | None
    found: int

    def describe(self) -> str:
        """``mislabeled: skipped (no class labels ...)`` / ``low_performance: ran, 2 found``."""
        if self.status == "skipped":
            return f"{self.type}: skipped ({self.reason})"
        return f"{self.type}: ran, {self.found} found"


def skip_reason(
    detector: Detector, data: AnalysisInput, options: DetectOptions, *, constant_latent: str | None = None
) -> str | None:
    """Why ``detector`` cannot run on ``data`` (None when it can): no class labels, no latent space (or
    ``constant_latent``, the :func:`~leapscope.analysis.projections.latent_note` of a latent space with no
    varying column), too few samples, no finite loss, or what its ``applies`` says it needs."""
    if detector.needs_classes and not data.class_names:
        return "no class labels: the run has no prediction of kind 'class' with labels"
    if detector.needs_latent and not data.has_latent:
        return "no latent space: evaluate with --latent LAYER (list them with `leapscope layers`)"
    if detector.needs_latent and constant_latent:
        return constant_latent
    if data.n < options.min_samples:
        return f"too few samples: {data.n} in the run, the smallest group reported is {options.min_samples}"
    if detector.name in ("low_performance", "overfitting") and not np.isfinite(data.loss).any():
        return f"no finite {data.loss_name} value"
    if not detector.applies(data):
        needs = (detector.applies.__doc__ or "").strip().splitlines()
        return f"does not apply to this run{': ' + needs[0] if needs else ''}"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_INSIGHT_FIELDS: dict[str, tuple[str, Any]] = {
    "severity": ("a number", _is_number),
    "subset": ("a string", lambda v: isinstance(v, str)),
    "rows": ("a list of integers", lambda v: isinstance(v, list) and all(_is_int(r) for r in v)),
    "sample_ids": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str | int) for x in v)),
    "statistics": ("an object", lambda v: isinstance(v, dict)),
    "explanation": ("a string", lambda v: isinstance(v, str)),
    "title": ("a string", lambda v: isinstance(v, str)),
}
_OPTIONAL_FIELDS: dict[str, tuple[str, Any]] = {
    "suggested_test": ("an object or null", lambda v: v is None or isinstance(v, dict)),
    "extra": ("an object", lambda v: isinstance(v, dict)),
    "confidence": ("a number or null", lambda v: v is None or _is_number(v)),
}


def _check_insights_file(data: Any, n_rows: int) -> str | None:
    """Why a parsed ``insights.json`` is not one :func:`analyze` wrote (None when it is)."""
    if not isinstance(data, dict):
        return f"it holds a JSON {type(data).__name__}, expected an object"
    insights = data.get("insights")
    if not isinstance(insights, list):
        return "its 'insights' is missing or not a list"
    for i, item in enumerate(insights):
        if not isinstance(item, dict):
            return f"insight {i} is a JSON {type(item).__name__}, expected an object"
        if item.get("type") not in INSIGHT_TYPES:
            return f"insight {i} has type {str(item.get('type'))[:40]!r}, expected one of {', '.join(INSIGHT_TYPES)}"
        for name, (kind, ok) in _INSIGHT_FIELDS.items():
            if name not in item or not ok(item[name]):
                return f"insight {i}: '{name}' is missing or not {kind}"
        for name, (kind, ok) in _OPTIONAL_FIELDS.items():
            if name in item and not ok(item[name]):
                return f"insight {i}: '{name}' is not {kind}"
        if len(item["rows"]) != len(item["sample_ids"]):
            return f"insight {i} has {len(item['rows'])} rows but {len(item['sample_ids'])} sample ids"
        bad = next((r for r in item["rows"] if not 0 <= r < n_rows), None)
        if bad is not None:
            return f"insight {i} names row {bad}, outside the run's 0..{n_rows - 1}"
    clusters = data.get("clusters")
    if clusters is not None and (
        not isinstance(clusters, list) or len(clusters) != n_rows or not all(c is None or _is_int(c) for c in clusters)
    ):
        return f"its 'clusters' is not a list of {n_rows} integers (one per sample)"
    detectors_ = data.get("detectors", [])
    if not isinstance(detectors_, list) or not all(
        isinstance(d, dict)
        and isinstance(d.get("type"), str)
        and isinstance(d.get("status"), str)
        and (d.get("reason") is None or isinstance(d.get("reason"), str))
        and _is_int(d.get("found", 0))
        for d in detectors_
    ):
        return "its 'detectors' is not a list of {type, status, reason, found} objects"
    return None


def read_insights_file(run: Run) -> dict[str, Any] | None:
    """The checked content of the run's ``insights.json`` (None when the run was never analyzed).

    Every field the readers use is checked (types; rows inside ``0..N-1``, so no row can name the
    wrong sample; one cluster per sample).

    Raises
    ------
    CorruptStorageError
        The file is a link leading outside the run folder, not valid JSON, or not what :func:`analyze`
        writes; the message names the file, what is wrong and the fix (analyze again).
    """
    path = run.file(INSIGHTS_FILE)
    if not path.exists():
        return None
    fix = (
        f"analyze the run again (`leapscope analyze {run.id}`, or 'Analyze run' in the app), which rewrites {path}; "
        "or delete that file"
    )
    data = read_json_file(path, fix)
    problem = _check_insights_file(data, run.num_rows)
    if problem is not None:
        raise CorruptStorageError(f"{path} is damaged or was edited: {problem}; fix: {fix}", path=path)
    return dict(data)


def load_statuses(run: Run) -> list[DetectorStatus] | None:
    """Which detectors the last :func:`analyze` ran and which it skipped (None if never analyzed; an empty
    list for a run analyzed before statuses were stored). Raises CorruptStorageError (see
    :func:`read_insights_file`)."""
    stored = read_insights_file(run)
    if stored is None:
        return None
    return [
        DetectorStatus(d["type"], d["status"], d.get("reason"), int(d.get("found", 0)))
        for d in stored.get("detectors", [])
    ]


def load_insights(run: Run) -> list[Insight]:
    """The insights stored by the last :func:`analyze` (empty if never analyzed). Raises CorruptStorageError
    (see :func:`read_insights_file`)."""
    stored = read_insights_file(run)
    if stored is None:
        return []
    return [Insight.from_dict(d) for d in stored["insights"]]
