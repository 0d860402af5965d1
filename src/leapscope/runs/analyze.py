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
from leapscope.analysis.insights import DetectOptions, Insight, detectors
from leapscope.runs.inputs import analysis_input
from leapscope.store import Run, Workspace, write_json
from leapscope.store._schema import INSIGHTS_FILE

__all__ = ["INSIGHTS_FILE", "AnalyzeConfig", "analyze", "load_insights"]


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
        The smallest group reported (``domain_gap`` uses twice this).
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
    clusters = latent_clusters(data.latent, seed=config.seed) if data.has_latent else np.full(data.n, -1)
    detect = DetectOptions(clusters=clusters, seed=config.seed, min_samples=config.min_samples)
    found: list[Insight] = []
    timings: dict[str, float] = {}
    for detector in chosen:
        start = time.perf_counter()
        if detector.applies(data):
            found += detector.detect(data, detect)
        timings[detector.name] = round(time.perf_counter() - start, 3)
    found.sort(key=lambda i: -i.severity)
    write_json(
        run.dir / INSIGHTS_FILE,
        {
            "run_id": run.id,
            "seed": config.seed,
            "timings": timings,
            "clusters": clusters.tolist(),
            "insights": [i.to_dict() for i in found],
        },
    )
    (workspace or Workspace(run.dir.parents[1])).catalog.save_insights(run.id, [i.to_dict() for i in found])
    return found


def load_insights(run: Run) -> list[Insight]:
    """The insights stored by the last :func:`analyze` (empty if never analyzed)."""
    path = run.dir / INSIGHTS_FILE
    if not path.exists():
        return []
    return [Insight.from_dict(d) for d in json.loads(path.read_text())["insights"]]
