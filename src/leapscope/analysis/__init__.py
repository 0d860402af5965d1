"""Pure analysis algorithms: arrays and tables in, results out (no run folder, no catalog).

Where each concept lives:

- :mod:`.projections`: 2-D (or k-D) projections of latent vectors (PCA, UMAP, t-SNE).
- :mod:`.clustering`: k-means on normalised, PCA-reduced latents.
- :mod:`.neighbours`: cosine nearest neighbours, kNN label disagreement, k-center greedy.
- :mod:`.stats`: Mann-Whitney tests with effect sizes, Benjamini-Hochberg, size factor.
- :mod:`.slicing`: categorical metadata columns and candidate metadata slices.
- :mod:`.insights`: the insight detectors (a :class:`~leapscope.analysis.insights.Detector`
  registry, one module per family) and the plain-language explanation of a group.
- :mod:`.attribution`: explanation heatmaps of a model's predictions.

The run-level services over these (``analyze(run)``, ``projection(run)``, threshold tests,
dashboards, sample context) live in :mod:`leapscope.runs`, the layer above.
"""

from __future__ import annotations

from leapscope.analysis.clustering import latent_clusters
from leapscope.analysis.insights import INSIGHT_TYPES, AnalysisInput, Insight, explain_group
from leapscope.analysis.projections import project

__all__ = ["INSIGHT_TYPES", "AnalysisInput", "Insight", "explain_group", "latent_clusters", "project"]
