"""Which columns of a run's samples.parquet are what: metadata, class labels, metric directions.

Column names and prefixes come from the run format (:mod:`leapscope.store._schema`); metric
directions and class names from the typed manifest (:class:`leapscope.store.Manifest`).
"""

from __future__ import annotations

from leapscope.sdk._parts import class_names
from leapscope.store import Run
from leapscope.store._schema import LABEL_SUFFIX
from leapscope.store._schema import metadata_columns as _metadata_columns

__all__ = ["class_labels", "first_label_column", "metadata_columns", "metric_direction", "prediction_kinds"]


def metadata_columns(run: Run) -> list[str]:
    """Names of the run's metadata columns (every column but reserved, ``gt_``, ``pred_``, ``loss_``, ``metric_`` ones)."""
    return _metadata_columns(run.samples.column_names)


def first_label_column(run: Run, prefix: str) -> str | None:
    """The first string column ``<prefix>..._label`` (``gt_label_label``, ``pred_classes_label``), or None."""
    import pyarrow as pa

    for field in run.samples.schema:
        if field.name.startswith(prefix) and field.name.endswith(LABEL_SUFFIX) and pa.types.is_string(field.type):
            return str(field.name)
    return None


def metric_direction(run: Run, column: str) -> str:
    """``"higher"`` or ``"lower"``: which way the metric of a ``metric_*`` column is better (default higher)."""
    return run.typed_manifest.metric_direction(column)


def class_labels(run: Run) -> tuple[str, list[str]] | None:
    """(prediction name, class names) of the run's first prediction of kind ``class`` with labels, or None.

    A dense map's or a multi-label output's labels are no classes: they have no arg-max label, no
    confusion matrix and no class insights (old runs without kinds: any labeled prediction).
    """
    labeled = run.typed_manifest.class_predictions
    return (labeled[0].name, class_names(list(labeled[0].labels or []))) if labeled else None


def prediction_kinds(run: Run) -> dict[str, str | None]:
    """Prediction name -> its kind (``class``, ``multilabel``, ``dense``, ``boxes``, ``regression``; None:
    unknown, an old run's unlabeled output)."""
    return {p.name: p.resolved_kind for p in run.typed_manifest.predictions}
