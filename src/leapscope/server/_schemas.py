"""The HTTP contract: request and response models of every /api/v1 route.

Every JSON answer is an envelope: :class:`Data` (``{"data": ...}``) or, for pages,
:class:`Page` (``{"data": [...], "total": int, "next_offset": int | null}``); errors are :class:`Problem`
(``{"title", "detail", "status"}``, status chosen by the error's class in ``server/_app.py``).

Two kinds of models:

- models of what the server builds itself (runs, jobs, projections) are validated on the way
  out, like any FastAPI ``response_model``;
- shapes read back from run files that may come from older, newer or partly written runs
  (the manifest, stored insights, sample rows) are *documented* only (:func:`documented`):
  the schema (and so the generated TypeScript types) names their fields, all optional, while
  the value is passed through unchanged, so an odd file never turns a 200 into a 500.

The envelopes, :class:`Problem` and :func:`documented` live in ``server/_envelope.py`` (re-exported here).
``web/openapi.json`` and ``web/src/generated/api.d.ts`` are generated from these models
(``python -m leapscope.server._openapi``; see that module).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from leapscope.runs.tests import MAX_NAME_LENGTH
from leapscope.server._envelope import (
    PROBLEM_RESPONSES,
    Cell,
    Data,
    Loose,
    Page,
    Problem,
    Record,
    add_documented_schemas,
    documented,
)
from leapscope.store import MAX_FILTER_LENGTH

__all__ = [
    "PROBLEM_RESPONSES",
    "AggregateEnvelope",
    "AggregateRow",
    "CachedProjection",
    "ChartPayload",
    "Column",
    "Confusion",
    "CreateTestRequestBody",
    "Data",
    "DismissRequestBody",
    "Dismissal",
    "ExplainMethod",
    "ExplainTarget",
    "Health",
    "Insight",
    "InsightSample",
    "InsightsEnvelope",
    "JobBody",
    "Layer",
    "Layers",
    "Manifest",
    "Page",
    "PairEnd",
    "PointsEnvelope",
    "Problem",
    "ProjectBody",
    "Projection",
    "ProjectionPending",
    "RunBody",
    "RunDetail",
    "SampleBody",
    "SamplesPage",
    "SamplesQuery",
    "SavedTest",
    "SimilarEnvelope",
    "SimilarSample",
    "StoredTestResult",
    "TensorSpec",
    "TestResultBody",
    "ThresholdTestBody",
    "UndismissRequestBody",
    "Undismissed",
    "VersionBody",
    "Visualizer",
    "add_documented_schemas",
    "documented",
]

# ---------------------------------------------------------------------------------------- runs and projects


class RunCounts(Loose):
    samples: int | None = None
    failed: int | None = None


_Summary = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
        }
    ),
]


class RunBody(BaseModel):
    """A run as listed: ``summary`` is subset -> column -> mean (null where not finite)."""

    id: str
    project: str
    version: str
    status: str
    created_at: float
    seconds: float | None
    counts: documented(RunCounts) | None  # type: ignore[valid-type]
    summary: _Summary | None
    error: str | None


class TensorSpec(Loose):
    """A model input/output; ``shape`` is batched, null where the model does not declare it, a null dim is dynamic."""

    name: str | None = None
    shape: list[int | None] | None = None
    dtype: str | None = None
    layout: str | None = None


class WiringEdge(Loose):
    target: str
    kind: str
    argument: str
    source: str


class LatentSpace(Loose):
    layer: str


class PredictionSpec(Loose):
    """A model output; ``kind`` is ``class``, ``multilabel``, ``dense``, ``boxes`` or ``regression``
    (absent in runs written before kinds existed: see ``RunDetail.prediction_kinds``)."""

    name: str
    labels: list[str] | None = None
    kind: str | None = None


class SubsetCount(Loose):
    count: int


class ModelSpec(Loose):
    framework: str | None = None
    inputs: list[TensorSpec] | None = None
    outputs: list[TensorSpec] | None = None
    source: str | None = None


class IntegrationPart(Loose):
    kind: str
    name: str
    function: str


class IntegrationSpec(Loose):
    parts: list[IntegrationPart] | None = None


class Manifest(Loose):
    """``manifest.json`` of a run; every field optional (older, newer or partly written runs must render)."""

    wiring: list[WiringEdge] | None = None
    latent_spaces: dict[str, LatentSpace] | None = None
    predictions: list[PredictionSpec] | None = None
    subsets: dict[str, SubsetCount] | None = None
    model: ModelSpec | None = None
    integration: IntegrationSpec | None = None


class Column(BaseModel):
    name: str
    type: str = Field(description="the Arrow type, e.g. 'double', 'string', 'list<item: float>'")


class CachedProjection(BaseModel):
    """A 2-D projection already computed and cached for a latent space (the map opens on it at once)."""

    space: str
    method: str = Field(description="pca, umap or tsne")


class RunDetail(RunBody):
    """A run with its manifest; a complete run also has its columns, metadata columns, stored explanations and ``analyzed``."""

    manifest: documented(Manifest) | None = None  # type: ignore[valid-type]
    columns: list[Column] | None = None
    metadata_columns: list[str] | None = None
    explanations: list[str] | None = None
    analyzed: bool | None = None
    prediction_kinds: dict[str, str | None] | None = Field(
        default=None,
        description="prediction name -> its kind (class, multilabel, dense, boxes, regression); for runs "
        "written before kinds existed, class when the prediction has labels, else null (unknown)",
    )
    projections: list[CachedProjection] | None = Field(
        default=None,
        description="the projections cached for each stored latent space (default space first; pca, umap, tsne order)",
    )


class VersionBody(BaseModel):
    name: str
    model_hash: str
    code_hash: str
    runs: list[RunBody]


class ProjectBody(BaseModel):
    name: str
    versions: list[VersionBody]


class ThresholdTestBody(BaseModel):
    metric: str
    filter: str | None
    min: float | None
    max: float | None
    name: str


class TestResultBody(BaseModel):
    """A saved test run on one run now."""

    __test__ = False  # not a pytest class

    test: ThresholdTestBody
    passed: bool
    value: float | None
    n: int
    detail: str


class StoredTestResult(BaseModel):
    """A result stored in the catalog (``passed`` is 0 or 1)."""

    run_id: str
    test_id: int
    passed: int
    value: float | None
    detail: str | None


class SavedTest(BaseModel):
    """A saved threshold test of a project with its stored results."""

    id: int
    metric: str
    filter: str | None
    min: float | None
    max: float | None
    name: str
    results: list[StoredTestResult]


class CreateTestRequestBody(BaseModel):
    """A threshold test: mean ``metric`` over the samples matching ``filter`` stays >= ``min`` / <= ``max``.

    Lengths and bounds are checked by the endpoint (422 with a short reason, never an echo of
    the value): ``name`` / ``metric`` at most 200 characters, ``filter`` at most 2000,
    ``min`` / ``max`` finite.
    """

    name: str = Field(description=f"at most {MAX_NAME_LENGTH} characters")
    metric: str = Field(description="a metric_* or loss_* column")
    filter: str | None = Field(
        default=None,
        description='column op literal [and ...], e.g. digit_label == "8" and loss_cross_entropy > 0.5'
        f" (at most {MAX_FILTER_LENGTH} characters)",
    )
    min: float | None = None
    max: float | None = None


class AggregateRow(Loose):
    """One group: the ``by`` columns (any name), ``value`` and ``n``; ``run`` and ``version`` too when comparing runs."""

    value: float | None = None
    n: int | None = None
    subset: str | None = None
    run: str | None = None
    version: str | None = None


class AggregateEnvelope(BaseModel):
    """One row per group."""

    data: list[documented(AggregateRow)]  # type: ignore[valid-type]


# ---------------------------------------------------------------------------------------- samples


class SamplesQuery(BaseModel):
    """The query of ``GET /runs/{run_id}/samples``: filters (all combined with AND), order and page."""

    subset: str | None = None
    where: list[str] = Field(default=[], description='`column op literal [and ...]` filters, e.g. `digit_label == "8"`')
    insight: int | None = Field(default=None, description="only the samples of this stored insight (its index)")
    cluster: int | None = Field(default=None, description="only the samples of this cluster")
    rows: str | None = Field(default=None, description="only these rows: comma-separated row numbers")
    sort: str | None = Field(default=None, description="a column; `-column` sorts descending")
    offset: int = Field(default=0, ge=0, le=2**62)
    limit: int = Field(default=50, ge=1, le=500)


class SamplesPage(Page[Record]):
    """A page of samples (scalar columns only)."""


class Visualizer(BaseModel):
    name: str
    type: str


class SampleBody(BaseModel):
    row: Record
    visualizers: list[Visualizer]
    methods: list[str]


class ChartPayload(Loose):
    """A visual that is not a picture: ``type`` says which fields are set."""

    type: str
    labels: list[str] | None = None
    body: list[float] | None = None
    gt: list[float] | None = None
    data: list[float] | None = None
    tokens: list[str] | None = None
    heatmap: list[float | None] | None = None


class SimilarSample(Loose):
    subset: str
    sample_id: str
    distance: float | None = None


class SimilarEnvelope(Data[list[documented(SimilarSample)]]):  # type: ignore[misc]
    """The nearest samples; ``note`` says why the list is empty when it is."""

    note: str | None = None


class PointsEnvelope(BaseModel):
    """Columnar per-point fields for the map."""

    data: dict[str, list[Cell]] = Field(
        description="column -> one value per row (row order); plus `correct` and `cluster` when known"
    )


# ---------------------------------------------------------------------------------------- analysis


class JobBody(BaseModel):
    id: str
    kind: str
    run_id: str
    status: Literal["running", "complete", "failed"]
    error: str | None
    seconds: float


class Projection(BaseModel):
    status: Literal["ready"]
    method: str
    space: str
    x: list[float | None]
    y: list[float | None]


class ProjectionPending(BaseModel):
    status: Literal["running", "complete", "failed"]
    job: JobBody


class InsightSample(BaseModel):
    subset: str
    sample_id: str


class SuggestedTest(Loose):
    metric: str
    filter: str | None = None
    min: float | None = None
    max: float | None = None
    current: float | None = None


class Insight(Loose):
    """A stored insight (``insights.json``) with its position and its first 60 samples."""

    index: int
    type: str | None = None
    severity: float | None = None
    subset: str | None = None
    rows: list[int] | None = None
    sample_ids: list[str] | None = None
    statistics: dict[str, Any] | None = None
    explanation: str | None = None
    title: str | None = None
    suggested_test: SuggestedTest | None = None
    samples: list[InsightSample] | None = None
    confidence: float | None = Field(
        default=None,
        description="how sure the finding is real, in [0, 1] (1 - p of the detector's test, or a calibrated "
        "mean probability); null for types without a rule and insights stored before confidences existed",
    )


class InsightsEnvelope(Data[list[documented(Insight)]]):  # type: ignore[misc]
    analyzed: bool


class Confusion(BaseModel):
    labels: Annotated[
        list[Any], WithJsonSchema({"type": "array", "items": {"type": "string"}})
    ]  # from the manifest: passed through
    matrix: list[list[int]]
    #: why there is no matrix (the run has no class prediction with a ground-truth label); None when there is one
    reason: str | None = None


# ---------------------------------------------------------------------------------------- explain


class Layer(BaseModel):
    """One layer of the run's model; ``name`` is canonical (accepted by ``layer=`` and ``--latent``)."""

    name: str
    type: str
    output_shape: list[int | None] | None = Field(description="batched; null where unknown")
    spatial: bool = Field(description="a 4-D feature map: Grad-CAM / LayerCAM can use it")
    hidden: bool
    default_latent: bool = Field(description="the layer whose pooled activations are the default latent space")


class Layers(BaseModel):
    """The run's model layers for a layer picker."""

    framework: str
    default_latent: str | None
    default_cam_layer: str | None = Field(description="null when the model has no spatial layer (no Grad-CAM)")
    layers: list[Layer]


class ExplainTarget(BaseModel):
    """Something one sample can be explained for: pass ``target`` / ``region`` to the explanation."""

    target: str | None
    region: str | None
    kind: str = Field(description="class, label (multi-label), value (regression), channel, region, element or loss")
    label: str = Field(description="what it explains, in words")
    default: bool


class ExplainMethod(BaseModel):
    """An attribution method and whether it applies to the run's model (``reason``: why not)."""

    method: str
    applies: bool
    reason: str | None


# ---------------------------------------------------------------------------------------- dismissals


class PairEnd(BaseModel):
    """One sample of a pair: ``subset`` + ``sample_id``, or ``input_hash`` (follows the input across re-splits)."""

    subset: str | None = Field(default=None, max_length=200)
    sample_id: str | None = Field(default=None, max_length=1000)
    input_hash: str | None = Field(default=None, max_length=200)


class DismissRequestBody(BaseModel):
    """A pair the duplicates / leakage detectors should never report again ("not a duplicate")."""

    a: PairEnd
    b: PairEnd
    reason: str | None = Field(default=None, max_length=1000)


class UndismissRequestBody(BaseModel):
    """The pair whose dismissal to forget (either order)."""

    a: PairEnd
    b: PairEnd


class Dismissal(BaseModel):
    """A stored "not a duplicate" dismissal of a project; ``kind`` says how its ends are named."""

    id: int
    project: str
    kind: Literal["samples", "hashes"]
    a: dict[str, str]
    b: dict[str, str]
    reason: str | None
    created_at: float


class Undismissed(BaseModel):
    """Whether there was such a dismissal to forget."""

    removed: bool


class Health(BaseModel):
    version: str
    workspace: str
    analysis_worker_warm: bool
