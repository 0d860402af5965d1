"""Analyze a stored run: assemble the detectors' input, run the registered detectors, store the insights.

Results are written under the run folder (``insights.json``) atomically, and into the
catalog's ``insights`` table.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leapscope.analysis.clustering import latent_clusters
from leapscope.analysis.insights import AnalysisInput, DetectOptions, Detector, Insight, detectors
from leapscope.analysis.projections import latent_note
from leapscope.runs.dismissals import dismissed_pairs
from leapscope.runs.inputs import analysis_input
from leapscope.store import Run, Workspace, write_json
from leapscope.store._schema import INSIGHTS_FILE

__all__ = [
    "INSIGHTS_FILE",
    "AnalyzeConfig",
    "DetectorStatus",
    "analyze",
    "load_insights",
    "load_statuses",
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


def load_statuses(run: Run) -> list[DetectorStatus] | None:
    """Which detectors the last :func:`analyze` ran and which it skipped (None if never analyzed; an empty
    list for a run analyzed before statuses were stored)."""
    path = run.dir / INSIGHTS_FILE
    if not path.exists():
        return None
    stored = json.loads(path.read_text()).get("detectors", [])
    return [DetectorStatus(d["type"], d["status"], d.get("reason"), int(d.get("found", 0))) for d in stored]


def load_insights(run: Run) -> list[Insight]:
    """The insights stored by the last :func:`analyze` (empty if never analyzed)."""
    path = run.dir / INSIGHTS_FILE
    if not path.exists():
        return []
    return [Insight.from_dict(d) for d in json.loads(path.read_text())["insights"]]
